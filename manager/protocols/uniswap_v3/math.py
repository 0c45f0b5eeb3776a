"""Exact integer port of the Uniswap V3 swap math (v3-core 1.0.1) and of the pool's swap loop.

Mirrored Solidity (``@uniswap/v3-core@1.0.1``, ``contracts/``):

- ``libraries/FullMath.sol``      -> ``mul_div``, ``mul_div_rounding_up``
- ``libraries/UnsafeMath.sol``    -> ``div_rounding_up``
- ``libraries/TickMath.sol``      -> ``get_sqrt_ratio_at_tick``, ``get_tick_at_sqrt_ratio``
- ``libraries/SqrtPriceMath.sol`` -> ``get_next_sqrt_price_from_input/_output``, ``get_amount0_delta``,
  ``get_amount1_delta`` (and the two ``getNextSqrtPriceFromAmount*`` helpers)
- ``libraries/SwapMath.sol``      -> ``compute_swap_step``
- ``libraries/LiquidityMath.sol`` -> ``add_delta``
- ``libraries/TickBitmap.sol``    -> ``next_initialized_tick_within_one_word`` (over ``PoolState.ticks``)
- ``UniswapV3Pool.sol`` ``swap``  -> ``simulate_swap`` (the while loop; no transfers, fees or oracle)

Every ``require`` that can fire on the way is kept and raises ``SwapMathError`` (a revert), and every
rounding direction is the contract's, so ``simulate_swap`` returns exactly what the pool would do at
the block the ``PoolState`` was read at. Python integers do not overflow, so the uint256 overflow
checks of the Solidity (e.g. ``product / amount == sqrtPX96``) are written as explicit comparisons.

Pure: imports only the standard library and the project's own types and errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from manager.errors import DataQualityError, SizingError
from manager.protocols.uniswap_v3.state import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
)

if TYPE_CHECKING:
    from manager.protocols.uniswap_v3.state import PoolState

__all__ = [
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "Q96",
    "StepResult",
    "SwapMathError",
    "SwapResult",
    "TicksUnknownError",
    "add_delta",
    "compute_swap_step",
    "div_rounding_up",
    "get_amount0_delta",
    "get_amount1_delta",
    "get_next_sqrt_price_from_input",
    "get_next_sqrt_price_from_output",
    "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio",
    "mul_div",
    "mul_div_rounding_up",
    "next_initialized_tick_within_one_word",
    "simulate_swap",
]

Q96 = 2**96
UINT160_MAX = 2**160 - 1
UINT128_MAX = 2**128 - 1
UINT256_MAX = 2**256 - 1
INT256_MAX = 2**255 - 1
FEE_DENOMINATOR_PIPS = 10**6


class SwapMathError(SizingError):
    """The contract would revert here (a ``require`` of v3-core failed). ``reason`` names it."""


class TicksUnknownError(DataQualityError):
    """The swap would walk past the range of ticks that was read: the simulation cannot be exact."""


def _revert(reason: str, **context: object) -> SwapMathError:
    return SwapMathError(f"uniswap v3 math reverts: {reason}", reason=reason, **context)


# ------------------------------------------------------------------------------------------------
# FullMath.sol, UnsafeMath.sol, LiquidityMath.sol, SafeCast.sol
# ------------------------------------------------------------------------------------------------
def mul_div(a: int, b: int, denominator: int) -> int:
    """``FullMath.mulDiv``: floor(a * b / denominator) with a 512-bit product; reverts past uint256."""
    if denominator <= 0:
        raise _revert("mulDiv denominator is 0", a=a, b=b)
    result = a * b // denominator
    if result > UINT256_MAX:
        raise _revert("mulDiv result overflows uint256", a=a, b=b, denominator=denominator)
    return result


def mul_div_rounding_up(a: int, b: int, denominator: int) -> int:
    """``FullMath.mulDivRoundingUp``: ceil(a * b / denominator); reverts past uint256."""
    result = mul_div(a, b, denominator)
    if (a * b) % denominator > 0:
        if result >= UINT256_MAX:
            raise _revert("mulDivRoundingUp result overflows uint256", a=a, b=b, denominator=denominator)
        result += 1
    return result


def div_rounding_up(x: int, y: int) -> int:
    """``UnsafeMath.divRoundingUp``: ceil(x / y). Division by zero is the caller's to exclude."""
    return x // y + (1 if x % y > 0 else 0)


