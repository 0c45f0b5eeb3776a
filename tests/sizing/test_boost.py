"""Boost: D4/D5 vectors, exact per-round sizing, LTV gate invariant."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from manager.protocols.aave_v3 import math as aave
from manager.protocols.aave_v3.boost import plan_boost
from manager.sizing import vector
from manager.sizing._checks import BadInputError
from manager.sizing.caps import SizingLimits
from manager.sizing.fixed import WAD, percent_div
from tests.sizing.builders import USDC, WETH, a1, cpmm_curve

G = 0.997 * 0.998
LIM = SizingLimits(fallback_fee_bps=30, max_slippage_bps=20, safety_floor_hf=1.05, min_action_usd=0)


def test_d4_closed_form():
    assert float(vector.boost_amount(16500, 10000, 0.825, G, 1.3)) == pytest.approx(7305.0585, abs=1e-4)
    d = float(vector.boost_amount(16500, 10000, 0.825, G, 1.3, 0.0005))
    assert d == pytest.approx(7295.1615, abs=1e-4)
    assert d * 1.0005 == pytest.approx(7298.8091, abs=1e-4)


def test_d5_target_ratio_borrows():
    assert float(vector.max_borrow_for_target(16500, 10000, 1.2)) == pytest.approx(3750)
    # DFS safety ratio 160% -> 140% with LTV 0.8 (S = Σ C·LTV = 16000)
    assert float(vector.boost_amount(16000, 10000, 0.8, G, 1.4)) == pytest.approx(3311.2846, abs=1e-4)


def test_d4_plan_without_flash_needs_two_rounds_and_matches_total():
    d = plan_boost(a1(), 1.3, borrow_asset="USDC", supply_asset="WETH", limits=LIM)
    assert d.feasible and d.rounds == 2
    assert d.debt_deltas_wei["USDC"] / 1e6 == pytest.approx(7305.0585, abs=0.01)
    assert d.projected_health == pytest.approx(1.3, abs=1e-6) and d.projected_health >= 1.3
    first_borrow = d.steps[0]
    assert first_borrow.kind == "borrow" and first_borrow.projected_health >= 1.05 - 1e-12


def test_d4_plan_with_flash_one_round():
    d = plan_boost(a1(), 1.3, borrow_asset="USDC", supply_asset="WETH", limits=LIM, flash_premium_bps=5)
    assert d.rounds == 1 and [s.kind for s in d.steps] == ["flash_loan", "swap", "supply", "borrow"]
    assert d.steps[0].amount_wei / 1e6 == pytest.approx(7295.1615, abs=0.01)
    assert d.debt_deltas_wei["USDC"] / 1e6 == pytest.approx(7298.8091, abs=0.01)


def test_boost_already_below_target_is_none():
    d = plan_boost(a1(), 1.8, borrow_asset=USDC, supply_asset=WETH, limits=LIM)
    assert d.action == "none" and d.binding_constraint == "already_at_target"


def test_boost_bad_target():
    with pytest.raises(BadInputError, match="target_hf"):
        plan_boost(a1(), 0.9, borrow_asset=USDC, supply_asset=WETH)
    with pytest.raises(BadInputError, match="safety_floor"):
        plan_boost(a1(), 1.01, borrow_asset=USDC, supply_asset=WETH, limits=SizingLimits(safety_floor_hf=1.05))


def test_boost_supply_cap_binds():
    s = a1()
    res = dict(s.reserves)
    res[WETH] = res[WETH].model_copy(update={"supply_cap_tokens": 1000, "total_supply_wei": 999 * 10**18})
    d = plan_boost(s.model_copy(update={"reserves": res}), 1.3, borrow_asset=USDC, supply_asset=WETH, limits=LIM,
                   flash_premium_bps=5)
    assert d.binding_constraint == "supply_cap" and not d.feasible
    assert d.collateral_deltas_wei["WETH"] <= 10**18


@settings(max_examples=50, deadline=None)
@given(weth=st.integers(1, 500), price=st.integers(500, 5000), debt_frac=st.floats(0.0, 0.7),
       target=st.floats(1.06, 2.5), flash=st.sampled_from([None, 5]), depth=st.booleans())
def test_boost_never_breaks_ltv_gate(weth, price, debt_frac, target, flash, depth):
    debt = int(weth * price * 0.8 * debt_frac)
    s = a1(weth_price_base=price * 10**8, debt_usdc=0)
    s = s.model_copy(update={"assets": (
        s.assets[0].model_copy(update={"collateral_wei": weth * 10**18}),
        s.assets[1].model_copy(update={"variable_debt_wei": debt * 10**6, "borrowing": debt > 0}),
    )})
    hf0 = aave.health_factor(s)
    assume(hf0 > target * 1.01)
    curves = ({(USDC, WETH): cpmm_curve(USDC, WETH, 5e6 * price * 1e6, 5e6 * 1e18, fee_pips=500, dec_in=6, dec_out=18)}
              if depth else None)  # a 5-pip pool: within the 20 bps limit with the 10 bps tolerance
    d = plan_boost(s, target, borrow_asset=USDC, supply_asset=WETH, depth=curves, limits=LIM, flash_premium_bps=flash)
    pos = aave.exact_position(s)
    for step in d.steps:
        assert step.amount_wei > 0
        if step.kind == "borrow":
            acc = pos.account()
            amount_base = pos.line(USDC).price_base * step.amount_wei // 10**6
            # v3.0 validateBorrow: HF > 1 before and percentDiv(debt + amount, ltv) <= collateral
            assert acc.health_factor_wad > WAD
            assert percent_div(acc.total_debt_base + amount_base, acc.ltv_bps) <= acc.total_collateral_base
            pos = pos.with_deltas({USDC: (0, step.amount_wei)})
            if flash is None:
                assert pos.health_factor_wad() >= 1.05 * WAD - 1
        elif step.kind == "supply":
            pos = pos.with_deltas({WETH: (step.amount_wei, 0)})
    hf = pos.health_factor_wad() / WAD
    assert hf == pytest.approx(d.projected_health, rel=1e-12)
    assert hf >= target - 1e-12  # a boost never goes below its target (borrow rounds down)
    if d.feasible:
        assert hf <= target + LIM.tolerance_hf
