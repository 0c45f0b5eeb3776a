"""The manager on the real devnet with ``swap_router`` = SwapRouter02 (what ``posman init`` writes on real chains):
the router kind is detected at start-up, the managed deleverage's swaps go to SwapRouter02 as
``multicall(deadline, [exactInput])`` and land; a ``router_kind`` that disagrees with the chain, or a router that is
neither kind, stops the start with one line naming the file, line and key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from manager.config import load_config
from manager.demo.scenario import environ_for, move_eth, onchain_health
from manager.errors import ConfigError
from manager.protocols.uniswap_v3.router import MULTICALL_DEADLINE
from manager.runtime.lifecycle import build_manager
from tests.e2e.helpers import CDP, ROOT, demo_config

pytestmark = pytest.mark.chain


def _config(net, tmp_path, router: str, router_kind: str | None = None):
    path = demo_config(net, tmp_path)
    line = f'swap_router = "{net.book["uniswap"]["router"]}"'
    text = path.read_text()
    assert line in text
    new = f'swap_router = "{router}"' + (f'\nrouter_kind = "{router_kind}"' if router_kind else "")
    path.write_text(text.replace(line, new))
    return path


def test_managed_deleverage_swaps_through_swap_router02_detected_at_start(net, tmp_path):
    router02 = net.book["uniswap"]["router02"]
    path = _config(net, tmp_path, router02)
    account = net.address(CDP.account_name)
    move_eth(net, 2500)  # cdp HF ~1.34 < trigger 1.35
    assert onchain_health(net, account) < 1.35
    manager = build_manager(load_config(path), environ=environ_for(net, (CDP,)))
    try:
        assert manager.runtime.positions["cdp"].plan_context.router_kind == "swap_router02"
        report = manager.runtime.tick()
        assert report.ok and report.positions["cdp"].status == "submitted", report.positions["cdp"]
        assert manager.runtime.track_pending() == 1  # tracking beside the tick settles the plan
    finally:
        manager.close()
    (plan,) = manager.repo.actions_for("cdp")
    assert plan.status == "confirmed", plan
    swaps = [net.w3.eth.get_transaction(t.tx_hash) for t in manager.repo.transactions_for(plan.plan_id)]
    swaps = [tx for tx in swaps if tx["to"] == router02]
    assert swaps and all("0x" + bytes(tx["input"])[:4].hex() == MULTICALL_DEADLINE for tx in swaps)
    assert all(net.w3.eth.get_transaction_receipt(tx["hash"])["status"] == 1 for tx in swaps)
    assert onchain_health(net, account) > 1.35


def test_a_router_kind_that_disagrees_or_a_router_that_is_neither_stops_the_start(net, tmp_path):
    env = environ_for(net, (CDP,))
    wrong = _config(net, tmp_path, net.book["uniswap"]["router02"], "swap_router")
    with pytest.raises(ConfigError) as err:
        build_manager(load_config(wrong), environ=env)
    text = str(err.value)
    line = next(i for i, ln in enumerate(wrong.read_text().splitlines(), 1) if ln.startswith("router_kind"))
    assert text.startswith(f"{wrong}:{line}: protocols[") and ".router_kind:" in text and "\n" not in text
    assert 'router_kind = "swap_router" but swap_router' in text and "is a swap_router02" in text
    eoa = _config(net, tmp_path, net.address("alice"))
    with pytest.raises(ConfigError) as err:
        build_manager(load_config(eoa), environ=env)
    # (the start's contract checks find it first: no code, either kind named as what is allowed)
    assert ".swap_router:" in str(err.value) and "is not a contract" in str(err.value)
    assert "expected a Uniswap V3 SwapRouter or SwapRouter02" in str(err.value) and "\n" not in str(err.value)
    quoter = _config(net, tmp_path, net.book["uniswap"]["quoter"])  # another contract: posman run says so, once
    out = subprocess.run([sys.executable, "-m", "manager", "run", "--config", str(quoter), "--once"],
                         capture_output=True, text=True, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                         timeout=120)
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]  # (after the db_ready log line)
    assert out.returncode != 0 and len(errors) == 1 and "Traceback" not in out.stderr, out.stderr
    assert errors[0].startswith(f"error: {quoter}:") and "is neither a SwapRouter nor a SwapRouter02" in errors[0]
    assert out.stderr.strip().splitlines()[-1] == errors[0]