def add_delta(x: int, y: int) -> int:
    """``LiquidityMath.addDelta``: uint128 plus int128, reverting ``LS``/``LA`` on under/overflow."""
    z = x + y
    if y < 0 and z < 0:
        raise _revert("LS", liquidity=x, delta=y)
    if y >= 0 and z > UINT128_MAX:
        raise _revert("LA", liquidity=x, delta=y)
    return z


def _to_uint160(y: int) -> int:
    """``SafeCast.toUint160``."""
    if y > UINT160_MAX:
        raise _revert("toUint160 overflow", value=y)
    return y


# ------------------------------------------------------------------------------------------------
# TickMath.sol
# ------------------------------------------------------------------------------------------------
_TICK_MULTIPLIERS = (
    (0x2, 0xFFF97272373D413259A46990580E213A),
    (0x4, 0xFFF2E50F5F656932EF12357CF3C7FDCC),
    (0x8, 0xFFE5CACA7E10E4E61C3624EAA0941CD0),
    (0x10, 0xFFCB9843D60F6159C9DB58835C926644),
    (0x20, 0xFF973B41FA98C081472E6896DFB254C0),
    (0x40, 0xFF2EA16466C96A3843EC78B326B52861),
    (0x80, 0xFE5DEE046A99A2A811C461F1969C3053),
    (0x100, 0xFCBE86C7900A88AEDCFFC83B479AA3A4),
    (0x200, 0xF987A7253AC413176F2B074CF7815E54),
    (0x400, 0xF3392B0822B70005940C7A398E4B70F3),
    (0x800, 0xE7159475A2C29B7443B29C7FA6E889D9),
    (0x1000, 0xD097F3BDFD2022B8845AD8F792AA5825),
    (0x2000, 0xA9F746462D870FDF8A65DC1F90E061E5),
    (0x4000, 0x70D869A156D2A1B890BB3DF62BAF32F7),
    (0x8000, 0x31BE135F97D08FD981231505542FCFA6),
    (0x10000, 0x9AA508B5B7A84E1C677DE54F3E99BC9),
    (0x20000, 0x5D6AF8DEDB81196699C329225EE604),
    (0x40000, 0x2216E584F5FA1EA926041BEDFE98),
    (0x80000, 0x48A170391F7DC42444E8FA2),
)


def get_sqrt_ratio_at_tick(tick: int) -> int:
    """``TickMath.getSqrtRatioAtTick``: sqrt(1.0001^tick) * 2^96, rounded up; reverts ``T`` out of range."""
    abs_tick = -tick if tick < 0 else tick
    if abs_tick > MAX_TICK:
        raise _revert("T", tick=tick)
    ratio = 0xFFFCB933BD6FAD37AA2D162D1A594001 if abs_tick & 0x1 else 0x100000000000000000000000000000000
    for bit, multiplier in _TICK_MULTIPLIERS:
        if abs_tick & bit:
            ratio = (ratio * multiplier) >> 128
    if tick > 0:
        ratio = UINT256_MAX // ratio
    # Q128.128 -> Q64.96, rounding up so that get_tick_at_sqrt_ratio(result) == tick.
    return (ratio >> 32) + (0 if ratio % (1 << 32) == 0 else 1)


def get_tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """``TickMath.getTickAtSqrtRatio``: the greatest tick whose sqrt ratio is <= the input; reverts ``R``.

    A line-by-line port of the log2 approximation (14 squarings) and its final tick correction.
    """
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise _revert("R", sqrt_price_x96=sqrt_price_x96)
    ratio = sqrt_price_x96 << 32
    msb = ratio.bit_length() - 1
    r = ratio >> (msb - 127) if msb >= 128 else ratio << (127 - msb)
    log_2 = (msb - 128) << 64
    for shift in range(63, 49, -1):
        r = (r * r) >> 127
        f = r >> 128
        log_2 |= f << shift
        r >>= f
    log_sqrt10001 = log_2 * 255738958999603826347141  # Q128.128
    tick_low = (log_sqrt10001 - 3402992956809132418596140100660247210) >> 128
    tick_high = (log_sqrt10001 + 291339464771989622907027621153398088495) >> 128
    if tick_low == tick_high:
        return tick_low
    return tick_high if get_sqrt_ratio_at_tick(tick_high) <= sqrt_price_x96 else tick_low


