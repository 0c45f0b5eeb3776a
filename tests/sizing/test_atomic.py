"""Atomic (flash-loan, one transaction) sizing and venue splitting: exact target, cumulative impact, splits,
two-hop routes, partial depth-limited actions, and the invariants of a protective action (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manager.domain import DepthCurve
from manager.protocols.aave_v3 import math as aave
from manager.protocols.aave_v3.atomic import plan_atomic_boost, plan_atomic_deleverage
from manager.protocols.aave_v3.deleverage import PARTIAL_REASON, plan_deleverage
from manager.protocols.morpho_blue import math as mm
from manager.protocols.morpho_blue.atomic import plan_atomic_deleverage_morpho
from manager.sizing.atomic import min_health_wad
from manager.sizing.caps import SizingLimits
from manager.sizing.depth import SwapModel
from manager.sizing.fixed import WAD, percent_mul
from manager.sizing.venues import Venue, VenueSet, compose_curves, venue_set
from tests.sizing.builders import USDC, WETH, a1, cpmm_curve

WBTC = "0x000000000000000000000000000000000000e0b7"
LIM = SizingLimits(max_slippage_bps=100, min_action_usd=0)


def curve(reserve_weth: float, reserve_usdc: float, fee_pips: int = 500, pool: str = "0xpoolA") -> DepthCurve:
    c = cpmm_curve(WETH, USDC, reserve_weth * 1e18, reserve_usdc * 1e6, fee_pips=fee_pips, n=60, max_fraction=0.3)
    return c.model_copy(update={"pool": pool})


def replay_atomic(snapshot, d, premium_bps):
    """The contract's order on the exact integer position: flash, repay, withdraw, legs, repay flash."""
    pos = aave.exact_position(snapshot)
    steps = list(d.steps)
    flash = [s for s in steps if s.kind == "flash_loan"]
    assert len(flash) == 1 and steps[0].kind == "flash_loan" and steps[1].kind == "repay"  # repay first
    f = flash[0].amount_wei
    pos = pos.with_deltas({steps[1].asset: (0, -steps[1].amount_wei)})
    h_after_repay = pos.health_factor_wad()
    withdraw = [s for s in steps if s.kind == "withdraw"]
    assert len(withdraw) == 1
    pos = pos.with_deltas({withdraw[0].asset: (-withdraw[0].amount_wei, 0)})
    legs = [s for s in steps if s.kind == "swap"]
    assert sum(s.amount_wei for s in legs) == withdraw[0].amount_wei
    assert sum(s.min_amount_out_wei for s in legs) >= f + percent_mul(f, premium_bps)  # flash repaid from the legs
    return pos, h_after_repay


def test_atomic_reaches_the_target_exactly_in_one_transaction():
    snap = a1(weth_price_base=1300 * 10**8)
    d = plan_atomic_deleverage(snap, 1.5, premium_bps=9, depth={(WETH, USDC): curve(2000, 2_600_000)}, limits=LIM)
    assert d.action == "deleverage" and d.uses_flash_loan and d.feasible and not d.partial
    assert d.rounds == 1 and "atomic" in d.reason
    pos, _ = replay_atomic(snap, d, 9)
    assert 1.5 * WAD <= pos.health_factor_wad() <= 1.5005 * WAD
    assert d.projected_health == pytest.approx(pos.health(), rel=1e-12)


def test_direct_rounds_value_each_swap_after_the_earlier_ones():
    """Direct path: round 2's min-out is the curve's output after round 1's sale (cumulative), not from zero."""
    snap = a1(weth_price_base=1300 * 10**8)
    c = curve(200, 260_000, fee_pips=3000)
    lim = SizingLimits(max_slippage_bps=300, min_action_usd=0, safety_floor_hf=1.02)
    d = plan_deleverage(snap, 1.5, depth={(WETH, USDC): c}, limits=lim)
    swaps = [s for s in d.steps if s.kind == "swap"]
    assert len(swaps) >= 2
    model = SwapModel.from_curve(c, tolerance_bps=lim.swap_tolerance_bps)
    sold = 0
    for s in swaps:
        fresh = model.out_wei(s.amount_wei)
        after = model.out_wei(sold + s.amount_wei) - model.out_wei(sold) if sold else fresh
        assert s.min_amount_out_wei <= math.floor(after) + 1
        if sold:
            assert s.min_amount_out_wei < fresh  # a later round's sale gets less than it would alone
        sold += s.amount_wei


