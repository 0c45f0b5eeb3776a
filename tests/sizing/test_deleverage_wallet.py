"""Deleverage funded from the wallet (repay from the wallet; finish a plan that stopped half-way)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.protocols.aave_v3 import math as aave
from manager.protocols.aave_v3.deleverage import plan_deleverage
from manager.sizing._checks import BadInputError
from manager.sizing.caps import SizingLimits
from tests.sizing.builders import USDC, WETH, reserve, snapshot
from tests.sizing.test_deleverage import replay

WAD = 10**18


def at_floor(weth_price=1300):
    # 10 WETH, 10,640 USDC of debt: HF = 10*1300*0.825/10640 = 1.008 (below a 1.02 safety floor)
    return snapshot([reserve("WETH", weth_price * 10**8), reserve("USDC", 10**8)],
                    {"WETH": (10 * WAD, 0), "USDC": (0, 10_640 * 10**6)})


def replay_with_wallet(snap, decision, wallet0):
    pos = aave.exact_position(snap)
    wallet = dict(wallet0)
    for step in decision.steps:
        if step.kind == "withdraw":
            pos = pos.with_deltas({step.asset: (-step.amount_wei, 0)})
            wallet[step.asset] = wallet.get(step.asset, 0) + step.amount_wei
        elif step.kind == "swap":
            assert wallet.get(step.asset, 0) >= step.amount_wei
            wallet[step.asset] -= step.amount_wei
            wallet[step.asset_out] = wallet.get(step.asset_out, 0) + step.min_amount_out_wei
        elif step.kind == "repay":
            assert wallet.get(step.asset, 0) >= step.amount_wei
            wallet[step.asset] -= step.amount_wei
            pos = pos.with_deltas({step.asset: (0, -step.amount_wei)})
    return pos, wallet


def test_at_safety_floor_without_wallet_is_stuck():
    d = plan_deleverage(at_floor(), 1.3, limits=SizingLimits(safety_floor_hf=1.02))
    assert not d.feasible and d.binding_constraint == "safety_floor"


def test_withdrawn_collateral_in_wallet_finishes_the_deleverage():
    snap = at_floor()
    wallet = {WETH: 3 * WAD}  # what an interrupted plan withdrew but did not sell
    d = plan_deleverage(snap, 1.3, limits=SizingLimits(safety_floor_hf=1.02), wallet_wei=wallet)
    assert d.feasible and d.steps[0].kind == "swap" and d.steps[0].asset == WETH
    assert not any(s.kind == "withdraw" for s in d.steps) and d.action == "repay_from_wallet"
    pos, left = replay_with_wallet(snap, d, wallet)
    hf = pos.health_factor_wad() / WAD
    assert hf >= 1.3 - 1e-9 and hf == pytest.approx(1.3, rel=5e-3)
    assert left[WETH] >= 0


def test_debt_token_in_wallet_repays_directly():
    snap = at_floor()
    d = plan_deleverage(snap, 1.2, wallet_wei={"USDC": 50_000 * 10**6})
    assert [s.kind for s in d.steps] == ["repay"] and d.action == "repay_from_wallet"
    need = 10_640 - 10 * 1300 * 0.825 / 1.2
    assert d.steps[0].amount_wei / 1e6 == pytest.approx(need, rel=2e-3)  # solved 2e-4 above target
    pos, _ = replay_with_wallet(snap, d, {USDC: 50_000 * 10**6})
    assert pos.health_factor_wad() / WAD >= 1.2


def test_small_wallet_then_withdraw_rounds():
    snap = snapshot([reserve("WETH", 2000 * 10**8), reserve("USDC", 10**8)],
                    {"WETH": (10 * WAD, 0), "USDC": (0, 14_000 * 10**6)})  # HF 1.1786
    d = plan_deleverage(snap, 1.5, limits=SizingLimits(safety_floor_hf=1.02), wallet_wei={USDC: 500 * 10**6})
    assert d.steps[0].kind == "repay" and d.steps[0].amount_wei == 500 * 10**6
    assert any(s.kind == "withdraw" for s in d.steps) and d.action == "deleverage" and d.feasible


def test_bad_wallet_amount():
    with pytest.raises(BadInputError, match="wallet_wei"):
        plan_deleverage(at_floor(), 1.3, wallet_wei={WETH: -1})


@settings(max_examples=40, deadline=None)
@given(wallet_weth=st.integers(0, 20 * WAD), wallet_usdc=st.integers(0, 20_000 * 10**6), target=st.floats(1.05, 2.0))
def test_wallet_plans_never_raise_debt_or_lower_health(wallet_weth, wallet_usdc, target):
    snap = at_floor()
    wallet = {WETH: wallet_weth, USDC: wallet_usdc}
    lim = SizingLimits(safety_floor_hf=1.0)
    d = plan_deleverage(snap, target, limits=lim, wallet_wei=wallet)
    pos, left = replay_with_wallet(snap, d, wallet)
    assert all(v >= 0 for v in left.values())
    assert pos.account().total_debt_base <= aave.account_data(snap).total_debt_base
    hf = pos.health_factor_wad() / WAD
    assert hf == pytest.approx(d.projected_health, rel=1e-12) or math.isinf(hf)
    assert hf >= aave.health_factor(snap) and (not d.feasible or hf >= target - lim.tolerance_hf or math.isinf(hf))


def test_regression_float_bound_above_integer_collateral():
    """A float bound could round above the integer balance: withdraw more than held (found by hypothesis)."""
    from tests.sizing.builders import WSTETH  # noqa: F401

    price = 632
    coll_usd = price * 0.825 + price * 1.1 * 0.81
    debt_usd = int(coll_usd * 0.9375)
    s = snapshot([reserve("WETH", price * 10**8), reserve("wstETH", int(price * 1.1 * 10**8)), reserve("USDC", 10**8)],
                 {"WETH": (WAD, 0), "wstETH": (WAD, 0), "USDC": (0, debt_usd * 10**6)})
    lim = SizingLimits(safety_floor_hf=1.01, min_action_usd=0, max_rounds=30)
    d = plan_deleverage(s, 2.0, limits=lim)
    _pos, wallet = replay(s, d, floor_hf=1.01)
    assert all(v >= 0 for v in wallet.values())


def test_supply_mode_adds_wallet_collateral_without_a_swap():
    snap = at_floor()
    d = plan_deleverage(snap, 1.3, limits=SizingLimits(safety_floor_hf=1.02), wallet_wei={WETH: 10 * WAD},
                        wallet_mode="supply")
    assert [s.kind for s in d.steps] == ["supply"] and d.action == "add_collateral" and d.feasible
    # HF = (S + x·1300·0.825) / D = target  ->  x = (1.3·10640 - 10725) / 1072.5 ≈ 2.896 WETH
    assert d.steps[0].amount_wei / WAD == pytest.approx((1.3 * 10_640 - 10_725) / 1072.5, rel=1e-3)
    pos = aave.exact_position(snap).with_deltas({WETH: (d.steps[0].amount_wei, 0)})
    assert pos.health_factor_wad() / WAD >= 1.3
    assert d.collateral_deltas_wei["WETH"] == d.steps[0].amount_wei and not d.debt_deltas_wei


def test_supply_mode_respects_the_supply_cap_then_withdraws_nothing_more_than_needed():
    capped = snapshot([reserve("WETH", 1300 * 10**8, supply_cap_tokens=11, total_supply_wei=10 * WAD),
                       reserve("USDC", 10**8)], {"WETH": (10 * WAD, 0), "USDC": (0, 10_640 * 10**6)})
    d = plan_deleverage(capped, 1.3, limits=SizingLimits(safety_floor_hf=1.0), wallet_wei={WETH: 10 * WAD},
                        wallet_mode="supply")
    supplied = sum(s.amount_wei for s in d.steps if s.kind == "supply")
    assert 0 < supplied < 1 * WAD  # one WETH of cap room, less the rounding margin
    assert any(s.kind == "withdraw" for s in d.steps)  # the rest comes from the usual rounds


def test_wallet_mode_is_validated():
    with pytest.raises(BadInputError, match="wallet_mode"):
        plan_deleverage(at_floor(), 1.3, wallet_wei={WETH: WAD}, wallet_mode="gift")


def test_regression_wallet_sale_within_an_odd_balance():
    """float(2**54 - 1) == 2**54: the swap from the wallet sold one wei more than held (found by hypothesis)."""
    wallet = {WETH: 2**54 - 1, USDC: 0}
    d = plan_deleverage(at_floor(), 1.05, limits=SizingLimits(safety_floor_hf=1.0), wallet_wei=wallet)
    _, left = replay_with_wallet(at_floor(), d, wallet)
    assert all(v >= 0 for v in left.values())