# ------------------------------------------------------------------------------------------------
# SqrtPriceMath.sol
# ------------------------------------------------------------------------------------------------
def _next_sqrt_price_from_amount0_rounding_up(sqrt_px96: int, liquidity: int, amount: int, add: bool) -> int:
    """``SqrtPriceMath.getNextSqrtPriceFromAmount0RoundingUp``: L*sqrtP / (L +- amount*sqrtP), rounded up."""
    if amount == 0:
        return sqrt_px96
    numerator1 = liquidity << 96
    product = amount * sqrt_px96
    if add:
        # The Solidity checks that amount * sqrtP and numerator1 + product did not overflow uint256.
        if product <= UINT256_MAX and numerator1 + product <= UINT256_MAX:
            return mul_div_rounding_up(numerator1, sqrt_px96, numerator1 + product)  # always fits 160 bits
        denominator = numerator1 // sqrt_px96 + amount
        if denominator > UINT256_MAX:
            raise _revert("SafeMath add overflow", amount=amount)
        # NOTE: the contract casts with uint160(...) here (no SafeCast): keep the low 160 bits.
        return div_rounding_up(numerator1, denominator) & UINT160_MAX
    # if the product overflows, the denominator would underflow: both revert
    if not (product <= UINT256_MAX and numerator1 > product):
        raise _revert("getNextSqrtPriceFromAmount0RoundingUp: output exceeds reserves", amount=amount)
    return _to_uint160(mul_div_rounding_up(numerator1, sqrt_px96, numerator1 - product))


def _next_sqrt_price_from_amount1_rounding_down(
    sqrt_px96: int, liquidity: int, amount: int, add: bool
) -> int:
    """``SqrtPriceMath.getNextSqrtPriceFromAmount1RoundingDown``: sqrtP +- amount/L, rounded down."""
    if add:
        quotient = (amount << 96) // liquidity if amount <= UINT160_MAX else mul_div(amount, Q96, liquidity)
        if sqrt_px96 + quotient > UINT256_MAX:
            raise _revert("SafeMath add overflow", amount=amount)
        return _to_uint160(sqrt_px96 + quotient)
    quotient = (
        div_rounding_up(amount << 96, liquidity)
        if amount <= UINT160_MAX
        else mul_div_rounding_up(amount, Q96, liquidity)
    )
    if not sqrt_px96 > quotient:
        raise _revert("getNextSqrtPriceFromAmount1RoundingDown: output exceeds reserves", amount=amount)
    return sqrt_px96 - quotient


def get_next_sqrt_price_from_input(sqrt_px96: int, liquidity: int, amount_in: int, zero_for_one: bool) -> int:
    """``SqrtPriceMath.getNextSqrtPriceFromInput``: rounds so the target price is never passed."""
    if sqrt_px96 <= 0 or liquidity <= 0:
        raise _revert("getNextSqrtPriceFromInput: zero price or liquidity")
    if zero_for_one:
        return _next_sqrt_price_from_amount0_rounding_up(sqrt_px96, liquidity, amount_in, True)
    return _next_sqrt_price_from_amount1_rounding_down(sqrt_px96, liquidity, amount_in, True)


def get_next_sqrt_price_from_output(
    sqrt_px96: int, liquidity: int, amount_out: int, zero_for_one: bool
) -> int:
    """``SqrtPriceMath.getNextSqrtPriceFromOutput``: rounds so the target price is always reached."""
    if sqrt_px96 <= 0 or liquidity <= 0:
        raise _revert("getNextSqrtPriceFromOutput: zero price or liquidity")
    if zero_for_one:
        return _next_sqrt_price_from_amount1_rounding_down(sqrt_px96, liquidity, amount_out, False)
    return _next_sqrt_price_from_amount0_rounding_up(sqrt_px96, liquidity, amount_out, False)


