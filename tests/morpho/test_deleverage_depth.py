"""Morpho Blue deleverage sized like the Aave one: pool depth, per-action / per-day USD caps, safety floor.

Pure: a synthetic WETH/USDC market (LLTV 86%, oracle 3,000 USDC/WETH, USD feeds on both sides) and a
constant-product depth curve. Every plan is replayed with Morpho's exact share math
(``apply_withdraw_collateral`` / ``apply_repay_assets`` / ``apply_repay_shares``).
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.protocols.morpho_blue import math as mm
from manager.protocols.morpho_blue.plan import MorphoPlanContext, build_steps, decide_deleverage
from manager.protocols.morpho_blue.types import FeedReading, MarketParams, MorphoPositionSnapshot
from manager.sizing.caps import SizingLimits
from tests.sizing.builders import cpmm_curve

LOAN = "0x" + "11" * 20
COLL = "0x" + "22" * 20
LLTV = 86 * 10**16
TS = 1_700_000_000
NO_CAPS = SizingLimits(max_slippage_bps=100, min_action_usd=0)


def snapshot(coll_weth: float = 10.0, debt_usdc: float = 23_000.0, price: float = 3_000.0,
             *, feeds: bool = True) -> MorphoPositionSnapshot:
    tba, tbs = 4 * 10**12, 4 * 10**12 * 10**6 * 101 // 100  # interest accrued: 1 asset ~ 0.99e6 shares
    oracle = int(price * 10**8) * 10 ** (36 + 6 - 18 - 8)
    shares = mm.to_shares_up(int(debt_usdc * 1e6), tba, tbs)
    market = mm.MorphoMarket(loan_decimals=6, collateral_decimals=18, lltv_wad=LLTV, total_supply_assets=10**13,
                             total_supply_shares=10**19, total_borrow_assets=tba + int(debt_usdc * 1e6),
                             total_borrow_shares=tbs + shares, oracle_price=oracle)

    def feed(answer: float) -> FeedReading:
        return FeedReading(feed="0x" + "33" * 20, answer=int(answer * 1e8), decimals=8, round_id=1, updated_at=TS,
                           age_s=0, stale=False)

    return MorphoPositionSnapshot(
        name="m", morpho="0x" + "44" * 20, account="0x" + "55" * 20, block_number=100, block_timestamp=TS,
        market_id="0x" + "66" * 32, params=MarketParams(loan_token=LOAN, collateral_token=COLL, oracle="0x" + "77" * 20,
                                                         irm="0x" + "88" * 20, lltv_wad=LLTV),
        loan_symbol="USDC", collateral_symbol="WETH", loan_decimals=6, collateral_decimals=18, market=market,
        last_update=TS, position=mm.MorphoPosition(borrow_shares=shares, collateral_wei=int(coll_weth * 1e18)),
        collateral_feed=feed(price) if feeds else None, loan_feed=feed(1.0) if feeds else None)


def curve(reserve_weth: float = 20_000.0, price: float = 3_000.0, fee_pips: int = 500, **kw):
    return cpmm_curve(COLL, LOAN, reserve_weth * 1e18, reserve_weth * price * 1e6, fee_pips=fee_pips, **kw)


def replay(snap: MorphoPositionSnapshot, decision, floor_hf: float) -> list[float]:
    """Execute the steps with Morpho's exact bookkeeping; returns the health after every round."""
    m, p = snap.market_now, snap.position
    wallet = {COLL: 0, LOAN: 0}
    healths = [mm.health_factor(m, p)]
    for st_ in decision.steps:
        assert st_.amount_wei > 0
        if st_.kind == "withdraw":
            assert st_.amount_wei <= p.collateral_wei
            p = mm.apply_withdraw_collateral(p, st_.amount_wei)
            assert mm.is_healthy(m, p) and mm.health_factor(m, p) >= floor_hf
            wallet[COLL] += st_.amount_wei
        elif st_.kind == "swap":
            assert wallet[COLL] >= st_.amount_wei and st_.min_amount_out_wei > 0
            wallet[COLL] -= st_.amount_wei
            wallet[LOAN] += st_.min_amount_out_wei  # the guaranteed output, nothing more
        else:
            assert st_.kind == "repay" and wallet[LOAN] >= st_.amount_wei
            wallet[LOAN] -= st_.amount_wei
            b = mm.borrowed_assets(m, p)
            if st_.amount_wei >= b:
                m, p, _ = mm.apply_repay_shares(m, p, p.borrow_shares)
            else:
                m, p = mm.apply_repay_assets(m, p, st_.amount_wei)
            healths.append(mm.health_factor(m, p))
    assert healths[-1] == pytest.approx(decision.projected_health, rel=1e-12) or math.isinf(healths[-1])
    return healths


