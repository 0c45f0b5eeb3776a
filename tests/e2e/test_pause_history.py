"""On the real devnet, through the manager a user runs: `posman pause` holds a managed position at the next
block of a running manager (still recorded and alerted), `posman resume` lets it act again, and then
`posman history` shows the action with its transactions (hash, status, gas, cost in USD), the health before
and after and the alerts of the episode; `posman alerts` lists those alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from manager.cli import main
from manager.config import load_config
from manager.demo.scenario import environ_for, move_eth, onchain_health
from manager.runtime.lifecycle import build_manager
from tests.e2e.helpers import CDP, ROOT, demo_config

pytestmark = pytest.mark.chain


def _posman(*args):
    """`posman ...` as a separate process (the user's other terminal, next to the running manager)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "manager", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def _cli(capsys, *args):
    """`posman ...` in this process (same code path as the console script, without an interpreter start)."""
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)


def test_pause_resume_then_history_and_alerts(net, tmp_path, capsys):
    path = demo_config(net, tmp_path)
    cfg = load_config(path)
    account = net.address(CDP.account_name)
    manager = build_manager(cfg, environ=environ_for(net, (CDP,)))  # the running manager
    try:
        out = _posman("pause", "cdp", "--config", str(path), "--reason", "checking the router")
        assert out.returncode == 0, out.stderr
        assert "cdp: paused" in out.stdout
        assert json.loads(_cli(capsys, "paused", "--config", str(path), "--json").stdout)["cdp"]["reason"] == \
            "checking the router"
        move_eth(net, 2400)  # cdp HF ~1.29: below its trigger 1.35 and the demo rules' warning 1.3
        hf_paused = onchain_health(net, account)
        nonce0 = net.w3.eth.get_transaction_count(account)
        report = manager.runtime.tick()
        assert report.positions["cdp"].status == "paused" and report.positions["cdp"].action == "deleverage"
        assert net.w3.eth.get_transaction_count(account) == nonce0  # nothing sent
        assert manager.repo.latest_snapshot("cdp").block_number == report.block_number  # still watched
        net.mine(1)  # the demo rules alert a band that held two ticks
        assert manager.runtime.tick().positions["cdp"].status == "paused"
        assert net.w3.eth.get_transaction_count(account) == nonce0
        assert [a.kind for a in manager.repo.alerts_for("cdp")] == ["health_warning"], "a paused position is alerted"

        assert "resumed" in _cli(capsys, "resume", "cdp", "--config", str(path)).stdout
        net.mine(1)
        report = manager.runtime.tick()
        assert report.positions["cdp"].status == "submitted", report.positions["cdp"]
        assert manager.runtime.track_pending() == 1  # tracking beside the tick settles the plan
        assert net.w3.eth.get_transaction_count(account) > nonce0
        net.mine(1)
        manager.runtime.tick()  # the snapshot after the action
    finally:
        manager.close()
    hf_after = onchain_health(net, account)
    assert hf_after > hf_paused

    hist = _cli(capsys, "history", "cdp", "--config", str(path), "--json")
    assert hist.returncode == 0, hist.stderr
    data = json.loads(hist.stdout)
    (action,) = [a for a in data["actions"] if a["status"] == "confirmed"]
    assert action["health_before"] == pytest.approx(hf_paused, rel=1e-3)
    assert action["health_after"] > action["health_before"]
    txs = action["transactions"]
    assert txs and all(t["status"] == "included" and t["gas_used"] > 0 for t in txs)
    for t in txs:  # cost = the receipt's gas used x effective gas price, priced at the block's WETH oracle
        receipt = net.w3.eth.get_transaction_receipt(t["hash"])
        assert t["gas_used"] == receipt["gasUsed"] and t["block"] == receipt["blockNumber"]
        native = receipt["gasUsed"] * receipt["effectiveGasPrice"] / 1e18
        assert t["cost_native"] == pytest.approx(native) and t["cost_usd"] == pytest.approx(native * 2400, rel=0.02)
    assert action["alerts"], "the alerts of the episode are attached to the action"
    assert {a["id"] for a in data["alerts"]} >= set(action["alerts"])

    plain = _cli(capsys, "history", "cdp", "--config", str(path)).stdout
    assert plain.splitlines()[0].startswith("cdp: ") and "actions:" in plain
    for t in txs:
        assert f"tx {t['hash']}  included  block {t['block']}  gas {t['gas_used']:,}  cost $" in plain
    assert "health " in plain and " -> " in plain and "alert " in plain

    alerts = json.loads(_cli(capsys, "alerts", "--config", str(path), "--json").stdout)
    assert alerts and {a["position"] for a in alerts} == {"cdp"}
    assert [a["first_seen_s"] for a in alerts] == sorted((a["first_seen_s"] for a in alerts), reverse=True)
    text = _cli(capsys, "alerts", "--config", str(path), "--position", "cdp", "--since", "1h").stdout
    assert text.splitlines()[0].startswith(f"{len(alerts)} alert episode(s) since ")
    assert all(a["kind"] in text for a in alerts)
    assert _cli(capsys, "alerts", "--config", str(path), "--since", "2h").returncode == 0
    bad = _cli(capsys, "alerts", "--config", str(path), "--since", "yesterday")
    assert bad.returncode != 0 and bad.stderr.startswith("error: --since 'yesterday'")
    assert _cli(capsys, "pause", "cpd", "--config", str(path)).stderr.strip().endswith("did you mean 'cdp'?")
