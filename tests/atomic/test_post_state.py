"""A one-step executor plan is checked without a fork: one ``eth_simulateV1`` at the head (the action, then the
contract's ``healthOf`` on the state it leaves, ``simulate.atomic_post_state``) gives the post-state health the
plan's band is checked against. A plan whose band the simulated post-state misses is refused and nothing is sent;
no fork is started either way."""

from __future__ import annotations

import pytest

from manager.atomic import encode as E
from manager.execution.types import Plan, Preconditions
from tests.atomic import helpers as H

pytestmark = [pytest.mark.chain]
WAD = 10**18
KEY_ENV = "POSMAN_TEST_ATOMIC_POST_KEY"


def _no_fork(**_kw):
    raise AssertionError("a one-step executor plan must not start a fork")


def _setup(net, repo, monkeypatch, band):
    carol, key = net.accounts["carol"]
    executor_address = H.executor_of(net, "carol")
    flash = H.aave_flash(net)
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.5, flash)
    t = net.book["tokens"]
    oracle = H.contract(net, "aave_v3/AaveOracle", net.book["aave"]["oracle"])
    oracle_out = s.withdraw_wei * oracle.functions.getAssetPrice(t["WETH"]).call() // 10**18 * 10**6 // \
        oracle.functions.getAssetPrice(t["USDC"]).call()
    leg = E.SwapLeg(net.book["uniswap"]["router"], H.path(net, "WETH", "USDC", 500), s.withdraw_wei,
                    s.out_wei * 9_950 // 10_000, oracle_out_wei=oracle_out, slippage_bps=100)
    # the contract's own floor is loose (1.0, no upper bound): only the off-chain band can refuse
    step = E.deleverage_step(executor_address, target=H.aave_target(net), debt_asset=t["USDC"],
                             collateral_asset=t["WETH"], repay_wei=s.repay_wei, withdraw_wei=s.withdraw_wei,
                             legs=[leg], flash=flash, min_health_wad=WAD, plan_id=b"post-state")
    step = step.model_copy(update={"usd_value": s.withdraw_wei * 3000 / 1e18})
    block = net.w3.eth.block_number
    plan = Plan(plan_id=f"atomic-post-{band[0]}", position="carol", kind="deleverage", account=carol,
                block_number=block, steps=(step,),
                preconditions=Preconditions(valid_until_block=block + 50, min_post_health=1.02, target_band=band))
    allowed: dict[str, set[str]] = {}
    for address, selector in E.allowed_calls(executor_address):
        allowed.setdefault(address, set()).add(selector)
    allowed[net.book["uniswap"]["router"]] = {E.EXACT_INPUT}
    ex = H.pipeline_executor(net, repo, monkeypatch, KEY_ENV, carol, key, allowed, fork_factory=_no_fork)
    return carol, ex, plan


def test_one_step_plan_simulated_without_a_fork(chain, repo, monkeypatch):
    net = chain
    carol, ex, plan = _setup(net, repo, monkeypatch, (1.5 * 0.995, 1.5 * 1.005))
    nonce0 = net.w3.eth.get_transaction_count(carol)
    result = ex.execute(plan, post_check=lambda w: H.hf_wad_of(w, net.book["aave"]["pool"], carol) / WAD)
    assert result.status == "confirmed", result.reason
    assert "fork" not in result.reason  # no fork was asked for (a failing fork factory would show as a fallback)
    assert net.w3.eth.get_transaction_count(carol) == nonce0 + 1
    # the simulated post-state health is the one the mined transaction left (same block state, same action)
    assert result.post_health == pytest.approx(H.hf_wad(net, carol) / WAD, rel=1e-9)


def test_band_missed_on_the_simulated_post_state_is_refused(chain, repo, monkeypatch):
    net = chain
    carol, ex, plan = _setup(net, repo, monkeypatch, (1.6, 1.7))
    nonce0 = net.w3.eth.get_transaction_count(carol)
    hf0 = H.hf_wad(net, carol)
    result = ex.execute(plan, post_check=lambda w: H.hf_wad_of(w, net.book["aave"]["pool"], carol) / WAD)
    assert result.status == "refused"
    assert "misses the target band [1.6000, 1.7000]" in result.reason
    assert net.w3.eth.get_transaction_count(carol) == nonce0 and H.hf_wad(net, carol) == hf0
