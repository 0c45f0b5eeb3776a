"""Pool depth: how much can be sold into a Uniswap V3 pool before the average price moves by k bps.

Everything here runs ``math.simulate_swap`` (the exact port of ``UniswapV3Pool.swap``, v3-core 1.0.1)
on a ``PoolState`` read at one block, so every amount is what the pool itself would return.

Definition (the fee COUNTS by default)::

    mid        = the pool's marginal price before the trade, out per in, from slot0.sqrtPriceX96
                 (zero for one: sqrtP^2 / 2^192; one for zero: 2^192 / sqrtP^2), no fee
    average    = amount_out / amount_in, where amount_in includes the LP fee (what the seller pays)
    impact_bps = (1 - average / mid) * 1e4

``max_input_for_impact(pool, zero_for_one, k_bps)`` is the largest ``amount_in`` (raw units of the
input token) with ``impact_bps <= k_bps``. Because the fee counts, a 30 bps pool has no depth at
k = 10 bps (the answer is 0): that is the honest answer to "what can I sell losing at most 10 bps
against the mid". With ``include_fee=False`` the fee is taken out first — the average is compared
to ``mid * (1 - fee_pips / 1e6)`` — which measures price impact alone.

The comparison is exact integer arithmetic (no floats). The search doubles an amount until the
condition fails and then bisects to one unit. Swap output is a floor-rounded integer, so at sizes
where one unit of output is itself more than k bps of the trade the condition can flicker; the
result then is a size that satisfies the condition while the next unit does not.

Pure: imports only the standard library and the project's own domain types and errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction

from manager.domain import BPS, DepthCurve, QuotePoint
from manager.errors import SizingError
from manager.protocols.uniswap_v3.math import (
    FEE_DENOMINATOR_PIPS,
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    Q96,
    SwapResult,
    TicksUnknownError,
    get_sqrt_ratio_at_tick,
    simulate_swap,
)
from manager.protocols.uniswap_v3.state import PoolState

__all__ = [
    "DEFAULT_K_BPS",
    "depth_curve",
    "impact_bps",
    "max_input_for_impact",
    "mid_price",
    "quote_exact_input",
    "within_impact",
]

DEFAULT_K_BPS = (10, 50, 100, 300)
_Q192 = Q96 * Q96


def mid_price_raw(pool: PoolState, zero_for_one: bool) -> Fraction:
    """Marginal price at the current sqrtPrice, raw out units per raw in unit, exact, before fees."""
    square = pool.sqrt_price_x96 * pool.sqrt_price_x96
    return Fraction(square, _Q192) if zero_for_one else Fraction(_Q192, square)


def mid_price(pool: PoolState, zero_for_one: bool) -> float:
    """Marginal price in token units (decimals applied) of the output token per input token."""
    raw = mid_price_raw(pool, zero_for_one)
    d_in, d_out = (pool.decimals0, pool.decimals1) if zero_for_one else (pool.decimals1, pool.decimals0)
    return float(raw * Fraction(10**d_in, 10**d_out))


def impact_bps(
    pool: PoolState, zero_for_one: bool, amount_in_wei: int, amount_out_wei: int, *, include_fee: bool = True
) -> float:
    """How much worse than the mid the average price of a trade is, in bps (see module docstring).

    A float for display and logs; decisions at a boundary use the exact ``within_impact``.
    """
    if amount_in_wei <= 0:
        raise SizingError("impact of a trade needs amount_in_wei > 0", amount_in_wei=amount_in_wei)
    reference = mid_price_raw(pool, zero_for_one)
    if not include_fee:
        reference *= Fraction(FEE_DENOMINATOR_PIPS - pool.fee_pips, FEE_DENOMINATOR_PIPS)
    average = Fraction(amount_out_wei, amount_in_wei)
    return float((1 - average / reference) * BPS)


def within_impact(
    pool: PoolState,
    zero_for_one: bool,
    amount_in_wei: int,
    amount_out_wei: int,
    k_bps: float | Fraction,
    *,
    include_fee: bool = True,
) -> bool:
    """Exactly ``impact_bps(...) <= k_bps`` (integer arithmetic, no float rounding at the boundary):
    ``out / in >= mid * (1 - k/1e4)``, times ``(1 - fee)`` when the fee is excluded."""
    reference = mid_price_raw(pool, zero_for_one) * (1 - Fraction(k_bps) / BPS)
    if not include_fee:
        reference *= Fraction(FEE_DENOMINATOR_PIPS - pool.fee_pips, FEE_DENOMINATOR_PIPS)
    return amount_out_wei * reference.denominator >= amount_in_wei * reference.numerator


def _limit_within_known_ticks(pool: PoolState, zero_for_one: bool) -> tuple[int, bool]:
    """The farthest price a simulation can reach exactly, and whether that is the pool's own end."""
    if zero_for_one:
        if pool.ticks_known_from <= MIN_TICK:
            return MIN_SQRT_RATIO + 1, True
        return max(get_sqrt_ratio_at_tick(pool.ticks_known_from), MIN_SQRT_RATIO + 1), False
    if pool.ticks_known_to >= MAX_TICK:
        return MAX_SQRT_RATIO - 1, True
    return min(get_sqrt_ratio_at_tick(pool.ticks_known_to), MAX_SQRT_RATIO - 1), False


