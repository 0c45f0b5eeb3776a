"""The pure encoder (no chain): calldata decodes back to the plan, inputs are checked, the allow-list and the
policy see every leg; the committed ABI equals the compiled contract's."""

from __future__ import annotations

import json

import pytest
from eth_abi import decode

from manager.atomic import encode as E
from manager.atomic.deploy import artifact
from manager.chain.abi import ABI_DIR
from manager.execution.policy import PolicyLimits, check_plan
from manager.execution.types import Plan

USDC = "0x" + "11" * 20
WETH = "0x" + "22" * 20
ROUTER = "0x" + "33" * 20
POOL = "0x" + "44" * 20
EXECUTOR = "0x" + "55" * 20
OWNER = "0x" + "66" * 20
WAD = 10**18


def _leg(amount=10**18, min_out=2_985 * 10**6, oracle=3_000 * 10**6, tokens=(WETH, USDC)):
    return E.SwapLeg(ROUTER, E.pack_path(list(tokens), [500]), amount, min_out, oracle_out_wei=oracle,
                     slippage_bps=50)


def _deleverage(**kw):
    args = dict(target=E.LendingTarget("aave_v3", POOL), debt_asset=USDC, collateral_asset=WETH,
                repay_wei=2_800 * 10**6, withdraw_wei=10**18, legs=[_leg()], flash=E.FlashSource("aave", POOL, 9),
                min_health_wad=int(1.49 * WAD), max_health_wad=int(1.51 * WAD), plan_id=b"p1")
    args.update(kw)
    return E.deleverage_step(EXECUTOR, **args)


def test_committed_abi_is_the_compiled_one():
    committed = json.loads((ABI_DIR / "posman" / "PosmanExecutor.json").read_text())["abi"]
    assert committed == artifact()["abi"]


def test_deleverage_calldata_decodes_to_the_plan():
    step = _deleverage()
    assert step.selector == E.ENTRY_POINTS["deleverage"] and step.label == "atomic_deleverage"
    (plan,) = decode([E._PLAN], bytes.fromhex(step.data[10:]))
    (flash_kind, lender, protocol, pool, market, debt, coll, flash_amount, coll_amount, legs, lo, hi, out, min_out,
     deadline, plan_id) = plan
    assert (flash_kind, protocol, flash_amount, coll_amount, lo, hi) == (0, 0, 2_800 * 10**6, 10**18,
                                                                        int(1.49 * WAD), int(1.51 * WAD))
    assert (lender.lower(), pool.lower(), debt.lower(), coll.lower()) == (POOL, POOL, USDC, WETH)
    assert market[4] == 0 and out == E.ZERO_ADDRESS.lower() and min_out == 0 and deadline == 0
    assert plan_id == b"p1".ljust(32, b"\0")
    ((router, path, amount_in, leg_min, router_kind),) = legs
    assert router.lower() == ROUTER and path == E.pack_path([WETH, USDC], [500]) and (amount_in, leg_min) == (
        10**18, 2_985 * 10**6)
    assert router_kind == 0  # ROUTER_V1: the original SwapRouter (the default)


def test_swap_router02_leg_encodes_its_kind_and_its_own_exact_input():
    leg = E.SwapLeg(ROUTER, E.pack_path([WETH, USDC], [500]), 10**18, 2_985 * 10**6, oracle_out_wei=3_000 * 10**6,
                    slippage_bps=50, router_kind="swap_router02")
    step = _deleverage(legs=[leg])
    (plan,) = decode([E._PLAN], bytes.fromhex(step.data[10:]))
    assert plan[9][0][4] == 1  # ROUTER_02
    (inner,) = step.inner
    assert inner.selector == E.EXACT_INPUT_02 == "0xb858183f"
    ((path, recipient, amount_in, min_out),) = decode(["(bytes,address,uint256,uint256)"], bytes.fromhex(inner.data[10:]))
    assert (path, recipient.lower(), amount_in, min_out) == (leg.path, EXECUTOR, 10**18, 2_985 * 10**6)
    assert (ROUTER.lower(), E.EXACT_INPUT_02) in {(a.lower(), s) for a, s in E.allowed_calls(EXECUTOR) | E.leg_allowed_calls([leg])}
    allowed = {EXECUTOR: set(E.ENTRY_POINTS.values()), ROUTER: {E.EXACT_INPUT}}  # the other kind's selector
    plan_ = Plan(plan_id="x", position="p", account=OWNER, block_number=1, steps=(step,))
    with pytest.raises(Exception, match="not allow-listed"):
        check_plan(plan_, PolicyLimits(allowed_calls=allowed, per_tx_usd=1e9, per_day_usd=1e9, max_slippage_bps=50))
    allowed[ROUTER] = {E.EXACT_INPUT_02}
    check_plan(plan_, PolicyLimits(allowed_calls=allowed, per_tx_usd=1e9, per_day_usd=1e9, max_slippage_bps=50))
    with pytest.raises(ValueError, match="router_kind"):
        _deleverage(legs=[E.SwapLeg(ROUTER, leg.path, 10**18, 1, router_kind="universal_router")])


