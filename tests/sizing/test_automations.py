"""Pure sizing of the price automations (manager.sizing.automations): close, partial close, collateral switch.

Sizes come from pool depth (constant-product curves, as a watcher hands them over); every health is the exact
Aave v3.0 integer math."""

from __future__ import annotations

import math

import pytest

from manager.protocols.aave_v3.automations import (
    plan_atomic_close,
    plan_collateral_switch,
    plan_partial_close,
)
from manager.protocols.aave_v3.math import exact_position
from manager.sizing.caps import SizingLimits
from manager.sizing.fixed import percent_mul
from tests.sizing.builders import USDC, WETH, WSTETH, a1, cpmm_curve, reserve, snapshot

LIMITS = SizingLimits(max_slippage_bps=100)


def deep(token_in=WETH, token_out=USDC, price=2000.0, usd=50_000_000, dec_out=6):
    r_in = usd / 2 / price * 1e18
    return cpmm_curve(token_in, token_out, r_in, usd / 2 / (1.0 if dec_out == 6 else price) * 10**dec_out,
                      fee_pips=500, dec_out=dec_out)


def test_close_into_the_debt_asset_sells_all_and_guarantees_the_rest():
    snap = a1()
    d = plan_atomic_close(snap, out_asset="USDC", premium_bps=9, depth={(WETH, USDC): deep()}, limits=LIMITS)
    assert d.action == "close" and d.uses_flash_loan and d.close_out_asset == USDC
    flash, repay, withdraw, *swaps = d.steps
    assert (flash.kind, repay.kind, withdraw.kind) == ("flash_loan", "repay", "withdraw")
    assert flash.amount_wei == repay.amount_wei == 10_000 * 10**6 and withdraw.amount_wei == 10 * 10**18
    assert sum(s.amount_wei for s in swaps) == 10 * 10**18
    got = sum(s.min_amount_out_wei for s in swaps)
    buf = 10_000 * 10**6 + 10_000 * 10**6 // 10_000  # the 1 bp interest buffer
    assert d.close_min_out_wei == got - buf - percent_mul(buf, 9) > 0
    # the whole 20,000 USD of collateral within the 100 bps limit (pool fee included)
    assert got >= 20_000 * 10**6 * 0.99
    assert math.isinf(d.projected_health)


def test_close_into_the_collateral_sells_only_what_repays_the_debt():
    snap = a1()
    d = plan_atomic_close(snap, out_asset="WETH", premium_bps=9, depth={(WETH, USDC): deep()}, limits=LIMITS)
    swaps = [s for s in d.steps if s.kind == "swap"]
    sold = sum(s.amount_wei for s in swaps)
    need = 10_001 * 10**6 + percent_mul(10_001 * 10**6, 9)
    assert sum(s.min_amount_out_wei for s in swaps) >= need
    assert 5 * 10**18 < sold < 5.1 * 10**18  # ~10,010 USD of WETH at 2,000
    assert d.close_out_asset == WETH and d.close_min_out_wei == 10 * 10**18 - sold - 2


def test_close_beyond_the_slippage_limit_is_the_largest_deleverage_now():
    snap = a1()
    shallow = deep(usd=400_000)  # 10 WETH would move this pool far more than 100 bps
    d = plan_atomic_close(snap, out_asset="USDC", premium_bps=9, depth={(WETH, USDC): shallow}, limits=LIMITS)
    assert d.action == "deleverage" and d.partial and "continue next block" in d.reason
    assert d.projected_health > exact_position(snap).health()


def test_close_refuses_an_unknown_out_asset_and_a_second_debt():
    d = plan_atomic_close(a1(), out_asset="DAI", premium_bps=9, limits=LIMITS)
    assert d.action == "none" and d.binding_constraint == "bad_out_asset"
    two = snapshot([reserve("WETH", 2000 * 10**8), reserve("USDC", 10**8), reserve("wstETH", 2300 * 10**8)],
                   {"WETH": (10 * 10**18, 0), "USDC": (0, 5_000 * 10**6), "wstETH": (10**18, 0)})
    d = plan_atomic_close(two, out_asset="USDC", premium_bps=9, limits=LIMITS)
    assert d.action == "none" and d.binding_constraint == "multi_asset"


def test_partial_close_repays_the_fraction_rounded_up():
    snap = a1()
    d = plan_partial_close(snap, 0.25, premium_bps=9, depth={(WETH, USDC): deep()}, limits=LIMITS)
    assert d.action == "deleverage" and d.uses_flash_loan
    flash, repay, withdraw, *swaps = d.steps
    assert flash.amount_wei == repay.amount_wei == 2_500 * 10**6
    assert sum(s.min_amount_out_wei for s in swaps) >= 2_500 * 10**6 + percent_mul(2_500 * 10**6, 9)
    assert sum(s.amount_wei for s in swaps) == withdraw.amount_wei
    exact = exact_position(snap).with_deltas({USDC: (0, -2_500 * 10**6), WETH: (-withdraw.amount_wei, 0)}).health()
    assert d.projected_health == exact > exact_position(snap).health()
    with pytest.raises(Exception, match="fraction"):
        plan_partial_close(snap, 1.0, premium_bps=9)


def switch_snap():
    return snapshot([reserve("WETH", 2000 * 10**8), reserve("USDC", 10**8), reserve("wstETH", 2300 * 10**8)],
                    {"WETH": (10 * 10**18, 0), "USDC": (0, 10_000 * 10**6)})


def test_switch_sizes_flash_from_the_legs_and_checks_the_floor_exactly():
    snap = switch_snap()
    curve = cpmm_curve(WETH, WSTETH, 5_000 * 1e18, 5_000 * 2000 / 2300 * 1e18, fee_pips=100, dec_out=18)
    d = plan_collateral_switch(snap, from_asset="WETH", to_asset="wstETH", floor_hf=1.5, premium_bps=9,
                               depth={(WETH, WSTETH): curve}, limits=LIMITS)
    assert d.action == "collateral_switch" and d.flash_premium_bps == 9
    flash, supply, withdraw, *swaps = d.steps
    assert supply.kind == "supply" and supply.amount_wei == flash.amount_wei
    got = sum(s.min_amount_out_wei for s in swaps)
    assert flash.asset == WSTETH and flash.amount_wei + percent_mul(flash.amount_wei, 9) <= got
    assert withdraw.amount_wei == 10 * 10**18
    supplied = got - percent_mul(flash.amount_wei, 9)
    exact = exact_position(snap.model_copy(update={"assets": (*snap.assets, *[
        a for a in switch_after(snap).assets if a.symbol == "wstETH"])})).with_deltas(
        {WETH: (-10 * 10**18, 0), WSTETH: (supplied, 0)}).health()
    assert d.projected_health == pytest.approx(exact, rel=1e-12) and d.projected_health >= 1.5
    refused = plan_collateral_switch(snap, from_asset="WETH", to_asset="wstETH", floor_hf=1.7, premium_bps=9,
                                     depth={(WETH, WSTETH): curve}, limits=LIMITS)
    assert refused.action == "none" and refused.binding_constraint == "health_floor" and "not sent" in refused.reason


def switch_after(snap):
    from manager.domain import PositionAsset

    return snap.model_copy(update={"assets": (*snap.assets, PositionAsset(asset=WSTETH, symbol="wstETH"))})