def quote_exact_input(pool: PoolState, zero_for_one: bool, amount_in_wei: int) -> SwapResult:
    """Exact-input swap of ``amount_in_wei`` (fee included), stopping where the known ticks end.

    Like QuoterV2 with a zero price limit, except that a pool read only partly stops at the edge of
    the range read (``amount_in_wei`` of the result is then less than asked).
    """
    limit, _ = _limit_within_known_ticks(pool, zero_for_one)
    return simulate_swap(pool, zero_for_one, amount_in_wei, limit)


def _initial_guess(pool: PoolState, zero_for_one: bool, k: Fraction) -> int:
    """Input that moves the price about k bps with the in-range liquidity only (a search start)."""
    if pool.liquidity == 0 or k <= 0:
        return 1
    x = float(k) / BPS
    if zero_for_one:  # amount0 = L * 2^96 / sqrtP * x
        guess = pool.liquidity * Q96 // pool.sqrt_price_x96
    else:  # amount1 = L * sqrtP / 2^96 * x
        guess = pool.liquidity * pool.sqrt_price_x96 // Q96
    return max(1, int(guess * x))


def max_input_for_impact(
    pool: PoolState, zero_for_one: bool, k_bps: float | Fraction, *, include_fee: bool = True
) -> int:
    """Largest ``amount_in`` (raw input-token units, fee included) whose average price is at most
    ``k_bps`` worse than the mid. See the module docstring for the exact definition and for
    ``include_fee``.

    Returns 0 when even one unit is worse (e.g. the fee alone exceeds k) or the pool has no
    liquidity in that direction. When the whole pool can be swapped through within k bps, returns
    everything it can take. Raises ``TicksUnknownError`` if the answer lies beyond the ticks read.
    """
    k = Fraction(k_bps)
    if k < 0:
        raise SizingError(f"k_bps must be >= 0, got {k_bps}", k_bps=k_bps)
    limit, limit_is_pool_end = _limit_within_known_ticks(pool, zero_for_one)
    if (pool.sqrt_price_x96 <= limit) if zero_for_one else (pool.sqrt_price_x96 >= limit):
        return 0  # already at the end of the range: nothing more can be sold

    def run(amount: int) -> tuple[SwapResult, bool]:
        result = simulate_swap(pool, zero_for_one, amount, limit)
        return result, within_impact(
            pool, zero_for_one, result.amount_in_wei, result.amount_out_wei, k, include_fee=include_fee
        )

    # 1. double until the condition fails, or the swap stops at the end of the liquidity
    lo, hi = 0, _initial_guess(pool, zero_for_one, k)
    while True:
        result, ok = run(hi)
        if result.amount_in_wei < hi:  # stopped at the price limit: this is all the pool takes
            cap = result.amount_in_wei
            if cap == 0:
                return 0
            if ok:
                if not limit_is_pool_end:
                    raise TicksUnknownError(
                        f"depth at {k_bps} bps on pool {pool.address} lies beyond the ticks read "
                        f"[{pool.ticks_known_from}, {pool.ticks_known_to}] at block {pool.block_number}",
                        pool=pool.address,
                        block=pool.block_number,
                        k_bps=k_bps,
                    )
                return cap
            hi = cap
            break
        if not ok:
            break
        lo, hi = hi, hi * 2

    # 2. bisect to one unit: lo passes (or is 0), hi fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        result, ok = run(mid)
        if ok and result.amount_in_wei == mid:
            lo = mid
        else:
            hi = mid
    return lo


