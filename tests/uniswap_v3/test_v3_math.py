"""Pure tests of the v3-core math port: known values, bounds, rounding directions, swap invariants.

The exactness against the deployed contracts is in ``test_v3_quoter_equality.py``; here we check the
properties the Solidity documents (rounding up/down, greatest tick <= price, no overshoot).
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal, getcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.protocols.uniswap_v3.math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    Q96,
    SwapMathError,
    TicksUnknownError,
    add_delta,
    compute_swap_step,
    get_amount0_delta,
    get_amount1_delta,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    mul_div,
    mul_div_rounding_up,
    next_initialized_tick_within_one_word,
    simulate_swap,
)
from tests.uniswap_v3.pools import layered_pool, pool_from_positions

ticks = st.integers(MIN_TICK, MAX_TICK)
sqrt_prices = st.integers(MIN_SQRT_RATIO, MAX_SQRT_RATIO - 1)
liquidities = st.integers(1, 2**128 - 1)
uint256 = st.integers(0, 2**256 - 1)


# --- FullMath ------------------------------------------------------------------------------------
@given(uint256, uint256, st.integers(1, 2**256 - 1))
def test_mul_div_is_floor_and_ceil_of_the_exact_quotient(a, b, d):
    exact = Fraction(a * b, d)
    if exact >= 2**256:
        with pytest.raises(SwapMathError):
            mul_div(a, b, d)
        return
    assert mul_div(a, b, d) == exact.__floor__()
    if exact.__ceil__() < 2**256:
        assert mul_div_rounding_up(a, b, d) == exact.__ceil__()


def test_mul_div_reverts_on_zero_denominator():
    with pytest.raises(SwapMathError):
        mul_div(1, 1, 0)


def test_liquidity_add_delta_reverts_like_the_contract():
    assert add_delta(10, -10) == 0
    assert add_delta(10, 5) == 15
    with pytest.raises(SwapMathError, match="LS"):
        add_delta(10, -11)
    with pytest.raises(SwapMathError, match="LA"):
        add_delta(2**128 - 1, 1)


# --- TickMath ------------------------------------------------------------------------------------
def test_sqrt_ratio_known_values_and_bounds():
    assert get_sqrt_ratio_at_tick(0) == Q96
    assert get_sqrt_ratio_at_tick(MIN_TICK) == MIN_SQRT_RATIO
    assert get_sqrt_ratio_at_tick(MAX_TICK) == MAX_SQRT_RATIO
    # values from v3-core's TickMath spec
    assert get_sqrt_ratio_at_tick(MIN_TICK + 1) == 4295343490
    assert get_sqrt_ratio_at_tick(MAX_TICK - 1) == 1461373636630004318706518188784493106690254656249
    for bad in (MIN_TICK - 1, MAX_TICK + 1):
        with pytest.raises(SwapMathError, match="T"):
            get_sqrt_ratio_at_tick(bad)


def test_tick_at_sqrt_ratio_bounds():
    assert get_tick_at_sqrt_ratio(MIN_SQRT_RATIO) == MIN_TICK
    assert get_tick_at_sqrt_ratio(MIN_SQRT_RATIO + 1) == MIN_TICK
    assert get_tick_at_sqrt_ratio(MAX_SQRT_RATIO - 1) == MAX_TICK - 1
    assert get_tick_at_sqrt_ratio(Q96) == 0
    assert get_tick_at_sqrt_ratio(Q96 - 1) == -1
    for bad in (MIN_SQRT_RATIO - 1, MAX_SQRT_RATIO):
        with pytest.raises(SwapMathError, match="R"):
            get_tick_at_sqrt_ratio(bad)


@given(ticks)
def test_sqrt_ratio_matches_high_precision_value(tick):
    getcontext().prec = 80
    exact = (Decimal("1.0001") ** tick).sqrt() * Q96
    got = Decimal(get_sqrt_ratio_at_tick(tick))
    assert abs(got - exact) / exact < Decimal("1e-12") or abs(got - exact) <= 1


@given(st.integers(MIN_TICK, MAX_TICK - 1))
def test_sqrt_ratio_is_strictly_increasing(tick):
    assert get_sqrt_ratio_at_tick(tick) < get_sqrt_ratio_at_tick(tick + 1)


@given(ticks)
def test_tick_round_trip(tick):
    if tick == MAX_TICK:
        return  # MAX_SQRT_RATIO itself is outside getTickAtSqrtRatio's domain
    assert get_tick_at_sqrt_ratio(get_sqrt_ratio_at_tick(tick)) == tick


@given(sqrt_prices)
@settings(max_examples=300)
def test_tick_at_sqrt_ratio_is_the_greatest_tick_at_or_below(sqrt_price):
    tick = get_tick_at_sqrt_ratio(sqrt_price)
    assert get_sqrt_ratio_at_tick(tick) <= sqrt_price
    if tick < MAX_TICK:
        assert sqrt_price < get_sqrt_ratio_at_tick(tick + 1)


# --- SqrtPriceMath -------------------------------------------------------------------------------
@given(sqrt_prices, sqrt_prices, liquidities)
def test_amount_deltas_bracket_the_exact_value(a, b, liquidity):
    lo, hi = min(a, b), max(a, b)
    exact0 = Fraction(liquidity * Q96 * (hi - lo), hi * lo)
    exact1 = Fraction(liquidity * (hi - lo), Q96)
    down0, up0 = get_amount0_delta(a, b, liquidity, False), get_amount0_delta(a, b, liquidity, True)
    down1, up1 = get_amount1_delta(a, b, liquidity, False), get_amount1_delta(a, b, liquidity, True)
    assert down0 <= exact0 <= up0 and up0 - down0 <= 1
    assert down1 <= exact1 <= up1 and up1 - down1 <= 1
    assert get_amount0_delta(b, a, liquidity, True) == up0  # argument order does not matter


@given(sqrt_prices, liquidities, st.integers(1, 2**128))
def test_next_price_from_input_never_overshoots(sqrt_price, liquidity, amount):
    # token0 in: the price falls, rounded up (moves less); token1 in: rises, rounded down
    try:
        after0 = get_next_sqrt_price_from_input(sqrt_price, liquidity, amount, True)
        exact0 = Fraction(liquidity * Q96 * sqrt_price, liquidity * Q96 + amount * sqrt_price)
        assert exact0 <= after0 <= sqrt_price
        # paying for the move from sqrt_price to after0 never costs more than amount
        assert get_amount0_delta(after0, sqrt_price, liquidity, True) <= amount
    except SwapMathError:
        pass
    try:
        after1 = get_next_sqrt_price_from_input(sqrt_price, liquidity, amount, False)
        exact1 = sqrt_price + Fraction(amount * Q96, liquidity)
        assert sqrt_price <= after1 <= exact1
        assert get_amount1_delta(sqrt_price, after1, liquidity, True) <= amount
    except SwapMathError:
        pass


@given(sqrt_prices, liquidities, st.integers(1, 2**128))
def test_next_price_from_output_always_reaches(sqrt_price, liquidity, amount):
    # token1 out: the price falls at least far enough; token0 out: rises at least far enough
    try:
        after = get_next_sqrt_price_from_output(sqrt_price, liquidity, amount, True)
        assert after <= sqrt_price - Fraction(amount * Q96, liquidity)
        assert get_amount1_delta(after, sqrt_price, liquidity, False) >= amount
    except SwapMathError:
        pass
    try:
        after = get_next_sqrt_price_from_output(sqrt_price, liquidity, amount, False)
        assert after >= Fraction(liquidity * Q96 * sqrt_price, liquidity * Q96 - amount * sqrt_price)
    except (SwapMathError, ZeroDivisionError):
        pass


def test_next_price_from_output_reverts_when_the_output_exceeds_reserves():
    liquidity = 10**18
    reserve1 = get_amount1_delta(MIN_SQRT_RATIO, Q96, liquidity, False)
    with pytest.raises(SwapMathError):
        get_next_sqrt_price_from_output(Q96, liquidity, 10 * reserve1, True)
    with pytest.raises(SwapMathError):
        get_next_sqrt_price_from_output(Q96, liquidity, 10**40, False)


# --- SwapMath ------------------------------------------------------------------------------------
@given(
    sqrt_prices,
    sqrt_prices,
    st.integers(0, 2**128 - 1),
    st.integers(-(2**200), 2**200),
    st.integers(1, 10**6 - 1),
)
@settings(max_examples=400)
def test_compute_swap_step_invariants(current, target, liquidity, remaining, fee_pips):
    if remaining == 0:
        return
    try:
        step = compute_swap_step(current, target, liquidity, remaining, fee_pips)
    except SwapMathError:
        return
    lo, hi = min(current, target), max(current, target)
    assert lo <= step.sqrt_ratio_next_x96 <= hi  # never passes the target
    if remaining > 0:
        assert step.amount_in_wei + step.fee_amount_wei <= remaining
    else:
        assert step.amount_out_wei <= -remaining
    if step.sqrt_ratio_next_x96 != target:  # stopped early: the amount was used up
        if remaining > 0:
            assert step.amount_in_wei + step.fee_amount_wei == remaining
        else:
            assert step.amount_out_wei == -remaining


def test_compute_swap_step_exact_in_one_for_zero_capped_at_target():
    # v3-core SwapMath spec: "exact amount in that gets capped at price target in one for zero"
    price = Q96
    target = 79623317895830914510639640423  # encodePriceSqrt(101, 100)
    step = compute_swap_step(price, target, 2 * 10**18, 10**18, 600)
    assert step.amount_in_wei == 9975124224178055
    assert step.fee_amount_wei == 5988667735148
    assert step.amount_out_wei == 9925619580021728
    assert step.sqrt_ratio_next_x96 == target


# --- TickBitmap ----------------------------------------------------------------------------------
def test_next_initialized_tick_within_one_word_mirrors_the_bitmap():
    pool = pool_from_positions(Q96, [(-200, 780, 1), (-55 * 60, 70, 1)], tick_spacing=10)
    # spacing 10, initialized ticks -3300, -200, 70, 780; one word = 256 compressed ticks = 2560 ticks
    assert next_initialized_tick_within_one_word(pool, 0, False) == (70, True)
    assert next_initialized_tick_within_one_word(pool, 70, False) == (780, True)
    assert next_initialized_tick_within_one_word(pool, 780, False) == (2550, False)  # word edge
    assert next_initialized_tick_within_one_word(pool, 0, True) == (0, False)  # bit 0 of word 0: its edge
    assert next_initialized_tick_within_one_word(pool, -1, True) == (-200, True)
    assert next_initialized_tick_within_one_word(pool, -201, True) == (-2560, False)  # word edge
    assert next_initialized_tick_within_one_word(pool, -2561, True) == (-3300, True)
    # a tick that is not a multiple of the spacing is compressed towards negative infinity
    assert next_initialized_tick_within_one_word(pool, -195, True) == (-200, True)
    assert next_initialized_tick_within_one_word(pool, 69, False) == (70, True)


# --- simulate_swap -------------------------------------------------------------------------------
POOL = layered_pool()


def test_simulate_swap_crosses_ranges_and_counts_ticks():
    small = simulate_swap(POOL, True, 10**15)
    assert small.ticks_crossed == 0 and small.liquidity_after == POOL.liquidity
    big = simulate_swap(POOL, True, 5 * 10**22)
    assert big.ticks_crossed >= 3
    assert big.sqrt_price_after_x96 < small.sqrt_price_after_x96
    assert get_sqrt_ratio_at_tick(big.tick_after) <= big.sqrt_price_after_x96
    assert big.sqrt_price_after_x96 <= get_sqrt_ratio_at_tick(big.tick_after + 1)
    up = simulate_swap(POOL, False, 10**14)
    assert up.ticks_crossed == 5  # goes through the tick where two positions meet (net 0)


def test_simulate_swap_reverts_like_the_pool():
    with pytest.raises(SwapMathError, match="AS"):
        simulate_swap(POOL, True, 0)
    with pytest.raises(SwapMathError, match="SPL"):
        simulate_swap(POOL, True, 1, POOL.sqrt_price_x96 + 1)
    with pytest.raises(SwapMathError, match="SPL"):
        simulate_swap(POOL, False, 1, MAX_SQRT_RATIO)


def test_simulate_swap_stops_at_the_price_limit():
    limit = get_sqrt_ratio_at_tick(POOL.tick - 500)
    result = simulate_swap(POOL, True, 10**30, limit)
    assert result.sqrt_price_after_x96 == limit
    assert result.amount_in_wei < 10**30


def test_simulate_swap_refuses_to_walk_past_the_ticks_read():
    s = POOL.tick_spacing
    word = 256 * s
    lo = (POOL.tick // word) * word
    known = tuple(t for t in POOL.ticks if lo <= t[0] < lo + word)
    partial = type(POOL)(
        **{**POOL.model_dump(), "ticks": known, "ticks_known_from": lo, "ticks_known_to": lo + word - 1}
    )
    simulate_swap(partial, True, 10**12)  # stays inside
    with pytest.raises(TicksUnknownError):
        simulate_swap(partial, True, 10**24)


@given(st.integers(1, 10**22), st.booleans())
@settings(max_examples=60, deadline=None)
def test_exact_output_of_an_exact_input_quote_costs_no_more(amount_in, zero_for_one):
    if not zero_for_one:
        amount_in //= 10**9  # token1 is the 6-decimal token
        if amount_in == 0:
            return
    forward = simulate_swap(POOL, zero_for_one, amount_in)
    if forward.amount_out_wei == 0 or forward.amount_in_wei < amount_in:
        return
    back = simulate_swap(POOL, zero_for_one, -forward.amount_out_wei)
    assert back.amount_out_wei == forward.amount_out_wei
    assert back.amount_in_wei <= amount_in


@given(st.integers(1, 10**21), st.integers(1, 10**21))
@settings(max_examples=60, deadline=None)
def test_more_input_never_gives_less_output(a, b):
    lo, hi = sorted((a, b))
    assert simulate_swap(POOL, True, lo).amount_out_wei <= simulate_swap(POOL, True, hi).amount_out_wei


def test_pure_modules_import_no_io_libraries():
    code = (
        "import sys\n"
        "import manager.protocols.uniswap_v3.math, manager.protocols.uniswap_v3.depth\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('web3', 'eth_abi', 'eth_account', 'sqlmodel', 'requests', 'aiohttp'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