def test_depth_curve_changes_the_sizing_against_the_oracle_fallback():
    snap = snapshot()
    fallback = decide_deleverage(snap, 1.4, swap_haircut_bps=100, limits=NO_CAPS)
    deep = decide_deleverage(snap, 1.4, swap_haircut_bps=100, limits=NO_CAPS, depth={("WETH", "USDC"): curve()})
    shallow = decide_deleverage(snap, 1.4, swap_haircut_bps=100, limits=NO_CAPS,
                                depth={(COLL, LOAN): curve(reserve_weth=2_000.0)})
    for d in (fallback, deep, shallow):
        assert d.feasible and d.projected_health == pytest.approx(1.4, abs=1e-6) and d.projected_health >= 1.4
        replay(snap, d, NO_CAPS.safety_floor_hf)
    assert "oracle price less a 100 bps haircut (fallback)" in fallback.reason
    assert "depth curve" in deep.reason and "fallback" not in deep.reason
    sold = {name: -d.collateral_deltas_wei["WETH"] for name, d in
            (("fallback", fallback), ("deep", deep), ("shallow", shallow))}
    # a deep 5 bps pool gives more than the oracle less 1%: less collateral sold for the same target;
    # a shallow pool's price impact costs more than the deep one
    assert sold["deep"] < sold["fallback"] * 0.99
    assert sold["deep"] < sold["shallow"]
    # the swap's guaranteed output follows the curve: round 0 of the deep pool gets more per WETH
    rate = {n: d.steps[1].min_amount_out_wei / d.steps[1].amount_wei for n, d in (("fallback", fallback), ("deep", deep))}
    assert rate["deep"] > rate["fallback"]


def test_the_pool_is_used_cumulatively_across_rounds():
    snap = snapshot()
    d = decide_deleverage(snap, 1.4, limits=NO_CAPS, depth={("WETH", "USDC"): curve(reserve_weth=1_500.0)})
    swaps = [s for s in d.steps if s.kind == "swap"]
    assert len(swaps) >= 3
    rates = [s.min_amount_out_wei / s.amount_wei for s in swaps]
    # later rounds sell further down the same curve: the guaranteed price falls round after round
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(rates)) and rates[-1] < rates[0] * 0.999


