"""`posman plan` is a tick without an executor (issue 13): on the real devnet, what `posman plan --json --block B`
prints for each managed position equals what `Runtime.tick(B)` of a manager built from the same config and
database then decides (same action, status, reason, plan id), for a position with a stale oracle, one in its
cooldown, a paused one, one inside its band, one whose earlier plan is in flight, a normal one that acts (atomic
path), and every position over the daily cap; and `posman plan` sends nothing (no block mined, every nonce unchanged). The plan contexts it builds
without any key equal the ones `posman run` wires at start-up."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from manager.config import load_config
from manager.execution.store import ExecutionStore
from manager.runtime.lifecycle import build_manager
from manager.runtime.preview import plan_contexts
from tests.cli_helpers import posman

# name -> (seeded account, [positions.params]); cdp_health on the v3.6 market ("aave")
POSITIONS: dict[str, tuple[str, str]] = {
    "normal": ("carol", "trigger_health = 1.25\ntarget_health = 1.5"),  # HF ~1.19: deleverages
    "stale": ("erin", "trigger_health = 2.2\ntarget_health = 2.5"),  # LINK collateral, its feed stale
    "cooldown": ("dave", "trigger_health = 1.25\ntarget_health = 1.35\ncooldown_s = 3600\nemergency_health = 1.05"),
    "paused": ("bob", "trigger_health = 1.6\ntarget_health = 1.8"),
    "in_band": ("frank", "trigger_health = 1.3\ntarget_health = 1.6"),
    "in_flight": ("gina", "trigger_health = 1.6\ntarget_health = 1.8"),  # HF ~1.44, a plan of it still open
}


def _config(d: Path, info: dict[str, Any], db: Path) -> Path:
    """devnet.toml with its positions replaced by ``POSITIONS`` (managed, one signer each), LINK's heartbeat
    1 s (its answer is older: stale), carol's executor contract (atomic path), the database ``db``."""
    text = (d / "devnet.toml").read_text()
    text = text[:text.index("[[positions]]")].replace('url = "sqlite:///posman.sqlite"', f'url = "sqlite:///{db}"')
    text = text.replace("twap_window_s = 0\n", "twap_window_s = 0\nheartbeats_s = { LINK = 1 }\n")
    executors = {owner.lower(): ex for owner, ex in (info.get("executors") or {}).items()}
    for name, (account, params) in POSITIONS.items():
        address = info["accounts"][account]["address"]
        text += (f'\n[[positions]]\nname = "{name}"\nprotocol = "aave"\naccount = "{address}"\nmode = "manage"\n'
                 f'strategy = "cdp_health"\nsigner = "{account}"\n[positions.params]\n{params}\n')
        executor = executors.get(address.lower()) if name == "normal" else None
        text += (f'\n[signers.{account}]\naddress = "{address}"\nkey_env = "POSMAN_KEY_{account.upper()}"\n'
                 + (f'executor = "{executor}"\n' if executor else ""))
    path = db.with_suffix(".toml")
    path.write_text(text)
    return path


def _environ(info: dict[str, Any]) -> dict[str, str]:
    return {f"POSMAN_KEY_{a.upper()}": info["accounts"][a]["private_key"] for a, _ in POSITIONS.values()}


def _plan_then_tick(net: Any, path: Path, info: dict[str, Any], manager: Any,
                    text: list[str] | None = None) -> tuple[list[dict[str, Any]], Any]:
    """`posman plan --json --block B` (checked to send nothing; its table into ``text``), then the manager's
    tick at B."""
    block = net.w3.eth.block_number
    accounts = [info["accounts"][a]["address"] for a, _ in POSITIONS.values()]
    nonces = [net.w3.eth.get_transaction_count(a) for a in accounts]
    proc = posman("plan", "--config", str(path), "--json", "--block", str(block))  # no key in its environment
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    if text is not None:
        table = posman("plan", "--config", str(path), "--block", str(block))
        assert table.returncode == 0, table.stderr
        text.extend(table.stdout.splitlines())
    assert net.w3.eth.block_number == block, "posman plan mined a block"
    assert [net.w3.eth.get_transaction_count(a) for a in accounts] == nonces, "posman plan sent a transaction"
    assert {r["block"] for r in rows} == {block}
    return rows, manager.runtime.tick(block)