def test_bad_inputs_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match="repay_wei"):
        _deleverage(repay_wei=0)
    with pytest.raises(ValueError, match="min_health_wad"):
        _deleverage(min_health_wad=WAD - 1)
    with pytest.raises(ValueError, match="leg 0: path goes"):
        _deleverage(legs=[_leg(tokens=(USDC, WETH))])
    with pytest.raises(ValueError, match="min_out_wei"):
        _deleverage(legs=[_leg(min_out=0)])
    with pytest.raises(ValueError, match="premium_bps must be 0"):
        _deleverage(flash=E.FlashSource("morpho", POOL, 9))
    with pytest.raises(ValueError, match="morpho_market"):
        _deleverage(target=E.LendingTarget("morpho_blue", POOL))
    with pytest.raises(ValueError, match="out_asset"):
        E.close_step(EXECUTOR, target=E.LendingTarget("aave_v3", POOL), debt_asset=USDC, collateral_asset=WETH,
                     legs=[_leg()], flash=E.FlashSource("aave", POOL, 9), out_asset=ROUTER, min_out_wei=0)


def test_allowed_calls_and_policy_see_every_leg():
    calls = E.allowed_calls(EXECUTOR)
    assert {sel for _a, sel in calls} == set(E.ENTRY_POINTS.values()) and len(calls) == 4  # + switchCollateral
    step = _deleverage()
    assert [s.kind for s in step.inner] == ["swap"] and step.inner[0].to.lower() == ROUTER
    allowed: dict[str, set[str]] = {}
    for a, sel in calls:
        allowed.setdefault(a, set()).add(sel)
    plan = Plan(plan_id="x", position="p", account=OWNER, block_number=1, steps=(step,))
    limits = dict(per_tx_usd=1e9, per_day_usd=1e9, max_slippage_bps=50)
    with pytest.raises(Exception, match="not allow-listed"):  # the router's exactInput must be allowed too
        check_plan(plan, PolicyLimits(allowed_calls=allowed, **limits))
    allowed[ROUTER] = {E.EXACT_INPUT}
    check_plan(plan, PolicyLimits(allowed_calls=allowed, **limits))
    tight = PolicyLimits(allowed_calls=allowed, per_tx_usd=1e9, per_day_usd=1e9, max_slippage_bps=10)
    with pytest.raises(Exception, match="slippage"):
        check_plan(plan, tight)


def test_morpho_boost_and_close_encode():
    market = (USDC, WETH, "0x" + "77" * 20, "0x" + "88" * 20, 86 * 10**16)
    target = E.LendingTarget("morpho_blue", POOL, market)
    b = E.boost_step(EXECUTOR, target=target, debt_asset=USDC, collateral_asset=WETH, borrow_wei=10**9,
                     legs=[_leg(tokens=(USDC, WETH), min_out=3 * 10**17, oracle=33 * 10**16)],
                     flash=E.FlashSource("morpho", POOL, 0), min_supply_wei=3 * 10**17, min_health_wad=WAD)
    assert b.selector == E.ENTRY_POINTS["boost"]
    (plan,) = decode([E._PLAN], bytes.fromhex(b.data[10:]))
    assert plan[0] == 1 and plan[2] == 1 and plan[4][4] == 86 * 10**16
    c = E.close_step(EXECUTOR, target=target, debt_asset=USDC, collateral_asset=WETH,
                     legs=[E.SwapLeg(ROUTER, E.pack_path([WETH, USDC], [500]), E.UINT256_MAX, 1)],
                     flash=E.FlashSource("morpho", POOL, 0), out_asset=WETH, min_out_wei=5)
    (plan,) = decode([E._PLAN], bytes.fromhex(c.data[10:]))
    assert plan[9][0][2] == 2**256 - 1 and plan[12].lower() == WETH and plan[13] == 5 and c.inner == ()