def _geometric_grid(top: int, points: int, span: int = 10**4) -> list[int]:
    """About ``points`` integer sizes from ``top / span`` to ``top``, evenly spaced in log."""
    if top <= 0 or points <= 0:
        return []
    bottom = Fraction(max(1, top // span))
    ratio = Fraction(top) / bottom
    sizes = {top}
    for i in range(points):
        value = float(bottom) * float(ratio) ** (i / max(1, points - 1))
        sizes.add(max(1, min(top, round(value))))
    return sorted(sizes)


def depth_curve(
    pool: PoolState,
    zero_for_one: bool,
    *,
    k_bps: Iterable[int] = DEFAULT_K_BPS,
    sizes_wei: Sequence[int] | None = None,
    grid_points: int = 16,
    grid_top_bps: int = 1000,
    include_fee: bool = True,
) -> DepthCurve:
    """Exact (amount_in, amount_out) points for one pool and direction, plus the depth at each k.

    Points: the depth at every k in ``k_bps``, the explicit ``sizes_wei`` if given, otherwise a
    geometric grid of ``grid_points`` sizes up to the depth at ``grid_top_bps`` (fee counted as set
    by ``include_fee``). Sizes beyond what the pool can take are reported with the input it takes.
    ``mid_price`` is out per in in token units, at the current sqrtPrice, before fees.
    """
    ks = sorted({int(k) for k in k_bps})
    depth_at_bps = {k: max_input_for_impact(pool, zero_for_one, k, include_fee=include_fee) for k in ks}
    if sizes_wei is None:
        top = max_input_for_impact(pool, zero_for_one, grid_top_bps, include_fee=include_fee)
        sizes = _geometric_grid(top, grid_points)
    else:
        sizes = [int(s) for s in sizes_wei if int(s) > 0]
    sizes = sorted(set(sizes) | {d for d in depth_at_bps.values() if d > 0})

    by_amount_in: dict[int, int] = {}
    for size in sizes:
        result = quote_exact_input(pool, zero_for_one, size)
        if result.amount_in_wei > 0:
            by_amount_in[result.amount_in_wei] = result.amount_out_wei
    points = tuple(QuotePoint(amount_in_wei=a, amount_out_wei=o) for a, o in sorted(by_amount_in.items()))

    token_in, token_out = (pool.token0, pool.token1) if zero_for_one else (pool.token1, pool.token0)
    symbol_in, symbol_out = (pool.symbol0, pool.symbol1) if zero_for_one else (pool.symbol1, pool.symbol0)
    decimals_in, decimals_out = (
        (pool.decimals0, pool.decimals1) if zero_for_one else (pool.decimals1, pool.decimals0)
    )
    return DepthCurve(
        pool=pool.address,
        token_in=token_in,
        token_out=token_out,
        symbol_in=symbol_in,
        symbol_out=symbol_out,
        decimals_in=decimals_in,
        decimals_out=decimals_out,
        fee_pips=pool.fee_pips,
        block_number=pool.block_number,
        mid_price=mid_price(pool, zero_for_one),
        points=points,
        depth_at_bps=depth_at_bps,
    )