def _same(row: dict[str, Any], outcome: Any) -> None:
    """The plan's row says what the tick did: same action, reason, plan (a tick's plan is then sent)."""
    sent = outcome.status in ("submitted", "confirmed")  # the send put the executor's answer in the reason
    status, reason = ("planned", outcome.decision.reason) if sent else (outcome.status, outcome.reason)
    assert (row["action"], row["status"], row["reason"]) == (outcome.action, status, reason), row
    assert row.get("plan_id") == outcome.plan_id
    assert row.get("path", "") == outcome.path
    decision = outcome.decision
    if decision is not None:
        assert row["projected_health"] == pytest.approx(decision.projected_health, abs=1e-6, nan_ok=True) \
            if decision.projected_health is not None else row["projected_health"] is None
        assert [s["amount_wei"] for s in row["steps"]] == [str(s.amount_wei) for s in decision.steps]


def test_plan_shows_what_the_tick_then_does_every_skip_included(live, tmp_path):
    net, d, info = live
    with net.reverted():
        path = _config(d, info, tmp_path / "run.sqlite")
        cfg = load_config(path)
        manager = build_manager(cfg, environ=_environ(info))
        try:
            head = net.w3.eth.get_block("latest")
            manager.repo.set_state("last_action:cooldown", {"block": head["number"] - 1,
                                                            "timestamp_s": float(head["timestamp"] - 10)})
            manager.repo.pause_position("paused", reason="checking")
            # a plan sent at the previous block, not settled yet (no transaction of it pending: nothing to track)
            manager.repo.create_plan("plan-in-flight-earlier", position="in_flight", block_number=head["number"] - 1,
                                     steps=[], action="deleverage")
            for status in ("simulated", "submitted"):
                manager.repo.update_plan_status("plan-in-flight-earlier", status)
            updated = int(net.feed("LINK").functions.latestRoundData().call()[3])
            time.sleep(max(0.0, updated + 2.5 - time.time()))  # LINK's answer is older than its 1 s heartbeat
            table: list[str] = []
            rows, report = _plan_then_tick(net, path, info, manager, table)
            # the plan contexts posman plan builds without keys are the ones the run wired at start-up
            wired = {n: p.plan_context for n, p in manager.runtime.positions.items() if p.plan_context is not None}
            assert plan_contexts(cfg, manager.runtime.reader.client) == wired and len(wired) == len(POSITIONS)
        finally:
            manager.close()
    by_name = {r["position"]: r for r in rows}
    assert set(by_name) == set(POSITIONS)
    for name, row in by_name.items():
        _same(row, report.positions[name])
    normal, stale, cooldown, paused, in_band, in_flight = (by_name[n] for n in POSITIONS)
    assert normal["action"] == "deleverage" and normal["status"] == "planned" and normal["plan"]["calls"]
    assert normal["plan"]["plan_id"] == report.positions["normal"].plan_id
    assert report.positions["normal"].status == "submitted"  # the tick sent what the plan showed
    if "executor" in path.read_text():
        assert normal["path"].startswith("path: atomic"), normal["path"]
    assert stale["action"] == "skip" and stale["status"] == "skipped" and "LINK" in stale["reason"]
    assert cooldown["action"] == "none" and cooldown["binding"] == "cooldown" and "cooldown" in cooldown["reason"]
    assert paused["action"] == "deleverage" and paused["status"] == "paused" and paused["skip"].startswith("paused")
    assert in_band["action"] == "none" and in_band["binding"] == "in_band"
    assert in_flight["action"] == "deleverage" and in_flight["status"] == "in_flight"
    assert in_flight["plan_id"] == "plan-in-flight-earlier" and "in flight" in in_flight["skip"]
    # the table says the same: status per position, why a decision is not acted on, the plan and its path
    assert "decided as the tick would; nothing is sent" in table[0]
    line = {n: next(x for x in table if x.startswith(n + " ")) for n in POSITIONS}
    assert "deleverage planned" in " ".join(line["normal"].split()) and "skip skipped" in " ".join(
        line["stale"].split())
    assert "not acted on: paused (posman resume paused lifts it)" in "\n".join(table)
    assert any(x.strip().startswith(f"plan {normal['plan']['plan_id']} (") and "path: atomic" in x for x in table)


def test_plan_and_tick_agree_over_the_daily_cap(live, tmp_path):
    net, d, info = live
    with net.reverted():
        path = _config(d, info, tmp_path / "capped.sqlite")
        cfg = load_config(path)
        manager = build_manager(cfg, environ=_environ(info))
        try:
            ExecutionStore(manager.repo).add_used_today_usd(cfg.limits.per_day_usd)  # today's cap is used up
            rows, report = _plan_then_tick(net, path, info, manager)
        finally:
            manager.close()
    by_name = {r["position"]: r for r in rows}
    for name, row in by_name.items():
        _same(row, report.positions[name])
    normal = by_name["normal"]
    assert normal.get("plan") is None and report.positions["normal"].status != "submitted"
    assert "daily" in (normal["reason"] + str(normal.get("binding"))).lower(), normal
