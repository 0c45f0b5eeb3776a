"""The pool read + ``simulate_swap`` equals the real QuoterV2 at the same block, to the unit.

Runs on the shared devnet (real v3-core 1.0.1 pools with liquidity in several ranges, v3-periphery
1.4.4 QuoterV2 and TickLens). For each pool and direction, a seeded log-uniform grid of sizes from
1 unit to beyond everything the pool holds, exact input and exact output; every quote is made by
QuoterV2 in ``eth_call`` at the block the pool was read at. The tolerance the task allows is one
unit of the output token; the port is exact, so the tests assert a difference of zero.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

import pytest

from manager.chain.client import ChainClient
from manager.chain.multicall import Call, execute
from manager.config.schema import ChainConfig
from manager.protocols.uniswap_v3.depth import max_input_for_impact, within_impact
from manager.protocols.uniswap_v3.math import SwapMathError, get_sqrt_ratio_at_tick, simulate_swap
from manager.protocols.uniswap_v3.reads import read_pool
from manager.protocols.uniswap_v3.state import PoolState

pytestmark = pytest.mark.chain

# (pool key, bitmap words each side of the current tick; None = the whole range)
POOLS = [
    ("WETH/USDC/500", None),  # spacing 10, three nested ranges
    ("WBTC/USDC/3000", None),  # spacing 60, token0 has 6 decimals, token1 8
    ("wstETH/WETH/100", None),  # spacing 1: the whole bitmap is 6932 words
]
SIZES_PER_CASE = 40


def _client(devnet: Any) -> ChainClient:
    cfg = ChainConfig(
        chain_id=31337,
        rpc_urls=[devnet.url],
        multicall=devnet.book["multicall"],
        multicall_kind="uniswap_interface",
    )
    return ChainClient("devnet", cfg)


def _read(devnet: Any, key: str, word_radius: int | None = None) -> tuple[ChainClient, PoolState]:
    client = _client(devnet)
    block = devnet.w3.eth.block_number
    book = devnet.book["uniswap"]
    state = read_pool(
        client, book["pools"][key], book["tick_lens"], block, twap_window_s=0, word_radius=word_radius
    )
    return client, state


def _quotes(
    client: ChainClient, devnet: Any, pool: PoolState, zero_for_one: bool, exact_in: bool, sizes, limits=None
):
    """QuoterV2 at ``pool.block_number``: (amountOut or amountIn, sqrtPriceX96After), or None."""
    token_in, token_out = (pool.token0, pool.token1) if zero_for_one else (pool.token1, pool.token0)
    fn = "quoteExactInputSingle" if exact_in else "quoteExactOutputSingle"
    quoter = devnet.book["uniswap"]["quoter"]
    limits = limits or [0] * len(sizes)
    calls = [
        Call.from_abi("uniswap_v3/QuoterV2", quoter, fn, (token_in, token_out, s, pool.fee_pips, limit))
        for s, limit in zip(sizes, limits, strict=True)
    ]
    results = execute(client, calls, pool.block_number, chunk_size=40)
    for i, result in enumerate(results):
        if not result.success:
            # NOTE: a swap to the end of a spacing-1 pool walks ~3,500 bitmap words (~25M gas), more
            # than a multicall's default per-call gas: retry alone with a block's worth of gas.
            heavy = dataclasses.replace(calls[i], gas_limit=55_000_000)
            results[i] = execute(client, [heavy], pool.block_number, gas=59_000_000)[0]
    return [(r.value[0], r.value[1]) if r.success else None for r in results]


def _grid(seed: int, top: int) -> list[int]:
    """Log-uniform sizes up to ``top`` (everything the pool can take or give), plus the edges."""
    rng = random.Random(seed)
    sizes = {1, 2, 3, top // 2, top * 9 // 10, top - 1, top, top + 1, top * 6 // 5}
    while len(sizes) < SIZES_PER_CASE:
        sizes.add(max(1, int(10 ** rng.uniform(0, math.log10(top)))))
    return sorted(sizes)


def _compare(
    client, devnet, pool: PoolState, zero_for_one: bool, exact_in: bool, seed: int
) -> dict[str, int]:
    everything = simulate_swap(pool, zero_for_one, 2**200)
    top = everything.amount_in_wei if exact_in else everything.amount_out_wei
    sizes = _grid(seed, top)
    quotes = _quotes(client, devnet, pool, zero_for_one, exact_in, sizes)
    max_diff, compared, crossed = 0, 0, 0
    for size, quote in zip(sizes, quotes, strict=True):
        try:
            ours = simulate_swap(pool, zero_for_one, size if exact_in else -size)
        except SwapMathError:
            ours = None
        if exact_in:
            assert quote is not None, f"QuoterV2 failed on exact input {size}"
            assert ours is not None
            diff = abs(ours.amount_out_wei - quote[0])
            assert ours.sqrt_price_after_x96 == quote[1], (size, ours, quote)
        else:
            filled = ours is not None and ours.amount_out_wei == size
            # QuoterV2 reverts when the pool cannot deliver the whole output
            assert (quote is not None) == filled, (size, ours, quote)
            if quote is None:
                continue
            diff = abs(ours.amount_in_wei - quote[0])
            assert ours.sqrt_price_after_x96 == quote[1], (size, ours, quote)
        max_diff = max(max_diff, diff)
        compared += 1
        crossed = max(crossed, ours.ticks_crossed)
    return {"max_diff": max_diff, "compared": compared, "max_ticks_crossed": crossed}


@pytest.mark.parametrize(("key", "word_radius"), POOLS, ids=[p[0] for p in POOLS])
def test_simulation_equals_quoter_v2_at_the_same_block(devnet, key, word_radius):
    client, pool = _read(devnet, key, word_radius)
    assert len(pool.ticks) >= 4 and pool.liquidity > 0
    for seed, (zero_for_one, exact_in) in enumerate(
        [(True, True), (False, True), (True, False), (False, False)]
    ):
        stats = _compare(client, devnet, pool, zero_for_one, exact_in, seed)
        assert stats["compared"] >= SIZES_PER_CASE - 3
        assert stats["max_ticks_crossed"] >= 2  # the grid walks through several ranges
        assert stats["max_diff"] == 0, (key, zero_for_one, exact_in, stats)


def test_equality_after_the_price_moved_across_ranges(chain):
    """Arbitrage WETH pools to a 12% lower price (crossing ticks, partial ranges), then compare."""
    usd = chain.oracle_price("WETH") / 1e8
    chain.set_price("WETH", usd * 0.88)
    client, pool = _read(chain, "WETH/USDC/500")
    for seed, (zero_for_one, exact_in) in enumerate(
        [(True, True), (False, True), (True, False), (False, False)]
    ):
        stats = _compare(client, chain, pool, zero_for_one, exact_in, 100 + seed)
        assert stats["max_diff"] == 0, (zero_for_one, exact_in, stats)


@pytest.mark.parametrize("zero_for_one", [True, False])
def test_depth_boundary_holds_with_the_real_quoter(devnet, zero_for_one):
    client, pool = _read(devnet, "WETH/USDC/500")
    for k_bps in (10, 50, 100, 300):
        depth = max_input_for_impact(pool, zero_for_one, k_bps)
        assert depth > 0  # a 5 bps pool has depth at 10 bps
        (at, _), (beyond, _) = _quotes(client, devnet, pool, zero_for_one, True, [depth, depth + 1])
        assert within_impact(pool, zero_for_one, depth, at, k_bps)
        assert not within_impact(pool, zero_for_one, depth + 1, beyond, k_bps)


def test_partial_read_refuses_to_guess_beyond_it(devnet):
    from manager.protocols.uniswap_v3.math import TicksUnknownError

    _, full = _read(devnet, "wstETH/WETH/100")
    _, near = _read(devnet, "wstETH/WETH/100", word_radius=3)
    assert near.ticks == full.ticks  # all positions lie within three words of the price
    small = 10**18
    assert simulate_swap(near, True, small) == simulate_swap(full, True, small)
    with pytest.raises(TicksUnknownError):
        simulate_swap(near, True, 2**200)


def test_reads_are_pinned_to_the_block(chain):
    block = chain.w3.eth.block_number
    book = chain.book["uniswap"]
    client = _client(chain)
    address = book["pools"]["WETH/USDC/500"]
    before = read_pool(client, address, book["tick_lens"], block, twap_window_s=0)
    chain.set_price("WETH", chain.oracle_price("WETH") / 1e8 * 1.05)
    again = read_pool(client, address, book["tick_lens"], block, twap_window_s=0)
    now = read_pool(client, address, book["tick_lens"], chain.w3.eth.block_number, twap_window_s=0)
    assert again == before
    assert now.sqrt_price_x96 > before.sqrt_price_x96 and now.block_number > block
    assert before.symbol0 == "WETH" and before.decimals0 == 18 and before.decimals1 == 6
    assert before.fee_pips == 500 and before.tick_spacing == 10


@pytest.mark.parametrize("exact_in", [True, False])
def test_equality_with_a_price_limit(devnet, exact_in):
    """Swaps stopped by ``sqrtPriceLimitX96`` (QuoterV2 then returns the partial fill) match too."""
    client, pool = _read(devnet, "WBTC/USDC/3000")
    rng = random.Random(7)
    for zero_for_one in (True, False):
        sizes, limits = [], []
        for _ in range(20):
            ticks_away = rng.randint(1, 12_000)
            limit_tick = pool.tick - ticks_away if zero_for_one else pool.tick + ticks_away
            limits.append(get_sqrt_ratio_at_tick(limit_tick))
            sizes.append(int(10 ** rng.uniform(0, 14)))
        quotes = _quotes(client, devnet, pool, zero_for_one, exact_in, sizes, limits)
        for size, limit, quote in zip(sizes, limits, quotes, strict=True):
            ours = simulate_swap(pool, zero_for_one, size if exact_in else -size, limit)
            assert quote is not None
            assert (ours.amount_out_wei if exact_in else ours.amount_in_wei) == quote[0]
            assert ours.sqrt_price_after_x96 == quote[1]


def test_equality_when_the_price_sits_exactly_on_an_initialized_tick(chain):
    """Land the price exactly on an initialized tick (the pool's ``tick = tickNext - 1`` branch)."""
    book = chain.book["uniswap"]
    _, before = _read(chain, "WETH/USDC/500")
    target_tick = max(t for t, _ in before.ticks if t < before.tick)
    router = chain.contract("uniswap_v3/SwapRouter", book["router"])
    params = (
        before.token0,
        before.token1,
        before.fee_pips,
        chain.address("deployer"),
        2**40,
        10**30,
        0,
        get_sqrt_ratio_at_tick(target_tick),
    )
    chain.transact(router.functions.exactInputSingle(params))
    client, pool = _read(chain, "WETH/USDC/500")
    assert pool.sqrt_price_x96 == get_sqrt_ratio_at_tick(target_tick)
    assert pool.tick == target_tick - 1  # crossed while moving down, so the tick is below it
    for seed, (zero_for_one, exact_in) in enumerate(
        [(True, True), (False, True), (True, False), (False, False)]
    ):
        stats = _compare(client, chain, pool, zero_for_one, exact_in, 200 + seed)
        assert stats["max_diff"] == 0, (zero_for_one, exact_in, stats)
