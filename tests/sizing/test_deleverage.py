"""Deleverage: the notes' D1-D3 vectors, executable steps checked with the exact math, invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from manager.protocols.aave_v3 import math as aave
from manager.protocols.aave_v3.deleverage import plan_deleverage
from manager.sizing import vector
from manager.sizing._checks import BadInputError, NoDebtError
from manager.sizing.caps import SizingLimits
from manager.sizing.fixed import WAD, percent_mul
from tests.sizing.builders import USDC, WETH, WSTETH, a1, cpmm_curve, reserve, snapshot

G_D1 = 0.997 * 0.998
# fee 30 bps and a 20 bps haircut give exactly the notes' g = 0.995006
D1_LIMITS = SizingLimits(fallback_fee_bps=30, max_slippage_bps=20, safety_floor_hf=1.0, min_action_usd=0)


def replay(snapshot, decision, floor_hf=1.0):
    """Execute the steps on the exact integer position; check order, min-outs and the per-step floor."""
    pos = aave.exact_position(snapshot)
    wallet: dict[str, int] = {}
    flash: dict[str, int] = {}
    for step in decision.steps:
        if step.kind == "flash_loan":
            flash[step.asset] = flash.get(step.asset, 0) + step.amount_wei
            wallet[step.asset] = wallet.get(step.asset, 0) + step.amount_wei
        elif step.kind == "withdraw":
            pos = pos.with_deltas({step.asset: (-step.amount_wei, 0)})
            wallet[step.asset] = wallet.get(step.asset, 0) + step.amount_wei
            if not decision.uses_flash_loan:
                assert pos.health_factor_wad() >= math.ceil(floor_hf * WAD) - 1
            assert pos.health_factor_wad() >= WAD  # ValidationLogic: HF >= 1 after a withdraw
        elif step.kind == "swap":
            assert wallet.get(step.asset, 0) >= step.amount_wei
            wallet[step.asset] -= step.amount_wei
            # the swap is only guaranteed to deliver min_amount_out
            wallet[step.asset_out] = wallet.get(step.asset_out, 0) + step.min_amount_out_wei
        elif step.kind == "repay":
            assert wallet.get(step.asset, 0) >= step.amount_wei, "repay needs tokens in the wallet"
            wallet[step.asset] -= step.amount_wei
            pos = pos.with_deltas({step.asset: (0, -step.amount_wei)})
        else:
            raise AssertionError(step.kind)
    for asset, amount in flash.items():  # flash loan is paid back with the v3.0 premium
        wallet[asset] -= amount
    return pos, wallet


def test_d1_closed_form():
    x, repay, ok = vector.repay_from_collateral(10725, 10000, 0.825, G_D1, 1.5)
    assert ok and float(x) == pytest.approx(6404.4080, abs=1e-4)
    assert float(repay) == pytest.approx(6372.4244, abs=1e-4)
    assert (10725 - float(x) * 0.825) / (10000 - float(repay)) == pytest.approx(1.5, abs=1e-12)


@pytest.mark.parametrize("p,x_expected,repay_expected", [(0.0005, 6411.5724, 6376.3648), (0.0009, 6417.3103, 6379.5206)])
def test_d2_flash_closed_form(p, x_expected, repay_expected):
    x, repay, _ = vector.repay_from_collateral(10725, 10000, 0.825, G_D1, 1.5, p)
    assert float(x) == pytest.approx(x_expected, abs=1e-4)
    assert float(repay) == pytest.approx(repay_expected, abs=1e-4)


def test_d3_multi_collateral_efficiency():
    x_wst, _, _ = vector.repay_from_collateral(25815, 24000, 0.81, 0.998, 1.25)
    x_weth, _, _ = vector.repay_from_collateral(25815, 24000, 0.825, 1.0, 1.25)
    assert float(x_wst) == pytest.approx(9565.7143, abs=1e-4)
    assert float(x_weth) == pytest.approx(9847.0588, abs=1e-4)


def d1_snapshot():
    return a1(weth_price_base=1300 * 10**8)


def test_d1_plan_without_flash_loop_matches_notes():
    snap = d1_snapshot()
    d = plan_deleverage(snap, 1.5, limits=D1_LIMITS)
    assert d.feasible and d.action == "deleverage" and d.binding_constraint == "safety_floor"
    first = d.steps[0]
    assert first.kind == "withdraw" and first.round == 0
    assert first.amount_wei * 1300 / 1e18 == pytest.approx(878.79, abs=0.01)  # notes: first withdrawal limit
    assert d.rounds > 1
    pos, _ = replay(snap, d)
    assert pos.health_factor_wad() >= 1.5 * WAD
    assert d.projected_health == pytest.approx(1.5, abs=1e-3)


def test_d2_plan_with_flash_matches_notes():
    snap = d1_snapshot()
    d = plan_deleverage(snap, 1.5, limits=D1_LIMITS, flash_premium_bps=5)
    assert d.rounds == 1 and d.uses_flash_loan
    withdraw = next(s for s in d.steps if s.kind == "withdraw")
    flash = next(s for s in d.steps if s.kind == "flash_loan")
    # the plan solves a hair above the target (v3.0 floored LT margin) -> within 0.05 % of the closed form
    assert withdraw.amount_wei * 1300 / 1e18 == pytest.approx(6411.5724, rel=5e-4)
    assert flash.amount_wei / 1e6 == pytest.approx(6376.3648, rel=5e-4)
    swap = next(s for s in d.steps if s.kind == "swap")
    assert swap.min_amount_out_wei == flash.amount_wei + percent_mul(flash.amount_wei, 5)
    pos, wallet = replay(snap, d)
    assert wallet[USDC] >= 0
    assert pos.health_factor_wad() >= 1.5 * WAD


def test_same_token_collateral_and_debt_repays_without_swap():
    s = snapshot([reserve("WETH", 2000 * 10**8), reserve("USDC", 10**8)],
                 {"WETH": (10 * 10**18, 6 * 10**18), "USDC": (5000 * 10**6, 0)})
    d = plan_deleverage(s, 1.6, limits=SizingLimits(safety_floor_hf=1.0))
    assert d.feasible
    assert not any(st.kind == "swap" and st.asset == st.asset_out for st in d.steps)
    replay(s, d)


def test_depth_curve_limits_and_reports_best_reachable():
    snap = d1_snapshot()
    # a shallow pool: 20 WETH / 26k USDC; 200 bps average slippage cap
    curve = cpmm_curve(WETH, USDC, 20e18, 26_000e6)
    lim = SizingLimits(max_slippage_bps=200, safety_floor_hf=1.0, min_action_usd=0)
    d = plan_deleverage(snap, 3.0, depth={(WETH, USDC): curve}, limits=lim, flash_premium_bps=5)
    assert not d.feasible
    assert d.binding_constraint in ("pool_depth", "price_impact")
    assert d.best_reachable_health is not None and d.health_before < d.best_reachable_health < 3.0
    assert "best reachable" in d.reason
    sold = sum(s.amount_wei for s in d.steps if s.kind == "swap")
    # average slippage of the total sale stays within the cap
    from manager.sizing.depth import SwapModel

    raw = SwapModel.from_curve(curve)
    assert sold <= raw.depth_cap_wei(200, 0.003) * (1 + 1e-9)
    replay(snap, d)


def test_fallback_is_named_in_reason():
    d = plan_deleverage(d1_snapshot(), 1.3, limits=D1_LIMITS)
    assert "no depth curve" in d.reason


def test_per_action_cap_splits_into_rounds_and_per_day_cap_stops():
    lim = SizingLimits(per_action_usd=1000, safety_floor_hf=1.0, min_action_usd=0)
    d = plan_deleverage(d1_snapshot(), 1.3, limits=lim, flash_premium_bps=9)
    assert d.feasible and d.rounds >= 3 and d.binding_constraint == "per_action_cap"
    assert all(s.amount_wei * 1300 / 1e18 <= 1000 + 1e-6 for s in d.steps if s.kind == "withdraw")
    lim = SizingLimits(per_day_remaining_usd=500, safety_floor_hf=1.0, min_action_usd=0)
    d = plan_deleverage(d1_snapshot(), 1.3, limits=lim, flash_premium_bps=9)
    assert not d.feasible and d.binding_constraint == "per_day_cap"
    assert d.notional_usd <= 500 + 1e-6


def test_already_at_target_is_no_action():
    d = plan_deleverage(a1(), 1.5)
    assert d.action == "none" and d.binding_constraint == "already_at_target" and not d.steps


def test_health_below_safety_floor_without_flash_is_infeasible_and_says_why():
    snap = a1(weth_price_base=1220 * 10**8)  # HF 1.0065
    d = plan_deleverage(snap, 1.3, limits=SizingLimits(safety_floor_hf=1.02))
    assert d.action == "none" and not d.feasible and d.binding_constraint == "safety_floor"


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(NoDebtError):
        plan_deleverage(a1(debt_usdc=0), 1.5)
    for t in (0.99, 1.0, float("nan")):
        with pytest.raises(BadInputError, match="target_hf"):
            plan_deleverage(a1(), t)
    with pytest.raises(BadInputError, match="flash_premium_bps"):
        plan_deleverage(a1(), 2.0, flash_premium_bps=-1)


def test_lowest_lt_collateral_sold_first():
    s = snapshot([reserve("WETH", 2000 * 10**8), reserve("wstETH", 2300 * 10**8), reserve("USDC", 10**8)],
                 {"WETH": (10 * 10**18, 0), "wstETH": (5 * 10**18, 0), "USDC": (0, 24_000 * 10**6)})
    d = plan_deleverage(s, 1.25, limits=SizingLimits(safety_floor_hf=1.0), flash_premium_bps=5)
    assert d.steps[2].kind == "withdraw" and d.steps[2].asset == WSTETH  # LT 0.81 < 0.825


# --- invariants -----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    weth=st.integers(1, 1000), wst=st.integers(0, 1000), price=st.integers(500, 5000),
    debt_frac=st.floats(0.3, 0.97), target=st.floats(1.05, 3.0), flash=st.sampled_from([None, 5, 9]),
    depth=st.booleans(), per_action=st.sampled_from([None, 5_000.0, 50_000.0]),
)
def test_deleverage_invariants(weth, wst, price, debt_frac, target, flash, depth, per_action):
    coll_usd = weth * price * 0.825 + wst * price * 1.1 * 0.81
    debt_usd = int(coll_usd * debt_frac)
    assume(debt_usd > 10)
    s = snapshot([reserve("WETH", price * 10**8), reserve("wstETH", int(price * 1.1 * 10**8)), reserve("USDC", 10**8)],
                 {"WETH": (weth * 10**18, 0), "wstETH": (wst * 10**18, 0), "USDC": (0, debt_usd * 10**6)})
    curves = None
    if depth:
        curves = {(WETH, USDC): cpmm_curve(WETH, USDC, 5000e18, 5000 * price * 1e6),
                  (WSTETH, USDC): cpmm_curve(WSTETH, USDC, 2000e18, 2000 * price * 1.1e6)}
    lim = SizingLimits(per_action_usd=per_action, safety_floor_hf=1.01, min_action_usd=0, max_rounds=30)
    before = aave.account_data(s)
    d = plan_deleverage(s, target, depth=curves, limits=lim, flash_premium_bps=flash)
    for step in d.steps:
        assert step.amount_wei > 0 and math.isfinite(step.amount_wei)
        if step.min_amount_out_wei is not None:
            assert step.min_amount_out_wei >= 0
    assert all(v <= 0 for v in d.debt_deltas_wei.values())  # never increases debt
    assert all(v <= 0 for v in d.collateral_deltas_wei.values())
    if d.steps:
        pos, wallet = replay(s, d, floor_hf=lim.safety_floor_hf)
        after = pos.account()
        assert after.total_debt_base <= before.total_debt_base
        assert all(v >= 0 for v in wallet.values())
        hf = after.health_factor_wad / WAD
        assert hf == pytest.approx(d.projected_health, rel=1e-12)
        if d.feasible:
            assert hf >= target - lim.tolerance_hf
        assert hf >= before.health_factor_wad / WAD  # a deleverage never lowers health
    if not d.feasible:
        assert d.best_reachable_health is not None and d.binding_constraint not in ("none", "target_health")
