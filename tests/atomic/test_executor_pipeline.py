"""The atomic step through the project's own execution pipeline (``manager.execution.executor.Executor``): policy
(allow-list from ``allowed_calls`` + the router's ``exactInput`` for the legs, each leg's slippage), simulation,
fork replay with the post-state health band, signing with the signer's key, sending, tracking: one transaction."""

from __future__ import annotations

import pytest

from manager.atomic import encode as E
from manager.execution.types import Plan, Preconditions
from tests.atomic import helpers as H

pytestmark = [pytest.mark.chain]
WAD = 10**18
KEY_ENV = "POSMAN_TEST_ATOMIC_KEY"


def test_atomic_deleverage_through_the_executor(chain, repo, monkeypatch):
    net = chain
    carol, key = net.accounts["carol"]
    executor_address = H.executor_of(net, "carol")
    flash = H.aave_flash(net)
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.5, flash)
    t = net.book["tokens"]
    min_out = s.out_wei * 9_950 // 10_000
    oracle = H.contract(net, "aave_v3/AaveOracle", net.book["aave"]["oracle"])
    oracle_out = s.withdraw_wei * oracle.functions.getAssetPrice(t["WETH"]).call() // 10**18 * 10**6 // \
        oracle.functions.getAssetPrice(t["USDC"]).call()
    leg = E.SwapLeg(net.book["uniswap"]["router"], H.path(net, "WETH", "USDC", 500), s.withdraw_wei, min_out,
                    oracle_out_wei=oracle_out, slippage_bps=100)
    step = E.deleverage_step(executor_address, target=H.aave_target(net), debt_asset=t["USDC"],
                             collateral_asset=t["WETH"], repay_wei=s.repay_wei, withdraw_wei=s.withdraw_wei,
                             legs=[leg], flash=flash, min_health_wad=int(1.5 * 0.995 * WAD),
                             max_health_wad=int(1.5 * 1.005 * WAD), plan_id=b"pipeline")
    step = step.model_copy(update={"usd_value": s.withdraw_wei * 3000 / 1e18})
    block = net.w3.eth.block_number
    plan = Plan(plan_id="atomic-pipeline", position="carol", kind="deleverage", account=carol, block_number=block,
                steps=(step,), preconditions=Preconditions(valid_until_block=block + 50, min_post_health=1.02,
                                                           target_band=(1.5 * 0.995, 1.5 * 1.005)))
    allowed: dict[str, set[str]] = {}
    for address, selector in E.allowed_calls(executor_address):
        allowed.setdefault(address, set()).add(selector)
    allowed[net.book["uniswap"]["router"]] = {E.EXACT_INPUT}  # the legs, checked by policy as swaps
    ex = H.pipeline_executor(net, repo, monkeypatch, KEY_ENV, carol, key, allowed)
    nonce0 = net.w3.eth.get_transaction_count(carol)
    result = ex.execute(plan, post_check=lambda w: H.hf_wad_of(w, net.book["aave"]["pool"], carol) / WAD)
    assert result.status == "confirmed", result.reason
    assert len(result.steps) == 1 and net.w3.eth.get_transaction_count(carol) == nonce0 + 1
    assert abs(H.hf_wad(net, carol) / WAD / 1.5 - 1) < 0.005
    assert result.post_health == pytest.approx(H.hf_wad(net, carol) / WAD)


def test_policy_refuses_a_leg_beyond_the_max_slippage(chain, repo, monkeypatch):
    net = chain
    carol, key = net.accounts["carol"]
    executor_address = H.executor_of(net, "carol")
    flash = H.aave_flash(net)
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.5, flash)
    t = net.book["tokens"]
    leg = E.SwapLeg(net.book["uniswap"]["router"], H.path(net, "WETH", "USDC", 500), s.withdraw_wei,
                    s.out_wei * 9_000 // 10_000, oracle_out_wei=s.out_wei, slippage_bps=1_000)  # 10 % floor
    step = E.deleverage_step(executor_address, target=H.aave_target(net), debt_asset=t["USDC"],
                             collateral_asset=t["WETH"], repay_wei=s.repay_wei * 9 // 10, withdraw_wei=s.withdraw_wei,
                             legs=[leg], flash=flash, min_health_wad=WAD)
    plan = Plan(plan_id="atomic-slippage", position="carol", account=carol, block_number=net.w3.eth.block_number,
                steps=(step,))
    allowed = {executor_address: set(E.ENTRY_POINTS.values()), net.book["uniswap"]["router"]: {E.EXACT_INPUT}}
    ex = H.pipeline_executor(net, repo, monkeypatch, KEY_ENV, carol, key, allowed, per_tx_usd=1e9, per_day_usd=1e9,
                             poll_interval_s=None)
    nonce0 = net.w3.eth.get_transaction_count(carol)
    result = ex.execute(plan)
    assert result.status == "refused" and "slippage" in result.reason and "atomic_leg_0" in result.reason
    assert net.w3.eth.get_transaction_count(carol) == nonce0
