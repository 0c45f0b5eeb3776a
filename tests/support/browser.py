"""Headless Chromium (Debian's ``chromium`` package) driven over the DevTools protocol, for page tests.

No browser download and no driver: the system ``chromium`` is started with a fresh ``--user-data-dir``
and ``--remote-debugging-port=0``; the port it picked is read from ``DevToolsActivePort`` in that folder,
and the page target is driven through its WebSocket with the ``websockets`` client (already pinned, a
dependency of web3). ``Browser.find()`` returns the binary or ``None`` (tests then skip, saying so).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "/usr/lib/chromium/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page; ``with Browser(profile_dir) as b: b.goto(url)``."""

    def __init__(self, profile_dir: Path, *, width: int = 1400, height: int = 1000, binary: str | None = None) -> None:
        self.binary = binary or self.find()
        if self.binary is None:
            raise BrowserError("chromium is not installed (apt-get install chromium)")
        self.profile_dir = Path(profile_dir)
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        self.width, self.height = width, height
        self._ids = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: Any = None
        self._stack = contextlib.ExitStack()

    @staticmethod
    def find() -> str | None:
        for name in CANDIDATES:
            path = shutil.which(name)
            if path:
                return path
        return None

    def __enter__(self) -> Browser:
        log = (self.profile_dir / "chromium.log").open("wb")
        self._proc = subprocess.Popen(
            [self.binary, *FLAGS, f"--user-data-dir={self.profile_dir}", "--remote-debugging-port=0",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        port = self._devtools_port(timeout_s=30)
        deadline = time.monotonic() + 15
        ws_url = None
        while ws_url is None and time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = json.load(r)
            ws_url = next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)
            if ws_url is None:
                time.sleep(0.1)
        if ws_url is None:
            raise BrowserError("chromium opened no page target")
        from websockets.sync.client import connect

        self._ws = self._stack.enter_context(connect(ws_url, max_size=None, open_timeout=10))
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        return self

    def _devtools_port(self, *, timeout_s: float) -> int:
        marker = self.profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                tail = (self.profile_dir / "chromium.log").read_text(errors="replace")[-800:]
                raise BrowserError(f"chromium exited with {self._proc.returncode}: {tail}")
            if marker.exists():
                first = marker.read_text().splitlines()[:1]
                if first and first[0].isdigit():
                    return int(first[0])
            time.sleep(0.05)
        raise BrowserError(f"chromium wrote no {marker} within {timeout_s:g} s")

    def __exit__(self, *exc: Any) -> None:
        try:
            self._stack.close()
        finally:
            if self._proc is not None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=10)

    # --- the DevTools protocol ------------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout_s: float = 30) -> dict[str, Any]:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no answer within {timeout_s:g} s")
            msg = json.loads(self._ws.recv(timeout=left))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def goto(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def eval(self, expression: str) -> Any:
        """The value of a JS expression in the page (promises awaited)."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise BrowserError(f"JS error: {res['exceptionDetails'].get('text')} in {expression[:120]!r}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout_s: float = 30, interval_s: float = 0.2) -> Any:
        """Poll ``expression`` until it is truthy; its value. ``BrowserError`` on timeout."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.eval(expression)
            except BrowserError:
                last = None
            if last:
                return last
            time.sleep(interval_s)
        raise BrowserError(f"timed out after {timeout_s:g} s waiting for {expression[:160]!r} (last {last!r})")

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            height = int(self.eval("Math.ceil(document.documentElement.scrollHeight)") or self.height)
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1})
        data = self.call("Page.captureScreenshot", params)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path
