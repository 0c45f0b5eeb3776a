"""Pure tests of pool depth: the k-bps definition holds at the boundary, monotone in k, fee handling."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.domain import DepthCurve
from manager.protocols.uniswap_v3.depth import (
    depth_curve,
    impact_bps,
    max_input_for_impact,
    mid_price,
    quote_exact_input,
    within_impact,
)
from manager.protocols.uniswap_v3.math import Q96, TicksUnknownError, get_sqrt_ratio_at_tick, simulate_swap
from tests.uniswap_v3.pools import layered_pool, pool_from_positions

POOL = layered_pool()
POOL_5BPS = layered_pool(fee_pips=500, tick_spacing=10)


def _within(pool, zero_for_one, amount, k_bps, include_fee=True):
    result = simulate_swap(pool, zero_for_one, amount)
    assert result.amount_in_wei == amount
    exact = within_impact(pool, zero_for_one, amount, result.amount_out_wei, k_bps, include_fee=include_fee)
    approx = impact_bps(pool, zero_for_one, amount, result.amount_out_wei, include_fee=include_fee)
    assert approx == pytest.approx(k_bps, abs=1e-6) or exact == (approx <= k_bps)
    return exact


@pytest.mark.parametrize("pool", [POOL, POOL_5BPS], ids=["30bps", "5bps"])
@pytest.mark.parametrize("zero_for_one", [True, False])
@pytest.mark.parametrize("k_bps", [10, 50, 100, 300])
def test_depth_is_the_boundary_of_the_k_bps_condition(pool, zero_for_one, k_bps):
    depth = max_input_for_impact(pool, zero_for_one, k_bps)
    fee_bps = pool.fee_pips / 100
    if k_bps < fee_bps:
        assert depth == 0  # the fee alone is worse than k
        return
    assert depth > 0
    assert _within(pool, zero_for_one, depth, k_bps)
    assert not _within(pool, zero_for_one, depth + 1, k_bps)
    assert not _within(pool, zero_for_one, depth * 2, k_bps)


@pytest.mark.parametrize("zero_for_one", [True, False])
def test_excluding_the_fee_measures_impact_alone(zero_for_one):
    with_fee = max_input_for_impact(POOL, zero_for_one, 50)
    without = max_input_for_impact(POOL, zero_for_one, 50, include_fee=False)
    assert without > with_fee
    assert _within(POOL, zero_for_one, without, 50, include_fee=False)
    assert not _within(POOL, zero_for_one, without + 1, 50, include_fee=False)
    # below the fee, only the fee-excluded variant has depth
    assert max_input_for_impact(POOL, zero_for_one, 10) == 0
    assert max_input_for_impact(POOL, zero_for_one, 10, include_fee=False) > 0


@given(st.integers(0, 2000), st.integers(0, 2000), st.booleans())
@settings(max_examples=25, deadline=None)
def test_depth_is_monotone_in_k(k1, k2, zero_for_one):
    lo, hi = sorted((k1, k2))
    assert max_input_for_impact(POOL_5BPS, zero_for_one, lo) <= max_input_for_impact(
        POOL_5BPS, zero_for_one, hi
    )


def test_depth_grows_with_liquidity():
    thin = pool_from_positions(Q96, [(-6000, 6000, 10**18)], fee_pips=500, tick_spacing=10)
    thick = pool_from_positions(Q96, [(-6000, 6000, 10**20)], fee_pips=500, tick_spacing=10)
    for zero_for_one in (True, False):
        a, b = max_input_for_impact(thin, zero_for_one, 50), max_input_for_impact(thick, zero_for_one, 50)
        assert 99 * a <= b <= 101 * a


def test_fractional_k_is_allowed():
    assert max_input_for_impact(POOL_5BPS, True, Fraction(55, 2)) <= max_input_for_impact(POOL_5BPS, True, 28)


def test_whole_pool_within_k_returns_everything_it_takes():
    # one narrow range: the whole range is consumed within 300 bps when the range is 40 bps wide
    pool = pool_from_positions(
        get_sqrt_ratio_at_tick(20) + 1, [(0, 40, 10**20)], fee_pips=100, tick_spacing=10
    )
    depth = max_input_for_impact(pool, True, 300)
    everything = simulate_swap(pool, True, 2**200)
    assert depth == everything.amount_in_wei
    assert max_input_for_impact(pool, True, 0) == 0


def test_no_liquidity_means_no_depth():
    pool = pool_from_positions(get_sqrt_ratio_at_tick(100), [(-600, 0, 10**18)], tick_spacing=60)
    assert pool.liquidity == 0
    assert max_input_for_impact(pool, False, 300) == 0  # nothing above the price


def test_depth_beyond_the_ticks_read_is_refused():
    word = 256 * POOL.tick_spacing
    lo = (POOL.tick // word) * word
    partial = type(POOL)(
        **{
            **POOL.model_dump(),
            "ticks": tuple(t for t in POOL.ticks if lo <= t[0] < lo + word),
            "ticks_known_from": lo,
            "ticks_known_to": lo + word - 1,
        }
    )
    assert max_input_for_impact(partial, True, 50) == max_input_for_impact(POOL, True, 50)
    with pytest.raises(TicksUnknownError):
        max_input_for_impact(partial, True, 9000)


def test_mid_price_in_token_units():
    # tick -200040 with 18/6 decimals: 1.0001^-200040 * 1e12 ~ 2055 USDC per WETH
    expected = 1.0001**POOL.tick * 10**12
    assert mid_price(POOL, True) == pytest.approx(expected, rel=1e-4)
    assert mid_price(POOL, False) == pytest.approx(1 / expected, rel=1e-4)


@pytest.mark.parametrize("zero_for_one", [True, False])
def test_depth_curve_points_are_exact_quotes(zero_for_one):
    curve = depth_curve(POOL, zero_for_one)
    assert isinstance(curve, DepthCurve)
    assert curve.block_number == POOL.block_number and curve.fee_pips == 3000
    assert set(curve.depth_at_bps) == {10, 50, 100, 300}
    amounts_in = [p.amount_in_wei for p in curve.points]
    assert amounts_in == sorted(amounts_in) and amounts_in[0] > 0 and len(amounts_in) >= 10
    outs = [p.amount_out_wei for p in curve.points]
    assert outs == sorted(outs)
    for depth in curve.depth_at_bps.values():
        if depth:
            assert depth in amounts_in
    for point in curve.points:
        assert (
            quote_exact_input(POOL, zero_for_one, point.amount_in_wei).amount_out_wei == point.amount_out_wei
        )
    # the average price only gets worse with size
    averages = [p.amount_out_wei / p.amount_in_wei for p in curve.points if p.amount_out_wei > 10**3]
    assert all(a >= b * (1 - 1e-9) for a, b in pairwise(averages))
    token_in = POOL.token0 if zero_for_one else POOL.token1
    assert curve.token_in == token_in and curve.mid_price == mid_price(POOL, zero_for_one)


def test_depth_curve_with_explicit_sizes():
    curve = depth_curve(POOL, True, k_bps=(50,), sizes_wei=[10**18, 10**19, 10**19, 0])
    assert [p.amount_in_wei for p in curve.points] == sorted({10**18, 10**19, curve.depth_at_bps[50]})