def test_split_across_fee_tiers_when_one_pool_is_not_enough():
    snap = a1(weth_price_base=1300 * 10**8)
    thin = curve(400, 520_000, fee_pips=500, pool="0xthin")
    other = curve(500, 650_000, fee_pips=3000, pool="0xother")
    one = plan_atomic_deleverage(snap, 1.5, premium_bps=9, depth={(WETH, USDC): thin}, limits=LIM)
    assert one.partial and PARTIAL_REASON in one.reason and not one.feasible
    both = plan_atomic_deleverage(snap, 1.5, premium_bps=9, depth={(WETH, USDC): (thin, other)}, limits=LIM)
    assert both.feasible and not both.partial
    legs = [s for s in both.steps if s.kind == "swap"]
    assert {s.fees_pips for s in legs} == {(500,), (3000,)}
    assert both.projected_health >= one.projected_health  # a split is never worse than a single pool
    replay_atomic(snap, both, 9)


def test_two_hop_route_when_there_is_no_direct_pool():
    mid_tok = "0x000000000000000000000000000000000000e0d1"
    a = cpmm_curve(WETH, mid_tok, 2000e18, 2_600_000e18, fee_pips=500, dec_out=18, n=60, max_fraction=0.3)
    b = cpmm_curve(mid_tok, USDC, 5_000_000e18, 5_000_000e6, fee_pips=100, dec_in=18, n=60, max_fraction=0.3)
    route = compose_curves(a, b)
    assert route.path == (WETH, mid_tok, USDC) and route.path_fees_pips == (500, 100)
    snap = a1(weth_price_base=1300 * 10**8)
    d = plan_atomic_deleverage(snap, 1.5, premium_bps=0, depth={(WETH, USDC): route}, limits=LIM)
    assert d.feasible
    legs = [s for s in d.steps if s.kind == "swap"]
    assert [s.path for s in legs] == [(WETH, mid_tok, USDC)] and legs[0].fees_pips == (500, 100)
    replay_atomic(snap, d, 0)


def test_partial_takes_the_largest_action_within_the_slippage_limit():
    snap = a1(weth_price_base=1300 * 10**8)
    thin = curve(20, 26_000, fee_pips=500)
    d = plan_atomic_deleverage(snap, 1.5, premium_bps=9, depth={(WETH, USDC): thin}, limits=LIM)
    assert d.partial and d.binding_constraint in ("pool_depth", "price_impact")
    cap = venue_set([thin], LIM, oracle_rate=1300 * 10.0 ** (6 - 18)).cap_wei  # within the limit at the oracle too
    sold = sum(s.amount_wei for s in d.steps if s.kind == "swap")
    assert cap * 0.999 <= sold <= cap  # the whole slippage budget, not more
    pos, _ = replay_atomic(snap, d, 9)
    assert pos.health() > d.health_before


def test_venue_legs_sum_and_are_valued_after_earlier_sales():
    v1 = venue_set([curve(100, 130_000, 500, "0x1")], LIM).venues[0]
    v2 = venue_set([curve(50, 65_000, 3000, "0x2")], LIM).venues[0]
    vs = VenueSet.merge([v1, v2])
    assert vs.cap_wei == pytest.approx(v1.cap_wei + v2.cap_wei)
    first = vs.legs(0.0, 10**18)
    later = vs.legs(float(10**18), 10**18)
    assert sum(lg.amount_in_wei for lg in first) == sum(lg.amount_in_wei for lg in later) == 10**18
    assert sum(lg.min_out_wei for lg in later) < sum(lg.min_out_wei for lg in first)
    # the merged output equals the sum of each venue's own output at the greedy allocation
    x = 0.7 * vs.cap_wei
    alloc = vs.allocation(x)
    assert sum(v.model.out_wei(a) for v, a in zip(vs.venues, alloc, strict=True)) == pytest.approx(
        vs.model.out_wei(x), rel=1e-9)


def test_atomic_boost_one_transaction_borrow_rounded_down():
    snap = a1(weth_price_base=2000 * 10**8, debt_usdc=5_000)
    back = cpmm_curve(USDC, WETH, 26_000_000e6, 20_000e18, fee_pips=500, dec_in=6, dec_out=18, n=60, max_fraction=0.3)
    d = plan_atomic_boost(snap, 1.6, borrow_asset="USDC", supply_asset="WETH", premium_bps=9,
                          depth={(USDC, WETH): back}, limits=LIM)
    assert d.action == "boost" and d.uses_flash_loan and d.rounds == 1
    kinds = [s.kind for s in d.steps]
    assert kinds == ["flash_loan", "swap", "supply", "borrow"]
    b, borrow = d.steps[0].amount_wei, d.steps[-1].amount_wei
    assert borrow == b + percent_mul(b, 9)
    pos = aave.exact_position(snap).with_deltas({WETH: (d.steps[2].amount_wei, 0)}).with_deltas({USDC: (0, borrow)})
    assert 1.6 * WAD <= pos.health_factor_wad() < 1.6 * WAD * 1.001