def test_a_per_action_cap_binds_is_named_and_makes_k_rounds():
    snap = snapshot(10.0, 19_846.0)  # HF 1.3: room to withdraw what HF 1.5 needs in one round
    depth = {("WETH", "USDC"): curve()}
    free = decide_deleverage(snap, 1.5, limits=SizingLimits(max_slippage_bps=100, safety_floor_hf=1.0,
                                                            min_action_usd=0), depth=depth)
    assert free.rounds == 1 and free.binding_constraint == "target"
    sold_usd = -free.collateral_deltas_wei["WETH"] / 1e18 * 3_000
    cap = 1_000.0
    capped = decide_deleverage(snap, 1.5, limits=SizingLimits(max_slippage_bps=100, safety_floor_hf=1.0,
                                                              per_action_usd=cap, min_action_usd=0), depth=depth)
    assert capped.feasible and capped.projected_health == pytest.approx(1.5, abs=1e-6)
    assert capped.binding_constraint == "per_action_cap" and "per_action_cap" in capped.reason
    assert capped.rounds == math.ceil(sold_usd / cap) or capped.rounds == math.ceil(sold_usd / cap) + 1
    assert capped.rounds >= 4
    withdraws = [s for s in capped.steps if s.kind == "withdraw"]
    assert all(s.amount_wei / 1e18 * 3_000 <= cap for s in withdraws)
    # every round but the last sells the whole cap
    assert all(s.amount_wei / 1e18 * 3_000 == pytest.approx(cap, rel=1e-6) for s in withdraws[:-1])
    replay(snap, capped, 1.0)
    # the plan's calls carry those USD values, so the per-transaction policy cap sees them
    ctx = MorphoPlanContext(morpho=snap.morpho, router="0x" + "99" * 20, account=snap.account, max_slippage_bps=100)
    calls = build_steps(capped, snap, ctx)
    assert calls and all(0 < c.usd_value <= cap for c in calls)
    kinds = {c.kind for c in calls}
    assert {"withdraw", "swap", "repay"} <= kinds


def test_per_day_cap_stops_the_plan_with_the_best_reachable_health():
    snap = snapshot()
    d = decide_deleverage(snap, 1.4, limits=SizingLimits(max_slippage_bps=100, per_day_remaining_usd=5_000,
                                                         min_action_usd=0), depth={("WETH", "USDC"): curve()})
    assert not d.feasible and d.binding_constraint == "per_day_cap"
    assert d.health_before < d.projected_health < 1.4 and d.best_reachable_health == d.projected_health
    assert -d.collateral_deltas_wei["WETH"] / 1e18 * 3_000 <= 5_000
    assert "best reachable" in d.reason
    replay(snap, d, SizingLimits().safety_floor_hf)


def test_a_shallow_pool_is_capped_at_max_slippage_and_reports_it():
    snap = snapshot()
    d = decide_deleverage(snap, 1.4, limits=SizingLimits(max_slippage_bps=100, min_action_usd=0),
                          depth={("WETH", "USDC"): curve(reserve_weth=150.0)})
    assert not d.feasible and d.binding_constraint in ("pool_depth", "slippage_vs_oracle")
    assert d.projected_health > d.health_before
    swaps = [s for s in d.steps if s.kind == "swap"]
    # each swap keeps within max_slippage_bps of the oracle: what the plan's min-out and the policy require
    assert all(s.min_amount_out_wei >= s.amount_wei * 3_000e6 / 1e18 * 0.99 for s in swaps)
    ctx = MorphoPlanContext(morpho=snap.morpho, router="0x" + "99" * 20, account=snap.account, max_slippage_bps=100)
    for call in build_steps(d, snap, ctx):
        if call.swap is not None:
            assert call.swap.within_slippage(100)


def test_the_safety_floor_binds_every_withdraw_and_the_target_round_repays_exactly():
    snap = snapshot()
    lim = SizingLimits(max_slippage_bps=100, safety_floor_hf=1.05, min_action_usd=0)
    d = decide_deleverage(snap, 1.4, limits=lim, depth={("WETH", "USDC"): curve()})
    assert d.feasible and d.binding_constraint == "safety_floor_round" and d.rounds > 1
    healths = replay(snap, d, 1.05)
    assert healths[-1] >= 1.4 and healths[-1] - 1.4 < 1e-6  # the repay is rounded up, not padded
    # the last round repays the least that reaches the target: one unit less falls short
    *_, last = [s for s in d.steps if s.kind == "repay"]
    m, p = snap.market_now, snap.position
    for st_ in d.steps[:-1]:
        if st_.kind == "withdraw":
            p = mm.apply_withdraw_collateral(p, st_.amount_wei)
        elif st_.kind == "repay":
            m, p = mm.apply_repay_assets(m, p, st_.amount_wei)
    m_short, p_short = mm.apply_repay_assets(m, p, last.amount_wei - 2)
    assert mm.health_factor(m_short, p_short) < 1.4