def get_amount0_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """``SqrtPriceMath.getAmount0Delta``: L * (sqrtB - sqrtA) / (sqrtA * sqrtB), token0 units."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    numerator1 = liquidity << 96
    numerator2 = sqrt_ratio_b_x96 - sqrt_ratio_a_x96
    if sqrt_ratio_a_x96 <= 0:
        raise _revert("getAmount0Delta: zero price")
    if round_up:
        return div_rounding_up(
            mul_div_rounding_up(numerator1, numerator2, sqrt_ratio_b_x96), sqrt_ratio_a_x96
        )
    return mul_div(numerator1, numerator2, sqrt_ratio_b_x96) // sqrt_ratio_a_x96


def get_amount1_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """``SqrtPriceMath.getAmount1Delta``: L * (sqrtB - sqrtA), token1 units."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    if round_up:
        return mul_div_rounding_up(liquidity, sqrt_ratio_b_x96 - sqrt_ratio_a_x96, Q96)
    return mul_div(liquidity, sqrt_ratio_b_x96 - sqrt_ratio_a_x96, Q96)


# ------------------------------------------------------------------------------------------------
# SwapMath.sol
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StepResult:
    """``SwapMath.computeSwapStep``'s return values. ``amount_in_wei`` excludes ``fee_amount_wei``."""

    sqrt_ratio_next_x96: int
    amount_in_wei: int
    amount_out_wei: int
    fee_amount_wei: int


def compute_swap_step(
    sqrt_ratio_current_x96: int,
    sqrt_ratio_target_x96: int,
    liquidity: int,
    amount_remaining: int,
    fee_pips: int,
) -> StepResult:
    """``SwapMath.computeSwapStep``: one step towards the target price within one liquidity range.

    ``amount_remaining`` > 0 is exact input (fee included), < 0 exact output; the direction is
    inferred from the prices (``current >= target`` is zero for one), as in the contract.
    """
    zero_for_one = sqrt_ratio_current_x96 >= sqrt_ratio_target_x96
    exact_in = amount_remaining >= 0
    amount_in = 0
    amount_out = 0

    if exact_in:
        amount_remaining_less_fee = mul_div(
            amount_remaining, FEE_DENOMINATOR_PIPS - fee_pips, FEE_DENOMINATOR_PIPS
        )
        amount_in = (
            get_amount0_delta(sqrt_ratio_target_x96, sqrt_ratio_current_x96, liquidity, True)
            if zero_for_one
            else get_amount1_delta(sqrt_ratio_current_x96, sqrt_ratio_target_x96, liquidity, True)
        )
        if amount_remaining_less_fee >= amount_in:
            sqrt_ratio_next = sqrt_ratio_target_x96
        else:
            sqrt_ratio_next = get_next_sqrt_price_from_input(
                sqrt_ratio_current_x96, liquidity, amount_remaining_less_fee, zero_for_one
            )
    else:
        amount_out = (
            get_amount1_delta(sqrt_ratio_target_x96, sqrt_ratio_current_x96, liquidity, False)
            if zero_for_one
            else get_amount0_delta(sqrt_ratio_current_x96, sqrt_ratio_target_x96, liquidity, False)
        )
        if -amount_remaining >= amount_out:
            sqrt_ratio_next = sqrt_ratio_target_x96
        else:
            sqrt_ratio_next = get_next_sqrt_price_from_output(
                sqrt_ratio_current_x96, liquidity, -amount_remaining, zero_for_one
            )

    reached_target = sqrt_ratio_target_x96 == sqrt_ratio_next

    if zero_for_one:
        if not (reached_target and exact_in):
            amount_in = get_amount0_delta(sqrt_ratio_next, sqrt_ratio_current_x96, liquidity, True)
        if not (reached_target and not exact_in):
            amount_out = get_amount1_delta(sqrt_ratio_next, sqrt_ratio_current_x96, liquidity, False)
    else:
        if not (reached_target and exact_in):
            amount_in = get_amount1_delta(sqrt_ratio_current_x96, sqrt_ratio_next, liquidity, True)
        if not (reached_target and not exact_in):
            amount_out = get_amount0_delta(sqrt_ratio_current_x96, sqrt_ratio_next, liquidity, False)

    # cap the output amount to not exceed the remaining output amount
    if not exact_in and amount_out > -amount_remaining:
        amount_out = -amount_remaining

    if exact_in and sqrt_ratio_next != sqrt_ratio_target_x96:
        # the target was not reached: the remainder of the maximum input is taken as fee
        fee_amount = amount_remaining - amount_in
    else:
        fee_amount = mul_div_rounding_up(amount_in, fee_pips, FEE_DENOMINATOR_PIPS - fee_pips)
    return StepResult(sqrt_ratio_next, amount_in, amount_out, fee_amount)