def _morpho(coll_wei: int, debt_wei: int, price: int):
    m = mm.MorphoMarket(loan_token=USDC, collateral_token=WETH, loan_symbol="USDC", collateral_symbol="WETH",
                        loan_decimals=6, collateral_decimals=18, lltv_wad=86 * 10**16,
                        total_borrow_assets=debt_wei * 3, total_borrow_shares=debt_wei * 3 * 10**6,
                        total_supply_assets=debt_wei * 5, total_supply_shares=debt_wei * 5 * 10**6,
                        oracle_price=price)
    shares = mm.to_shares_up(debt_wei, m.total_borrow_assets, m.total_borrow_shares)
    return m, mm.MorphoPosition(borrow_shares=shares, collateral_wei=coll_wei)


def test_morpho_atomic_reaches_the_exact_target():
    price = 1300 * 10**6 * 10**36 // 10**18
    m, p = _morpho(10 * 10**18, 10_000 * 10**6, price)
    d = plan_atomic_deleverage_morpho(m, p, 1.4, premium_bps=0, depth=curve(2000, 2_600_000), limits=LIM)
    assert d.feasible and d.uses_flash_loan
    f = d.steps[0].amount_wei
    x = next(s.amount_wei for s in d.steps if s.kind == "withdraw")
    m2, p2 = mm.apply_repay_assets(m, p, f)
    h = mm.health_factor(m2, mm.apply_withdraw_collateral(p2, x))
    assert 1.4 <= h < 1.4 * 1.0005
    assert sum(s.min_amount_out_wei for s in d.steps if s.kind == "swap") >= f


def test_min_health_floor_never_below_the_health_before():
    snap = a1(weth_price_base=1300 * 10**8)
    d = plan_atomic_deleverage(snap, 1.5, premium_bps=9, depth={(WETH, USDC): curve(2000, 2_600_000)}, limits=LIM)
    assert min_health_wad(d) >= math.floor(d.health_before * WAD)
    assert min_health_wad(d) <= d.projected_health * WAD


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(price=st.integers(900, 1700), debt=st.integers(3_000, 9_500), depth_weth=st.floats(5, 3000),
       target=st.floats(1.2, 2.0), two=st.booleans(), premium=st.sampled_from([0, 5, 9]))
def test_atomic_invariants(price, debt, depth_weth, target, two, premium):
    """Debt never rises, health after >= before, >= target - tolerance when feasible, every leg within the
    slippage limit, a split never worse than its best single pool."""
    snap = a1(weth_price_base=price * 10**8, debt_usdc=debt)
    if aave.exact_position(snap).health() >= target:
        return
    c1 = curve(depth_weth, depth_weth * price, 500, "0xa")
    c2 = curve(depth_weth / 2, depth_weth / 2 * price, 3000, "0xb")
    depth = {(WETH, USDC): (c1, c2) if two else c1}
    d = plan_atomic_deleverage(snap, target, premium_bps=premium, depth=depth, limits=LIM)
    if d.action == "none":
        return
    pos, _ = replay_atomic(snap, d, premium)
    before = aave.exact_position(snap)
    assert pos.line(USDC).debt_wei <= before.line(USDC).debt_wei
    assert pos.health_factor_wad() >= before.health_factor_wad()
    if d.feasible:
        assert pos.health() >= target - LIM.tolerance_hf
    for leg in (s for s in d.steps if s.kind == "swap"):
        c = c1 if leg.fees_pips in ((), (500,)) else c2
        mid_out = leg.amount_wei / 1e18 * c.mid_price * 1e6 * (1 - c.fee_pips / 1e6)
        quoted = SwapModel.from_curve(c).out_wei(leg.amount_wei)  # each venue's leg starts at 0 in one action
        assert quoted >= mid_out * (1 - LIM.max_slippage_bps / 1e4) * (1 - 1e-9)
        assert leg.min_amount_out_wei <= quoted * (1 - LIM.swap_tolerance_bps / 1e4) + 1
    if two:
        single = plan_atomic_deleverage(snap, target, premium_bps=premium, depth={(WETH, USDC): c1}, limits=LIM)
        if single.action != "none":  # both at the target (to rounding), or the split gets further
            assert d.feasible or not single.feasible
            assert d.projected_health >= min(single.projected_health, target) - 1e-6


def test_venue_merge_refuses_an_unbounded_venue():
    from manager.sizing._checks import BadInputError

    oracle = SwapModel.oracle(price_in_base=1.0, price_out_base=1.0, decimals_in=0, decimals_out=0, fee_bps=0,
                              haircut_bps=0)
    with pytest.raises(BadInputError):
        VenueSet.merge([Venue(oracle, math.inf), venue_set([curve(10, 13_000)], LIM).venues[0]])


