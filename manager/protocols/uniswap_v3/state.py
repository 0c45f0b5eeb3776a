"""``PoolState``: one Uniswap V3 pool as read at one block, everything a swap simulation needs.

Mirrors the storage that ``UniswapV3Pool.swap`` (v3-core 1.0.1, contracts/UniswapV3Pool.sol) reads:
``slot0.sqrtPriceX96`` / ``slot0.tick``, ``liquidity``, ``fee``, ``tickSpacing``, and for every
initialized tick (a set bit in ``tickBitmap``) its ``ticks[tick].liquidityNet``. The bitmap itself
is represented by the sorted list of initialized ticks, which is equivalent because we read them all
(see ``reads.py``); ``ticks_known_from``/``ticks_known_to`` say which range that list covers, and the
simulation refuses to walk outside it rather than silently treat unknown ticks as empty.

Pure: imports only pydantic and the project's own types.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from pydantic import PrivateAttr, model_validator

from manager.domain import Frozen

MIN_TICK = -887272
MAX_TICK = 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
UINT128_MAX = 2**128 - 1


class PoolState(Frozen):
    """A Uniswap V3 pool at ``block_number``. Amounts are raw token units; prices are Q64.96.

    ``ticks`` holds ``(tick, liquidity_net)`` for every initialized tick in
    ``[ticks_known_from, ticks_known_to]``, sorted by tick. A tick can be initialized with a net of
    zero (two positions meeting there); it must still be listed, because the swap loop stops at
    every initialized tick and the rounding of each step depends on where the steps end.
    """

    address: str
    token0: str
    token1: str
    symbol0: str = ""
    symbol1: str = ""
    decimals0: int
    decimals1: int
    fee_pips: int  # UniswapV3Pool.fee: hundredths of a bip (1e6 = 100%)
    tick_spacing: int
    sqrt_price_x96: int  # slot0.sqrtPriceX96
    tick: int  # slot0.tick
    liquidity: int  # in-range liquidity
    ticks: tuple[tuple[int, int], ...] = ()
    ticks_known_from: int = MIN_TICK
    ticks_known_to: int = MAX_TICK
    block_number: int
    block_timestamp: int | None = None
    twap_window_s: int = 0
    twap_tick: int | None = None  # arithmetic-mean tick over twap_window_s (OracleLibrary.consult)

    _tick_list: list[int] = PrivateAttr(default_factory=list)
    _net_by_tick: dict[int, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> PoolState:
        if not 0 <= self.fee_pips < 10**6:
            raise ValueError(f"fee_pips {self.fee_pips} outside [0, 1e6)")
        if self.tick_spacing <= 0:
            raise ValueError(f"tick_spacing {self.tick_spacing} must be > 0")
        if not MIN_SQRT_RATIO <= self.sqrt_price_x96 < MAX_SQRT_RATIO:
            raise ValueError(f"sqrt_price_x96 {self.sqrt_price_x96} outside the pool's range")
        if not 0 <= self.liquidity <= UINT128_MAX:
            raise ValueError(f"liquidity {self.liquidity} is not a uint128")
        if self.ticks_known_from > self.ticks_known_to:
            raise ValueError("ticks_known_from is above ticks_known_to")
        previous = None
        for tick, _net in self.ticks:
            if previous is not None and tick <= previous:
                raise ValueError(f"ticks are not strictly increasing at {tick}")
            if tick % self.tick_spacing:
                raise ValueError(f"tick {tick} is not a multiple of tick_spacing {self.tick_spacing}")
            if not self.ticks_known_from <= tick <= self.ticks_known_to:
                raise ValueError(f"tick {tick} outside the known range")
            previous = tick
        return self

    def model_post_init(self, context: object, /) -> None:
        self._tick_list = [t for t, _ in self.ticks]
        self._net_by_tick = dict(self.ticks)

    # --- TickBitmap view -------------------------------------------------------------------------
    def liquidity_net(self, tick: int) -> int:
        """``ticks[tick].liquidityNet`` of an initialized tick (0 for an uninitialized one)."""
        return self._net_by_tick.get(tick, 0)

    def last_initialized_at_or_below(self, tick: int, floor_tick: int) -> int | None:
        """The greatest initialized tick in ``[floor_tick, tick]``, or None."""
        i = bisect_right(self._tick_list, tick) - 1
        if i >= 0 and self._tick_list[i] >= floor_tick:
            return self._tick_list[i]
        return None

    def first_initialized_at_or_above(self, tick: int, ceiling_tick: int) -> int | None:
        """The smallest initialized tick in ``[tick, ceiling_tick]``, or None."""
        i = bisect_left(self._tick_list, tick)
        if i < len(self._tick_list) and self._tick_list[i] <= ceiling_tick:
            return self._tick_list[i]
        return None