# ------------------------------------------------------------------------------------------------
# TickBitmap.sol (over the sorted list of initialized ticks)
# ------------------------------------------------------------------------------------------------
def next_initialized_tick_within_one_word(pool: PoolState, tick: int, lte: bool) -> tuple[int, bool]:
    """``TickBitmap.nextInitializedTickWithinOneWord``: ``(next_tick, initialized)``.

    The bitmap stores one bit per compressed tick (``tick // tick_spacing``, floored), 256 per word.
    Searching left (``lte``) looks at the current compressed tick and below, within its word;
    searching right starts at the next compressed tick, within that one's word. When no initialized
    tick is found the word's edge is returned with ``initialized = False``: the swap loop then stops
    there too, which changes the rounding, so this must be mirrored and not skipped.

    Raises ``TicksUnknownError`` when the word searched is not entirely inside the tick range read.
    """
    spacing = pool.tick_spacing
    compressed = tick // spacing  # Python floors: "round towards negative infinity"
    if lte:
        word_start = (compressed >> 8) << 8  # compressed - bitPos
        low_tick, high_tick = word_start * spacing, compressed * spacing
        _check_known(pool, low_tick, high_tick)
        found = pool.last_initialized_at_or_below(high_tick, low_tick)
        return (found, True) if found is not None else (low_tick, False)
    start = compressed + 1
    word_end = ((start >> 8) << 8) + 255  # compressed + 1 + (255 - bitPos)
    low_tick, high_tick = start * spacing, word_end * spacing
    _check_known(pool, low_tick, high_tick)
    found = pool.first_initialized_at_or_above(low_tick, high_tick)
    return (found, True) if found is not None else (high_tick, False)


def _check_known(pool: PoolState, low_tick: int, high_tick: int) -> None:
    # Searches that lie wholly beyond MIN_TICK/MAX_TICK are clamped by the caller; only ticks that
    # could be initialized (inside [MIN_TICK, MAX_TICK]) must be known.
    low, high = max(low_tick, MIN_TICK), min(high_tick, MAX_TICK)
    if low > high:
        return
    if low < pool.ticks_known_from or high > pool.ticks_known_to:
        raise TicksUnknownError(
            f"swap on pool {pool.address} reaches ticks [{low}, {high}] outside the range read "
            f"[{pool.ticks_known_from}, {pool.ticks_known_to}] at block {pool.block_number}",
            pool=pool.address,
            block=pool.block_number,
        )


# ------------------------------------------------------------------------------------------------
# UniswapV3Pool.swap
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SwapResult:
    """Outcome of ``simulate_swap``. Amounts are positive raw token units.

    ``amount_in_wei`` includes the fee (what the swapper pays); ``fee_amount_wei`` is that fee
    (LP plus protocol share). For exact input that hits the price limit, ``amount_in_wei`` is less
    than asked; for exact output, ``amount_out_wei`` is less than asked only if the limit was hit.
    ``ticks_crossed`` counts initialized ticks crossed (each changed the in-range liquidity).
    """

    zero_for_one: bool
    amount_in_wei: int
    amount_out_wei: int
    fee_amount_wei: int
    sqrt_price_after_x96: int
    tick_after: int
    liquidity_after: int
    ticks_crossed: int
    steps: int

    @property
    def amount0_wei(self) -> int:
        """The pool's signed ``amount0`` (positive = paid into the pool)."""
        return self.amount_in_wei if self.zero_for_one else -self.amount_out_wei

    @property
    def amount1_wei(self) -> int:
        """The pool's signed ``amount1`` (positive = paid into the pool)."""
        return -self.amount_out_wei if self.zero_for_one else self.amount_in_wei


