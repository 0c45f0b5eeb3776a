"""Synthetic ``PoolState`` values built from LP positions, for the pure tests."""

from __future__ import annotations

from collections import defaultdict

from manager.protocols.uniswap_v3.math import get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio
from manager.protocols.uniswap_v3.state import PoolState

Position = tuple[int, int, int]  # (tick_lower, tick_upper, liquidity)


def pool_from_positions(
    sqrt_price_x96: int,
    positions: list[Position],
    *,
    tick_spacing: int = 60,
    fee_pips: int = 3000,
    decimals0: int = 18,
    decimals1: int = 6,
    extra_initialized: tuple[int, ...] = (),
    ticks_known: tuple[int, int] | None = None,
) -> PoolState:
    """A pool whose ticks and in-range liquidity are those the given positions would create."""
    net: dict[int, int] = defaultdict(int)
    initialized: set[int] = set(extra_initialized)
    tick = get_tick_at_sqrt_ratio(sqrt_price_x96)
    liquidity = 0
    for lower, upper, amount in positions:
        net[lower] += amount
        net[upper] -= amount
        initialized |= {lower, upper}
        if lower <= tick < upper:
            liquidity += amount
    kwargs = {}
    if ticks_known is not None:
        kwargs = {"ticks_known_from": ticks_known[0], "ticks_known_to": ticks_known[1]}
    return PoolState(
        address="0x00000000000000000000000000000000000000a1",
        token0="0x00000000000000000000000000000000000000b0",
        token1="0x00000000000000000000000000000000000000b1",
        symbol0="WETH",
        symbol1="USDC",
        decimals0=decimals0,
        decimals1=decimals1,
        fee_pips=fee_pips,
        tick_spacing=tick_spacing,
        sqrt_price_x96=sqrt_price_x96,
        tick=tick,
        liquidity=liquidity,
        ticks=tuple(sorted((t, net[t]) for t in initialized)),
        block_number=100,
        **kwargs,
    )


def layered_pool(fee_pips: int = 3000, tick_spacing: int = 60) -> PoolState:
    """ETH/USDC-like pool at tick ~ -200000: a full-range position plus nested concentrated ranges,
    a gap with no liquidity, and a tick where two positions meet (initialized with net 0)."""
    center = -200_000 // tick_spacing * tick_spacing
    s = tick_spacing
    full = (-887272 // s * s + s, 887272 // s * s, 10**17)
    positions = [
        full,
        (center - 60 * s, center + 60 * s, 3 * 10**18),
        (center - 10 * s, center + 12 * s, 5 * 10**18),
        (center - 400 * s, center - 100 * s, 2 * 10**18),  # below, leaving a thin gap above it
        (center + 100 * s, center + 200 * s, 10**18),
        (center + 200 * s, center + 300 * s, 10**18),  # meets the previous one: net 0 at +200s
    ]
    sqrt_price = get_sqrt_ratio_at_tick(center + 7) + 123_456_789
    return pool_from_positions(sqrt_price, positions, tick_spacing=tick_spacing, fee_pips=fee_pips)
