"""Atomic actions whose swap legs go through the real SwapRouter02 (``Leg.routerKind = ROUTER_02``,
``IV3SwapRouter.exactInput`` without a deadline field): an Aave deleverage through the project's execution pipeline
lands at the planned health in one transaction with no allowance left to either router; a leg whose kind does not
match its router reverts and moves nothing; a Morpho flash-funded deleverage mixes both router kinds in one flow."""

from __future__ import annotations

import pytest

from manager.atomic import encode as E
from manager.execution.types import Plan, Preconditions
from tests.atomic import helpers as H

pytestmark = [pytest.mark.chain]
WAD = 10**18
KEY_ENV = "POSMAN_TEST_ATOMIC_R02_KEY"


def _oracle_out(net, withdraw_wei: int) -> int:
    t = net.book["tokens"]
    oracle = H.contract(net, "aave_v3/AaveOracle", net.book["aave"]["oracle"])
    return withdraw_wei * oracle.functions.getAssetPrice(t["WETH"]).call() // 10**18 * 10**6 // \
        oracle.functions.getAssetPrice(t["USDC"]).call()


def _no_router_allowance(net, executor: str) -> None:
    routers = [net.book["uniswap"]["router"], net.book["uniswap"]["router02"]]
    left = {k: v for k, v in H.allowances_from(net, executor, routers).items() if v}
    assert not left, left


def test_atomic_deleverage_with_swap_router02_legs_lands_at_the_planned_health(chain, repo, monkeypatch):
    net = chain
    carol, key = net.accounts["carol"]
    executor = H.executor_of(net, "carol")
    router02 = net.book["uniswap"]["router02"]
    hf0 = H.hf_wad(net, carol) / WAD
    net.set_price("WETH", net.oracle_price("WETH") / 1e8 * 1.12 / hf0)  # HF 1.12, back to 1.5
    flash = H.aave_flash(net)
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.5, flash)
    t = net.book["tokens"]
    min_out = s.out_wei * 9_950 // 10_000
    leg = E.SwapLeg(router02, H.path(net, "WETH", "USDC", 500), s.withdraw_wei, min_out,
                    oracle_out_wei=_oracle_out(net, s.withdraw_wei), slippage_bps=100, router_kind="swap_router02")
    step = E.deleverage_step(executor, target=H.aave_target(net), debt_asset=t["USDC"], collateral_asset=t["WETH"],
                             repay_wei=s.repay_wei, withdraw_wei=s.withdraw_wei, legs=[leg], flash=flash,
                             min_health_wad=int(1.5 * 0.995 * WAD), max_health_wad=int(1.5 * 1.005 * WAD),
                             plan_id=b"router02").model_copy(update={"usd_value": s.withdraw_wei * 3000 / 1e18})
    assert [(i.to, i.selector) for i in step.inner] == [(router02, E.EXACT_INPUT_02)]
    block = net.w3.eth.block_number
    plan = Plan(plan_id="atomic-router02", position="carol", kind="deleverage", account=carol, block_number=block,
                steps=(step,), preconditions=Preconditions(valid_until_block=block + 50, min_post_health=1.02,
                                                           target_band=(1.5 * 0.995, 1.5 * 1.005)))
    allowed: dict[str, set[str]] = {}
    for address, selector in E.allowed_calls(executor) | E.leg_allowed_calls([leg]):
        allowed.setdefault(address, set()).add(selector)
    assert allowed[router02] == {E.EXACT_INPUT_02}
    ex = H.pipeline_executor(net, repo, monkeypatch, KEY_ENV, carol, key, allowed)
    nonce0 = net.w3.eth.get_transaction_count(carol)
    result = ex.execute(plan, post_check=lambda w: H.hf_wad_of(w, net.book["aave"]["pool"], carol) / WAD)
    assert result.status == "confirmed", result.reason
    assert len(result.steps) == 1 and net.w3.eth.get_transaction_count(carol) == nonce0 + 1  # one transaction
    hf1 = H.hf_wad(net, carol)
    assert abs(hf1 - s.planned_hf_wad) / s.planned_hf_wad < 1e-6, (hf1, s.planned_hf_wad)
    assert abs(hf1 / WAD / 1.5 - 1) < 0.005
    H.assert_clean(net, executor)
    _no_router_allowance(net, executor)


def test_a_leg_whose_kind_is_not_its_routers_reverts_and_moves_nothing(chain):
    net = chain
    carol = net.address("carol")
    executor = H.executor_of(net, "carol")
    flash = H.aave_flash(net)
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.3, flash)
    t = net.book["tokens"]
    before = H.scaled_position(net, carol), H.token_balances(net, carol)  # interest accrues across blocks
    for router, kind in ((net.book["uniswap"]["router02"], "swap_router"), (net.book["uniswap"]["router"],
                                                                             "swap_router02")):
        leg = E.SwapLeg(router, H.path(net, "WETH", "USDC", 500), s.withdraw_wei, s.out_wei * 995 // 1000,
                        router_kind=kind)
        step = E.deleverage_step(executor, target=H.aave_target(net), debt_asset=t["USDC"],
                                 collateral_asset=t["WETH"], repay_wei=s.repay_wei, withdraw_wei=s.withdraw_wei,
                                 legs=[leg], flash=flash, min_health_wad=WAD)
        r = H.send(net, step, carol, gas=3_000_000)
        assert r["status"] == 0, kind  # the other kind's exactInput does not exist on this router
    assert (H.scaled_position(net, carol), H.token_balances(net, carol)) == before
    H.assert_clean(net, executor)
    right = E.SwapLeg(net.book["uniswap"]["router02"], H.path(net, "WETH", "USDC", 500), s.withdraw_wei,
                      s.out_wei * 995 // 1000, router_kind="swap_router02")
    step = E.deleverage_step(executor, target=H.aave_target(net), debt_asset=t["USDC"], collateral_asset=t["WETH"],
                             repay_wei=s.repay_wei, withdraw_wei=s.withdraw_wei, legs=[right], flash=flash,
                             min_health_wad=WAD)
    assert H.send(net, step, carol, gas=3_000_000)["status"] == 1  # the same plan with the router's own kind lands


def test_one_flow_can_mix_both_router_kinds(chain):
    net = chain
    carol = net.address("carol")
    executor = H.executor_of(net, "carol")
    flash = H.morpho_flash(net)
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.3, flash)
    t = net.book["tokens"]
    half = s.withdraw_wei // 2
    p = H.path(net, "WETH", "USDC", 500)
    out1 = H.quote(net, p, half)
    legs = [E.SwapLeg(net.book["uniswap"]["router"], p, half, out1 * 995 // 1000),
            E.SwapLeg(net.book["uniswap"]["router02"], p, s.withdraw_wei - half, 1, router_kind="swap_router02")]
    usdc = H.erc20(net, t["USDC"])
    debt0 = H.debt_of(net, carol, "USDC")
    step = E.deleverage_step(executor, target=H.aave_target(net), debt_asset=t["USDC"], collateral_asset=t["WETH"],
                             repay_wei=out1 * 995 // 1000, withdraw_wei=s.withdraw_wei, legs=legs, flash=flash,
                             min_health_wad=H.hf_wad(net, carol))
    assert H.send(net, step, carol)["status"] == 1
    assert debt0 - H.debt_of(net, carol, "USDC") == pytest.approx(s.out_wei, rel=1e-3)  # both halves repaid debt
    assert usdc.functions.balanceOf(executor).call() == 0
    H.assert_clean(net, executor)
    _no_router_allowance(net, executor)