def default_price_limit(zero_for_one: bool) -> int:
    """The limit QuoterV2 and SwapRouter use when given 0: as far as the pool allows."""
    return MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1


def simulate_swap(
    pool: PoolState,
    zero_for_one: bool,
    amount_specified: int,
    sqrt_price_limit_x96: int | None = None,
) -> SwapResult:
    """Mirror ``UniswapV3Pool.swap``'s loop on ``pool`` and return what the swap would do.

    ``amount_specified`` follows the pool: > 0 is an exact input of the input token (fee included),
    < 0 an exact output of the output token. ``sqrt_price_limit_x96`` defaults to the extreme that
    QuoterV2 uses. Raises ``SwapMathError`` where the pool reverts (``AS``, ``SPL`` and the math
    requires) and ``TicksUnknownError`` if the walk leaves the tick range that was read.
    """
    if amount_specified == 0:
        raise _revert("AS", pool=pool.address)
    if not -(2**255) <= amount_specified <= INT256_MAX:
        raise _revert("amountSpecified is not an int256", amount=amount_specified)
    limit = default_price_limit(zero_for_one) if sqrt_price_limit_x96 is None else sqrt_price_limit_x96
    if zero_for_one:
        valid = pool.sqrt_price_x96 > limit > MIN_SQRT_RATIO
    else:
        valid = pool.sqrt_price_x96 < limit < MAX_SQRT_RATIO
    if not valid:
        raise _revert("SPL", pool=pool.address, sqrt_price_limit_x96=limit)

    exact_input = amount_specified > 0
    remaining = amount_specified
    calculated = 0  # amount of the other token: output (exact in) or input incl. fee (exact out)
    fee_total = 0
    sqrt_price = pool.sqrt_price_x96
    tick = pool.tick
    liquidity = pool.liquidity
    crossed = 0
    steps = 0

    while remaining != 0 and sqrt_price != limit:
        steps += 1
        sqrt_price_start = sqrt_price
        tick_next, initialized = next_initialized_tick_within_one_word(pool, tick, zero_for_one)
        # the bitmap is not aware of the min/max tick
        tick_next = min(max(tick_next, MIN_TICK), MAX_TICK)
        sqrt_price_next = get_sqrt_ratio_at_tick(tick_next)

        target = (
            limit
            if (sqrt_price_next < limit if zero_for_one else sqrt_price_next > limit)
            else sqrt_price_next
        )
        step = compute_swap_step(sqrt_price, target, liquidity, remaining, pool.fee_pips)
        sqrt_price = step.sqrt_ratio_next_x96
        fee_total += step.fee_amount_wei

        if exact_input:
            remaining -= step.amount_in_wei + step.fee_amount_wei
            calculated += step.amount_out_wei
        else:
            remaining += step.amount_out_wei
            calculated += step.amount_in_wei + step.fee_amount_wei

        if sqrt_price == sqrt_price_next:
            if initialized:
                net = pool.liquidity_net(tick_next)
                # moving leftward, liquidityNet is applied with the opposite sign
                liquidity = add_delta(liquidity, -net if zero_for_one else net)
                crossed += 1
            tick = tick_next - 1 if zero_for_one else tick_next
        elif sqrt_price != sqrt_price_start:
            # recompute unless on a lower tick boundary (already transitioned ticks) and not moved
            tick = get_tick_at_sqrt_ratio(sqrt_price)

    if exact_input:
        amount_in, amount_out = amount_specified - remaining, calculated
    else:
        amount_in, amount_out = calculated, -amount_specified + remaining
    return SwapResult(
        zero_for_one=zero_for_one,
        amount_in_wei=amount_in,
        amount_out_wei=amount_out,
        fee_amount_wei=fee_total,
        sqrt_price_after_x96=sqrt_price,
        tick_after=tick,
        liquidity_after=liquidity,
        ticks_crossed=crossed,
        steps=steps,
    )