def test_ledger_values_a_later_decision_after_the_earlier_ones_of_the_tick():
    """Two positions selling into the same pool in one tick: the second is valued after the first's sale (its
    min-out is lower than alone), and a route sharing a hop sees that hop's use too."""
    from manager.sizing.venues import DepthLedger, shift_curve

    c = curve(3000, 3_900_000, 500, "0xa")
    snap = a1(weth_price_base=1300 * 10**8)
    alone = plan_atomic_deleverage(snap, 1.5, premium_bps=0, depth={(WETH, USDC): c}, limits=LIM)
    ledger = DepthLedger()
    first = plan_atomic_deleverage(snap, 1.5, premium_bps=0, depth=ledger.shifted({(WETH, USDC): c}), limits=LIM)
    ledger.record(first.steps, {(WETH, USDC): c})
    second = plan_atomic_deleverage(snap, 1.5, premium_bps=0, depth=ledger.shifted({(WETH, USDC): c}), limits=LIM)
    out = lambda d: sum(s.min_amount_out_wei for s in d.steps if s.kind == "swap")  # noqa: E731
    sold = lambda d: sum(s.amount_wei for s in d.steps if s.kind == "swap")  # noqa: E731
    assert out(first) == out(alone)
    assert not first.partial and not second.partial
    assert sold(second) > sold(first)  # the same repay needs a larger sale after the first one's impact
    # a pool whose slippage budget the first sale used up has nothing left for the second
    thin = curve(300, 390_000, 500, "0xthin")
    led = DepthLedger()
    one = plan_atomic_deleverage(snap, 1.5, premium_bps=0, depth=led.shifted({(WETH, USDC): thin}), limits=LIM)
    led.record(one.steps, {(WETH, USDC): thin})
    assert one.partial
    assert plan_atomic_deleverage(snap, 1.5, premium_bps=0, depth=led.shifted({(WETH, USDC): thin}),
                                  limits=LIM).action == "none"
    # shifting by the whole quoted depth leaves nothing
    assert shift_curve(c, c.points[-1].amount_in_wei) is None
    # a two-hop route whose first hop is that pool is shifted too
    mid_tok = "0x000000000000000000000000000000000000e0d1"
    hop1 = cpmm_curve(WETH, mid_tok, 300e18, 390_000e18, fee_pips=500, dec_out=18, n=60, max_fraction=0.3)
    hop2 = cpmm_curve(mid_tok, USDC, 5e6 * 1e18, 5e6 * 1e6, fee_pips=100, dec_in=18, n=60, max_fraction=0.3)
    route = compose_curves(hop1, hop2)
    led = DepthLedger()
    led.shifted({(WETH, USDC): route})
    led.used[(WETH.lower(), mid_tok.lower(), 500)] = 5e18
    moved = led.shift(route)
    assert moved is not None
    assert SwapModel.from_curve(moved).out_wei(1e18) < SwapModel.from_curve(route).out_wei(1e18)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(price=st.integers(700, 1700), debt=st.integers(2_000, 11_000), depth_weth=st.floats(3, 3000),
       target=st.floats(1.1, 2.0), two=st.booleans())
def test_morpho_atomic_invariants(price, debt, depth_weth, target, two):
    """Morpho Blue atomic deleverage on the exact shares math: the flash repay never exceeds the debt and is
    covered by the legs' minimum outs; health after >= before; >= target when feasible; a split is never worse."""
    m, p = _morpho(10 * 10**18, debt * 10**6, price * 10**6 * 10**36 // 10**18)
    if mm.health_factor(m, p) >= target:
        return
    c1 = curve(depth_weth, depth_weth * price, 500, "0xa")
    c2 = curve(depth_weth / 2, depth_weth / 2 * price, 3000, "0xb")
    d = plan_atomic_deleverage_morpho(m, p, target, depth=(c1, c2) if two else c1, limits=LIM)
    if d.action == "none":
        return
    f = d.steps[0].amount_wei
    x = next(s.amount_wei for s in d.steps if s.kind == "withdraw")
    assert f <= mm.borrowed_assets(m, p)
    assert sum(s.min_amount_out_wei for s in d.steps if s.kind == "swap") >= f
    assert sum(s.amount_wei for s in d.steps if s.kind == "swap") == x
    m2, p2 = mm.apply_repay_assets(m, p, f)
    h = mm.health_factor(m2, mm.apply_withdraw_collateral(p2, x))
    assert h >= mm.health_factor(m, p)
    if d.feasible:
        assert h >= target - LIM.tolerance_hf
    if two:
        one = plan_atomic_deleverage_morpho(m, p, target, depth=c1, limits=LIM)
        if one.action != "none":
            assert d.feasible or not one.feasible
            assert d.projected_health >= min(one.projected_health, target) - 1e-6
