"""Regression: two depth quotes whose integer inputs round to one float (issue 15: ZeroDivisionError)."""

from __future__ import annotations

from manager.domain import QuotePoint
from manager.protocols.aave_v3.deleverage import plan_deleverage
from manager.sizing.caps import SizingLimits
from manager.sizing.depth import SwapModel, curve_sale
from tests.sizing.builders import USDC, WETH, a1, cpmm_curve


def collapsed_curve():
    base = cpmm_curve(WETH, USDC, 2_000e18, 2_600_000e6)  # 1300 USDC/WETH
    x = 2**60  # float(2**60 + 1) == float(2**60)
    out = int(2_600_000e6 * x * 0.997 / (2_000e18 + x * 0.997))
    first = QuotePoint(amount_in_wei=x, amount_out_wei=out)
    twin = QuotePoint(amount_in_wei=x + 1, amount_out_wei=out + 7)
    below = tuple(p for p in base.points if p.amount_in_wei < x)
    above = tuple(p for p in base.points if p.amount_in_wei > x + 1)
    return base.model_copy(update={"points": (*below, first, twin, *above)})


def test_collapsed_quotes_are_merged_conservatively():
    curve = collapsed_curve()
    model = SwapModel.from_curve(curve)
    assert list(model.xs) == sorted(set(model.xs))  # strictly increasing: no zero-width segment
    # the kept quote is the earlier one (lower output at the same float input)
    assert model.out_wei(float(2**60)) == next(p.amount_out_wei for p in curve.points if p.amount_in_wei == 2**60)
    assert 0 < model.input_for_output(2_000e6) < model.max_in_wei
    for x0, x1, _, _ in model.segments():
        assert x1 > x0
    fee_model = model.with_input_fee(25)
    assert fee_model.input_for_output(2_000e6) > 0


def test_plan_with_collapsed_quotes_decides():
    curve = collapsed_curve()
    lim = SizingLimits(max_slippage_bps=200, safety_floor_hf=1.0, min_action_usd=0, service_fee_bps=25)
    curve_sale(curve, lim)
    d = plan_deleverage(a1(weth_price_base=1300 * 10**8), 1.5, depth={(WETH, USDC): curve}, limits=lim)
    assert d.action == "deleverage" and d.steps


# --- regression (issue 15): a refused or bound action names the user's own cap when that is what binds
def test_per_tx_cap_below_dust_names_per_tx_usd():
    lim = SizingLimits(per_action_usd=1.0, max_slippage_bps=100, safety_floor_hf=1.0)  # min_action_usd 10
    d = plan_deleverage(a1(weth_price_base=1300 * 10**8), 1.5, limits=lim)
    assert d.action == "none" and d.binding_constraint == "per_action_cap"
    assert "per_tx_usd" in d.reason and "$1.00" in d.reason and "min_action_usd" not in d.reason


def test_zero_slippage_names_max_slippage_bps():
    base = cpmm_curve(WETH, USDC, 2_000e18, 2_600_000e6)
    lim = SizingLimits(max_slippage_bps=0, safety_floor_hf=1.0, min_action_usd=0)
    d = plan_deleverage(a1(weth_price_base=1300 * 10**8), 1.5, depth={(WETH, USDC): base}, limits=lim)
    assert not d.feasible and d.binding_constraint in ("pool_depth", "price_impact")
    assert "max_slippage_bps" in d.reason and "0 bps" in d.reason


def test_morpho_per_tx_cap_below_dust_names_per_tx_usd():
    from manager.protocols.morpho_blue import math as morpho

    m = morpho.MorphoMarket(loan_decimals=6, collateral_decimals=18, lltv_wad=86 * 10**16,
                            total_supply_assets=2_000_000 * 10**6, total_borrow_assets=1_020_000 * 10**6,
                            total_borrow_shares=10**18, oracle_price=3000 * 10**24)
    pos = morpho.MorphoPosition(borrow_shares=24500 * 10**12, collateral_wei=10 * 10**18)  # HF ~1.03
    lim = SizingLimits(per_action_usd=1.0, max_slippage_bps=100, safety_floor_hf=1.0)
    plan = morpho.plan_deleverage(m, pos, 1.3, limits=lim, collateral_usd_per_wei=3000 / 1e18)
    assert not plan.rounds and plan.binding_constraint == "per_action_cap"
    assert "per_tx_usd" in plan.reason and "min_action_usd" not in plan.reason
