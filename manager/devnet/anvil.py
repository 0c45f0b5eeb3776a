"""Owned anvil subprocess on a loopback port: start, wait ready, stop cleanly (no orphans).

anvil comes from the pinned npm package ``@foundry-rs/anvil-linux-amd64`` (the binary ships inside).
The process is started in its own process group; ``stop()`` terminates the group and waits.
A free port is chosen when none is given; a taken port is reported or replaced, never silently
shared with another process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from manager.devnet.market import N_ACCOUNTS
from manager.errors import DevnetError, SetupError

ROOT = Path(__file__).resolve().parents[2]
ANVIL_BIN = ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
DEFAULT_CHAIN_ID = 31337
# anvil's well-known test mnemonic accounts are funded by default; we use them as devnet actors.
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_binary() -> Path:
    path = Path(os.environ.get("POSMAN_ANVIL", ANVIL_BIN))
    if not path.is_file():
        raise SetupError(
            f"anvil not found at {path}: the npm parts are missing; run 'make setup' (or 'npm ci') in {ROOT}"
        )
    return path


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def rpc(url: str, method: str, params: list | None = None, timeout_s: float = 10.0) -> object:
    """Minimal JSON-RPC call (no web3 import: keeps short CLI commands fast)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        data = json.loads(resp.read())
    if "error" in data:
        raise DevnetError(f"{method} failed on {url}: {data['error'].get('message', data['error'])}")
    return data["result"]


@dataclass
class Anvil:
    """A running anvil we own. Use as a context manager or call ``stop()``."""

    port: int
    host: str = "127.0.0.1"
    chain_id: int = DEFAULT_CHAIN_ID
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    # an owned node's private HOME: anvil writes the states it pages out of memory to
    # ``$HOME/.foundry/anvil/tmp`` and never deletes them (tens of GB over a test suite); removed by ``stop()``
    home_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def start(
        cls,
        port: int | None = None,
        *,
        chain_id: int = DEFAULT_CHAIN_ID,
        load_state: Path | None = None,
        log_path: Path | None = None,
        detach: bool = False,
        extra_args: list[str] | None = None,
        pick_other_port: bool = True,
        timeout_s: float = 20.0,
    ) -> Anvil:
        """Start anvil. ``detach=True`` leaves it running after this process exits (``devnet up``)."""
        binary = anvil_binary()
        if port is None:
            port = free_port()
        elif not port_is_free(port):
            if not pick_other_port:
                raise DevnetError(f"port {port} on 127.0.0.1 is taken; choose another with --port")
            port = free_port()
        args = [
            str(binary),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--chain-id", str(chain_id),
            "--accounts", str(N_ACCOUNTS),
            "--balance", "1000000",
            "--gas-limit", "60000000",
            "--code-size-limit", "50000",
            "--hardfork", "cancun",
            "--silent",
        ]
        if load_state is not None:
            args += ["--load-state", str(load_state)]
        args += extra_args or []
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        home = None if detach else Path(tempfile.mkdtemp(prefix="posman-anvil-home-"))
        env = None if home is None else {**os.environ, "HOME": str(home)}
        try:
            proc = subprocess.Popen(
                args,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: killable as a whole, survives detach
                # an owned (not detached) node dies with its parent, even on SIGKILL: no orphans
                preexec_fn=None if detach else _die_with_parent,
            )
        finally:
            if log_path:
                log.close()  # type: ignore[union-attr]
        node = cls(port=port, chain_id=chain_id, process=proc, log_path=log_path, extra_args=extra_args or [],
                   home_dir=home)
        node._wait_ready(timeout_s)
        if not detach:
            _register_cleanup(node)
        return node

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DevnetError(
                    f"anvil exited with code {self.process.returncode} while starting on port {self.port}"
                    + (f" (log: {self.log_path})" if self.log_path else "")
                )
            try:
                got = int(str(rpc(self.url, "eth_chainId", timeout_s=1.0)), 16)
                if got != self.chain_id:
                    raise DevnetError(f"node on {self.url} has chain id {got}, expected {self.chain_id}")
                return
            except DevnetError:
                raise
            except Exception as exc:  # not listening yet
                last = exc
                time.sleep(0.03)
        self.stop()
        raise DevnetError(f"anvil did not become ready on {self.url} within {timeout_s:.0f} s ({last})")

    def stop(self, timeout_s: float = 5.0) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout_s)
        if self.home_dir is not None:
            shutil.rmtree(self.home_dir, ignore_errors=True)
            self.home_dir = None

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- convenience RPCs --------------------------------------------------------------------
    def call(self, method: str, params: list | None = None) -> object:
        return rpc(self.url, method, params)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the parent process goes away."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the atexit cleanup below still applies
        pass


_OWNED: list[Anvil] = []


def _register_cleanup(node: Anvil) -> None:
    import atexit

    if not _OWNED:
        atexit.register(_stop_all)
    _OWNED.append(node)


def _stop_all() -> None:
    for node in _OWNED:
        with contextlib.suppress(Exception):
            node.stop()


def stop_pid(pid: int, timeout_s: float = 5.0) -> bool:
    """Stop a detached anvil by pid (its process group). Returns False if it was not running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # reap if it is our child (it is not, after detach; then kill(0) sees a zombie until init reaps)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True