def test_without_usd_feeds_the_caps_cannot_apply_and_the_reason_says_so():
    snap = snapshot(feeds=False)
    d = decide_deleverage(snap, 1.4, limits=SizingLimits(per_action_usd=1_000, min_action_usd=0))
    assert d.feasible and "USD caps not applied" in d.reason


def test_a_curve_keyed_by_symbol_for_other_tokens_is_ignored():
    snap = snapshot()
    other = cpmm_curve("0x" + "ab" * 20, LOAN, 2e21, 6e9, fee_pips=500)
    d = decide_deleverage(snap, 1.4, limits=NO_CAPS, depth={("WETH", "USDC"): other})
    assert "fallback" in d.reason


@settings(max_examples=60, deadline=None)
@given(coll=st.floats(1.0, 500.0), ltv=st.floats(0.55, 0.85), target=st.floats(1.1, 2.5),
       reserve=st.floats(30.0, 20_000.0), per_action=st.one_of(st.none(), st.floats(500.0, 200_000.0)),
       per_day=st.one_of(st.none(), st.floats(0.0, 500_000.0)), floor=st.floats(1.0, 1.08),
       use_depth=st.booleans())
def test_invariants(coll, ltv, target, reserve, per_action, per_day, floor, use_depth):
    """Never more debt, health never falls round over round, steps positive, withdraws within the position."""
    snap = snapshot(coll, coll * 3_000 * ltv)
    lim = SizingLimits(max_slippage_bps=100, per_action_usd=per_action, per_day_remaining_usd=per_day,
                       safety_floor_hf=floor, min_action_usd=0)
    depth = {("WETH", "USDC"): curve(reserve_weth=reserve)} if use_depth else None
    d = decide_deleverage(snap, target, limits=lim, depth=depth)
    h0 = snap.health_factor()
    healths = replay(snap, d, floor)
    assert all(b >= a for a, b in itertools.pairwise(healths))
    assert d.projected_health >= h0 - 1e-12
    assert all(v <= 0 for v in d.deltas_wei.values())  # collateral and debt only go down
    sold = -d.collateral_deltas_wei.get("WETH", 0)
    assert 0 <= sold <= snap.position.collateral_wei
    if per_action is not None:
        assert all(s.amount_wei / 1e18 * 3_000 <= per_action * (1 + 1e-9) for s in d.steps if s.kind == "withdraw")
    if per_day is not None:
        assert sold / 1e18 * 3_000 <= per_day * (1 + 1e-9)
    if d.feasible:
        assert d.projected_health >= target * (1 - 1e-6)
    elif d.steps:
        assert d.binding_constraint not in ("target", "already_at_target")


def test_cdp_health_passes_the_ticks_depth_and_limits_to_the_morpho_solver():
    from strategies import cdp_health
    from strategies.api import StrategyContext

    snap = snapshot()
    cfg = cdp_health.Config(trigger_health=1.15, target_health=1.4, cooldown_s=0)
    lim = SizingLimits(per_action_usd=2_500, max_slippage_bps=100)

    def decide(depth):
        ctx = StrategyContext(position="m", mode="manage", block_number=100, block_timestamp=TS, now_s=TS,
                              health=snap.health_factor(), limits=lim, depth=depth)
        return cdp_health.decide(cfg, snap, ctx)

    with_depth = decide({("WETH", "USDC"): curve()})
    without = decide({})
    assert with_depth.feasible and "depth curve" in with_depth.reason and "fallback" not in with_depth.reason
    assert "fallback" in without.reason
    assert with_depth.binding_constraint == "per_action_cap"
    assert all(s.amount_wei / 1e18 * 3_000 <= 2_500 for s in with_depth.steps if s.kind == "withdraw")
