"""Fixtures for the dashboard / metrics tests: one devnet stamped with the wall clock for this folder,
configs as a user writes them (every seeded devnet position, plus the demo's managed ``cdp``), and a
``posman run --http`` process whose dashboard URL is read from its output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from manager.config import load_config
from manager.demo.scenario import POSITIONS, environ_for, open_position, write_config
from manager.devnet.cli import render_config
from manager.devnet.net import Devnet
from manager.runtime.lifecycle import build_manager
from manager.web import start_web

CDP = next(p for p in POSITIONS if p.name == "cdp")
PERP = next(p for p in POSITIONS if p.name == "perp")  # the seeded perp long of spare1
URL_LINE = re.compile(r"dashboard at (http://\S+/) ")


@pytest.fixture(scope="package")
def web_live():
    with Devnet.start(time_mode="now") as net:
        yield net


@pytest.fixture()
def web_net(web_live):
    with web_live.reverted():
        yield web_live


def seeded_config(net: Devnet, folder: Path) -> Path:
    """``devnet.toml`` as ``posman devnet up`` writes it: every seeded position, watch-only."""
    path = folder / "devnet.toml"
    path.write_text(render_config(net.info(), folder))
    return path


PERP_WATCHED = 'name = "perp_spare1_eth"\nprotocol = "perps-eth"\naccount = "{account}"\nmode = "watch"\nstrategy = "alert_only"\n'
PERP_MANAGED = ('name = "perp_spare1_eth"\nprotocol = "perps-eth"\naccount = "{account}"\nmode = "manage"\n'
                'strategy = "perp_margin"\nsigner = "spare1"\n\n[positions.params]\n' +
                "".join(f"{k} = {json.dumps(v)}\n" for k, v in PERP.params.items()))


def managed_config(net: Devnet, folder: Path) -> tuple[Path, dict[str, str]]:
    """Every seeded position, with the demo's managed ``cdp`` (opened now, on its own account) added and
    the seeded perp long ``perp_spare1_eth`` managed by ``perp_margin`` (the demo's ``perp`` params); and
    the environment holding the two signers' keys (the devnet's well-known test keys)."""
    open_position(net, CDP)
    path = folder / "posman.toml"
    write_config(path, net, webhook_url=None, smtp_port=None, db_url=f"sqlite:///{folder / 'posman.sqlite'}",
                 positions=(CDP, PERP))
    text = path.read_text()
    text = text[:text.index('[[positions]]\nname = "perp"')]  # the signers and cdp stay; the demo's perp entry goes
    seeded = render_config(net.info(), folder).split("[[positions]]", 1)[1]
    account = re.search(r'name = "perp_spare1_eth"\nprotocol = "perps-eth"\naccount = "(0x[0-9a-fA-F]{40})"', seeded)
    assert account is not None, "the seeded config has no perp_spare1_eth"
    watched = PERP_WATCHED.format(account=account.group(1))
    assert watched in seeded
    seeded = seeded.replace(watched, PERP_MANAGED.format(account=account.group(1)))
    path.write_text(text + "\n[[positions]]" + seeded)
    return path, environ_for(net, (CDP, PERP))


@pytest.fixture()
def served(web_net, tmp_path):
    """A manager built in-process on ``managed_config`` with its view served on a free loopback port."""
    path, env = managed_config(web_net, tmp_path)
    cfg = load_config(path)
    manager = build_manager(cfg, environ=env)
    web = start_web(manager, "127.0.0.1:0", poll_s=3600)  # the test drives the poller itself
    try:
        yield web_net, cfg, manager, web
    finally:
        web.close()
        manager.close()


def get_json(url: str, *, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def get_text(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def wait_until(fn, *, timeout_s: float = 60, interval_s: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


@contextmanager
def running_manager(config: Path, env: dict[str, str] | None = None, *extra: str) -> Iterator[str]:
    """``posman run --config CONFIG --http 127.0.0.1:0``: yields the dashboard URL; SIGTERM at the end."""
    log = (config.parent / "run.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "manager", "run", "--config", str(config), "--http", "127.0.0.1:0",
                             *extra], stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, **(env or {})})
    try:
        url = None
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = URL_LINE.search(line)
            url = m.group(1) if m else None
        if url is None:
            proc.kill()
            raise AssertionError(f"posman run printed no dashboard URL: {(config.parent / 'run.log').read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
