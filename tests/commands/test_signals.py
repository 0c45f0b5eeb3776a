"""`posman run` stops gracefully on SIGTERM and SIGINT: a real process on the devnet (watch-only positions).

The test owns the devnet (chain time = now). The manager is started as a user starts it, runs until its
first tick is in the history database, gets the signal, and must exit 0 within a few seconds with a final
``event=manager_stopped`` log line, leaving no process of its own behind (no orphan anvil) and the test's
devnet untouched.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

STOP_TIMEOUT_S = 10.0


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _ticks(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(DISTINCT block_number) FROM snapshots").fetchone()[0])
    except sqlite3.Error:  # the schema is being created
        return 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_stops_gracefully_on_signal(live, tmp_path, signum):
    net, d, _info = live
    cfg = tmp_path / "devnet.toml"
    cfg.write_text((d / "devnet.toml").read_text() + "\n[runtime]\npoll_interval_s = 0.2\nheartbeat_s = 5\n")
    db = tmp_path / "posman.sqlite"
    out, err = (tmp_path / "stdout.txt").open("w"), (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "manager", "run", "--config", str(cfg)], stdout=out, stderr=err,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    descendants: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while _ticks(db) < 1:
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "no tick within 90 s:\n" + (tmp_path / "stderr.txt").read_text()
            descendants |= _children(proc.pid)
            time.sleep(0.1)
        descendants |= _children(proc.pid)
        proc.send_signal(signum)
        started = time.monotonic()
        code = proc.wait(timeout=STOP_TIMEOUT_S)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:  # only on failure: never leave the manager running
            proc.kill()
            proc.wait()
        out.close()
        err.close()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 0, stderr
    assert elapsed < STOP_TIMEOUT_S
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert f"event=stop_requested signal={signal.Signals(signum).name}" in stderr
    assert "event=manager_stopped" in lines[-1], lines[-3:]
    stopped_at = int(lines[-1].split("last_block=")[1].split()[0])
    assert stopped_at >= 1 and _ticks(db) >= 1
    assert "posman run: " in (tmp_path / "stdout.txt").read_text()
    # nothing the manager started outlives it (no orphan anvil); the test's devnet is untouched
    assert [pid for pid in descendants if _alive(pid)] == []
    assert net.node.process is not None and net.node.process.poll() is None
    assert net.w3.eth.block_number >= stopped_at
