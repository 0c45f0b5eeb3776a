"""`posman history` as a user runs it: after one real tick on the devnet it prints the health series and
the actions; it is read-only (no database file appears before the first `posman run`); bad input is one line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli_helpers import one_line_error, posman


def _config(live, tmp_path: Path) -> Path:
    """The devnet config in its own folder: its relative ``sqlite:///posman.sqlite`` lands in ``tmp_path``."""
    _net, d, _info = live
    path = tmp_path / "devnet.toml"
    path.write_text((d / "devnet.toml").read_text())
    return path


def test_history_before_any_run_is_one_line_and_creates_nothing(live, tmp_path):
    cfg = _config(live, tmp_path)
    proc = posman("history", "alice", "--config", str(cfg))
    db = tmp_path / "posman.sqlite"
    assert one_line_error(proc) == f"error: no history yet: {db} does not exist; run 'posman run' first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devnet.toml"]  # no database file as a side effect


def test_history_after_one_tick(live, tmp_path):
    net, _d, _info = live
    cfg = _config(live, tmp_path)
    run = posman("run", "--config", str(cfg), "--once")
    assert run.returncode == 0, run.stderr
    db = tmp_path / "posman.sqlite"
    with sqlite3.connect(db) as conn:
        block, hf_recorded = conn.execute(
            "SELECT block_number, health_factor FROM snapshots WHERE position = 'carol'").fetchone()
        plans = conn.execute("SELECT COUNT(*) FROM plans").fetchone()[0]
    before = db.stat().st_mtime_ns

    proc = posman("history", "carol", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "carol: 1 snapshot(s), 0 action(s)" and plans == 0  # watch-only: nothing acted
    assert lines[1].split() == ["block", "health", "collateral", "$", "debt", "$", "action"]
    row = lines[2].split()
    assert int(row[0]) == block and float(row[1]) == round(hf_recorded, 4) and 1.0 < hf_recorded < 1.25

    data = json.loads(posman("history", "carol", "--config", str(cfg), "--json").stdout)
    assert [s["block"] for s in data["snapshots"]] == [block] and data["actions"] == []
    assert data["snapshots"][0]["health_factor"] == round(hf_recorded, 6)
    assert data["snapshots"][0]["debt_usd"] > 0 and data["snapshots"][0]["collateral_usd"] > 0
    assert db.stat().st_mtime_ns == before  # read-only: the file was not written

    # a second tick at a new block adds one point to the series, oldest first
    net.mine(1)
    assert posman("run", "--config", str(cfg), "--once").returncode == 0
    data = json.loads(posman("history", "carol", "--config", str(cfg), "--json", "--limit", "5").stdout)
    blocks = [s["block"] for s in data["snapshots"]]
    assert len(blocks) == 2 and blocks[0] == block and blocks[1] > block


def test_history_shows_actions(live, tmp_path):
    """Actions recorded in the database are listed with their block, status and reason."""
    from manager.persistence import Database, Repository

    cfg = _config(live, tmp_path)
    assert posman("run", "--config", str(cfg), "--once").returncode == 0
    db = tmp_path / "posman.sqlite"
    with sqlite3.connect(db) as conn:
        (block,) = conn.execute("SELECT block_number FROM snapshots WHERE position = 'carol'").fetchone()
    repo = Repository(Database(f"sqlite:///{db}"))
    _record_refused_plan(repo, "carol", block)
    proc = posman("history", "carol", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "carol: 1 snapshot(s), 1 action(s)"
    assert lines[2].split()[0] == str(block) and lines[2].endswith("deleverage:refused")
    assert lines[-1] == f"  block {block} plan-test-1: refused: per-tx cap"


def _record_refused_plan(repo, position: str, block: int) -> None:
    repo.create_plan("plan-test-1", position=position, block_number=block, steps=[], action="deleverage")
    repo.update_plan_status("plan-test-1", "refused", refusal_reason="per-tx cap")


def test_history_bad_inputs(live, tmp_path):
    cfg = _config(live, tmp_path)
    err = one_line_error(posman("history", "carl", "--config", str(cfg)))
    assert err.startswith(f"error: no position named 'carl' in {cfg}")
    assert "did you mean 'carol'?" in err
    err = one_line_error(posman("history", "carol", "--config", str(cfg), "--limit", "0"))
    assert err == "error: --limit must be >= 1, got 0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devnet.toml"]


# --- `--block` of `posman status` and `posman plan`: validated before any read, one line -----------------
def test_status_and_plan_block_argument(live, tmp_path):
    net, _d, _info = live
    cfg = _config(live, tmp_path)
    head = net.w3.eth.block_number
    for command in ("status", "plan"):
        # regression: -5 reached the node as "-0x5" ("hex string without 0x prefix")
        assert one_line_error(posman(command, "--config", str(cfg), "--block", "-5")) == (
            "error: --block must be a block number >= 0, got -5")
        err = one_line_error(posman(command, "--config", str(cfg), "--block", str(head + 1000)))
        assert err.startswith(f"error: --block {head + 1000} is beyond the head of chain 'devnet' (latest block ")
        assert "error: argument --block" in posman(command, "--config", str(cfg), "--block", "x").stderr
    ok = posman("status", "--config", str(cfg), "--block", str(head), "--json")
    assert ok.returncode == 0, ok.stderr
    assert {r["block_number"] for r in json.loads(ok.stdout)} == {head}
    ok = posman("plan", "--config", str(cfg), "--block", str(head), "--json")
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devnet.toml"]
