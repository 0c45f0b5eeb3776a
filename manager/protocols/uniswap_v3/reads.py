"""Read one Uniswap V3 pool at one block and decode it into a ``PoolState``.

Building the calls and decoding their results are separate steps (STYLE.md): every ``*_calls``
function returns ``manager.chain.multicall.Call`` values (target, calldata, output ABI types) and
every ``decode_*`` function turns the ``CallResult`` values into domain values. ``pool_plan`` chains
the rounds as a read plan (``manager.chain.batch``, so many pools share round trips); ``read_pool`` runs it
alone, each round with ``multicall.execute`` at ONE explicit block number.

What is read (v3-core 1.0.1 ``UniswapV3Pool.sol``, v3-periphery 1.4.4 ``lens/TickLens.sol``):

1. header: ``slot0``, ``liquidity``, ``fee``, ``tickSpacing``, ``token0``, ``token1`` and
   ``observe([twap_window_s, 0])`` (allowed to fail: ``OLD`` when the pool's observation history
   is shorter than the window; then ``twap_tick`` is None).
2. tokens: ``decimals()`` and ``symbol()`` of both tokens (symbol allowed to fail).
3. bitmap: ``tickBitmap(wordPos)`` for every word of the range to read. One word covers 256
   compressed ticks (``tick // tickSpacing``), so the whole tick range is
   ``2 * ceil(887272 / tickSpacing / 256)`` words: 6932 at spacing 1, 694 at 10, 116 at 60,
   36 at 200. They are cheap storage reads (about 2,600 gas each), a few multicall chunks.
   ``word_radius`` limits the read to the words around the current tick (the simulation then
   refuses to walk past them: ``TicksUnknownError``).
4. ticks: ``TickLens.getPopulatedTicksInWord(pool, wordPos)`` only for words with bits set; each
   returns ``(tick, liquidityNet, liquidityGross)`` for every initialized tick of the word. The count
   must equal the word's popcount, or the reads are inconsistent (``DataQualityError``).

Cost: 7 + 4 + (words in range) + (non-empty words) calls in 4 rounds; a pool with a few positions
on spacing 10 is about 700 calls, i.e. 4-6 multicall ``eth_call``s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from manager.chain.batch import ReadPlan
from manager.chain.client import ChainClient
from manager.chain.multicall import Call, CallResult, execute
from manager.errors import DataQualityError
from manager.protocols.uniswap_v3.state import MAX_TICK, MIN_TICK, PoolState

__all__ = [
    "HEADER_FUNCTIONS",
    "PoolHeader",
    "bitmap_calls",
    "decode_bitmap",
    "decode_pool",
    "decode_pool_header",
    "decode_populated_ticks",
    "decode_tokens",
    "pool_calls",
    "pool_plan",
    "read_pool",
    "tick_lens_calls",
    "token_calls",
    "twap_tick",
    "words_to_read",
]

POOL_ABI = "uniswap_v3/UniswapV3Pool"
TICK_LENS_ABI = "uniswap_v3/TickLens"
ERC20_ABI = "erc20/MintableERC20"
HEADER_FUNCTIONS = ("slot0", "liquidity", "fee", "tickSpacing", "token0", "token1")


# ------------------------------------------------------------------------------------------------
# call building
# ------------------------------------------------------------------------------------------------
def pool_calls(pool: str, *, twap_window_s: int = 1800) -> list[Call]:
    """Round 1: the pool's header (``HEADER_FUNCTIONS``), then ``observe([twap_window_s, 0])``."""
    calls = [Call.from_abi(POOL_ABI, pool, name) for name in HEADER_FUNCTIONS]
    if twap_window_s > 0:
        calls.append(Call.from_abi(POOL_ABI, pool, "observe", [twap_window_s, 0]))
    return calls


def token_calls(token0: str, token1: str) -> list[Call]:
    """Round 2: ``decimals()`` and ``symbol()`` of both tokens."""
    return [
        Call.from_abi(ERC20_ABI, token0, "decimals"),
        Call.from_abi(ERC20_ABI, token1, "decimals"),
        Call.from_abi(ERC20_ABI, token0, "symbol"),
        Call.from_abi(ERC20_ABI, token1, "symbol"),
    ]


def words_to_read(tick_spacing: int, tick: int, word_radius: int | None = None) -> range:
    """Bitmap word positions to read: all of them, or ``word_radius`` words each side of ``tick``."""
    first, last = (MIN_TICK // tick_spacing) >> 8, (MAX_TICK // tick_spacing) >> 8
    if word_radius is None:
        return range(first, last + 1)
    current = (tick // tick_spacing) >> 8
    return range(max(first, current - word_radius), min(last, current + word_radius) + 1)


def bitmap_calls(pool: str, words: Sequence[int]) -> list[Call]:
    """Round 3: ``tickBitmap(wordPos)`` for each word.

    NOTE: a whole bitmap is ~1,800 words: the first call is built from the ABI, the others only swap the
    ``int16`` argument (two's complement word), which keeps building them well under a millisecond each.
    """
    if not words:
        return []
    first = Call.from_abi(POOL_ABI, pool, "tickBitmap", words[0])
    sel = first.calldata[:4]
    return [first] + [dataclasses.replace(first, calldata=sel + (w % 2**256).to_bytes(32, "big"),
                                          label=f"tickBitmap({w})") for w in words[1:]]


def tick_lens_calls(tick_lens: str, pool: str, words: Sequence[int]) -> list[Call]:
    """Round 4: ``TickLens.getPopulatedTicksInWord(pool, wordPos)`` for each word (with bits set)."""
    return [Call.from_abi(TICK_LENS_ABI, tick_lens, "getPopulatedTicksInWord", pool, word) for word in words]


# ------------------------------------------------------------------------------------------------
# decoding
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolHeader:
    """Round 1, decoded."""

    address: str
    block_number: int
    sqrt_price_x96: int
    tick: int
    unlocked: bool
    liquidity: int
    fee_pips: int
    tick_spacing: int
    token0: str
    token1: str
    twap_window_s: int
    twap_tick: int | None


def twap_tick(tick_cumulatives: Sequence[int], window_s: int) -> int:
    """``OracleLibrary.consult``'s arithmetic mean tick over ``window_s``, rounded down."""
    delta = tick_cumulatives[1] - tick_cumulatives[0]
    return delta // window_s  # Solidity truncates, then decrements a negative non-exact: a floor


def _same_block(results: Sequence[CallResult]) -> int:
    blocks = {r.block_number for r in results}
    if len(blocks) != 1:
        raise DataQualityError(f"pool reads span blocks {sorted(blocks)}", blocks=sorted(blocks))
    return blocks.pop()


def decode_pool_header(pool: str, results: Sequence[CallResult], twap_window_s: int) -> PoolHeader:
    """Decode round 1. ``observe`` may fail (``OLD``: history shorter than the window): no TWAP then."""
    slot0, liquidity, fee, spacing, token0, token1 = (r.unwrap() for r in results[: len(HEADER_FUNCTIONS)])
    observed = results[len(HEADER_FUNCTIONS)] if len(results) > len(HEADER_FUNCTIONS) else None
    twap = twap_tick(observed.value[0], twap_window_s) if observed is not None and observed.success else None
    return PoolHeader(
        address=to_checksum_address(pool),
        block_number=_same_block(results),
        sqrt_price_x96=int(slot0[0]),
        tick=int(slot0[1]),
        unlocked=bool(slot0[6]),
        liquidity=int(liquidity),
        fee_pips=int(fee),
        tick_spacing=int(spacing),
        token0=to_checksum_address(token0),
        token1=to_checksum_address(token1),
        twap_window_s=twap_window_s if twap is not None else 0,
        twap_tick=twap,
    )


def decode_tokens(results: Sequence[CallResult]) -> tuple[int, int, str, str]:
    """(decimals0, decimals1, symbol0, symbol1); a symbol that does not decode is ``""``."""
    d0, d1, s0, s1 = results
    return (
        int(d0.unwrap()),
        int(d1.unwrap()),
        (s0.value if s0.success else ""),
        (s1.value if s1.success else ""),
    )


def decode_bitmap(words: Sequence[int], results: Sequence[CallResult]) -> dict[int, int]:
    """{wordPos: bitmap word} for the words that have at least one bit set."""
    return {w: int(r.unwrap()) for w, r in zip(words, results, strict=True) if int(r.unwrap())}


def decode_populated_ticks(
    bitmap: dict[int, int], words: Sequence[int], results: Sequence[CallResult]
) -> tuple[tuple[int, int], ...]:
    """Sorted ``(tick, liquidityNet)``; each word's tick count must equal its popcount."""
    ticks: list[tuple[int, int]] = []
    for word, result in zip(words, results, strict=True):
        populated = result.unwrap()
        expected = bitmap[word].bit_count()
        if len(populated) != expected:
            raise DataQualityError(
                f"TickLens returned {len(populated)} ticks for bitmap word {word} with {expected} bits set "
                f"at block {result.block_number}",
                word=word,
                block=result.block_number,
            )
        ticks.extend((int(t), int(net)) for t, net, _gross in populated)
    return tuple(sorted(ticks))


def decode_pool(
    header: PoolHeader,
    tokens: tuple[int, int, str, str],
    ticks: tuple[tuple[int, int], ...],
    words: range,
    block_timestamp: int | None = None,
) -> PoolState:
    """Assemble the ``PoolState``; ``words`` is the bitmap range read (it bounds the known ticks)."""
    if not header.unlocked:
        raise DataQualityError(
            f"pool {header.address} is locked at block {header.block_number} (read mid-transaction)",
            pool=header.address,
            block=header.block_number,
        )
    spacing = header.tick_spacing
    decimals0, decimals1, symbol0, symbol1 = tokens
    return PoolState(
        address=header.address,
        token0=header.token0,
        token1=header.token1,
        symbol0=symbol0,
        symbol1=symbol1,
        decimals0=decimals0,
        decimals1=decimals1,
        fee_pips=header.fee_pips,
        tick_spacing=spacing,
        sqrt_price_x96=header.sqrt_price_x96,
        tick=header.tick,
        liquidity=header.liquidity,
        ticks=ticks,
        ticks_known_from=max(MIN_TICK, words.start * 256 * spacing),
        ticks_known_to=min(MAX_TICK, ((words.stop - 1) * 256 + 255) * spacing),
        block_number=header.block_number,
        block_timestamp=block_timestamp,
        twap_window_s=header.twap_window_s,
        twap_tick=header.twap_tick,
    )


# ------------------------------------------------------------------------------------------------
# the rounds at one block: a read plan (manager.chain.batch), and read_pool running it alone
# ------------------------------------------------------------------------------------------------
def pool_plan(
    pool: str,
    tick_lens: str,
    *,
    twap_window_s: int = 1800,
    word_radius: int | None = None,
    block_timestamp: int | None = None,
    tokens: tuple[str, str] | None = None,
    tick_spacing: int | None = None,
) -> ReadPlan[PoolState]:
    """The read plan of ``pool`` (``manager.chain.batch``): the same calls and decoding as ``read_pool``.

    Without ``tokens`` / ``tick_spacing`` it is the four rounds of the module docstring. With them (known
    before the pool is read: a Uniswap V3 pool's ``token0`` is the lower address of its pair, its spacing the
    factory's ``feeAmountTickSpacing(fee)``), header, tokens and bitmap go out in ONE round (the bitmap only
    when ``word_radius`` is None: a radius needs the current tick first), then the ticks: two rounds. The
    header must then agree with what was assumed (``DataQualityError`` otherwise).
    """
    header_calls = pool_calls(pool, twap_window_s=twap_window_s)
    words: range | None = None
    if tokens is not None:
        token0, token1 = sorted(tokens, key=lambda a: int(a, 16))
        first = header_calls + token_calls(token0, token1)
        if tick_spacing is not None and word_radius is None:
            words = words_to_read(tick_spacing, 0)
            first += bitmap_calls(pool, words)
        got = yield first
        n_header = len(header_calls)
        header = decode_pool_header(pool, got[:n_header], twap_window_s)
        if (header.token0.lower(), header.token1.lower()) != (token0.lower(), token1.lower()) or (
                tick_spacing is not None and header.tick_spacing != tick_spacing):
            raise DataQualityError(
                f"pool {header.address} holds {header.token0}/{header.token1} at spacing {header.tick_spacing}, "
                f"expected {token0}/{token1} at spacing {tick_spacing}", pool=header.address)
        token_results = got[n_header:n_header + 4]
        bitmap_results = got[n_header + 4:]
        _same_block([*got[:n_header], *token_results])
        decoded_tokens = decode_tokens(token_results)
    else:
        header = decode_pool_header(pool, (yield header_calls), twap_window_s)
        decoded_tokens = decode_tokens((yield token_calls(header.token0, header.token1)))
    if words is None:
        words = words_to_read(header.tick_spacing, header.tick, word_radius)
        bitmap_results = yield bitmap_calls(pool, words)
    bitmap = decode_bitmap(words, bitmap_results)
    set_words = sorted(bitmap)
    ticks = decode_populated_ticks(bitmap, set_words, (yield tick_lens_calls(tick_lens, pool, set_words)))
    return decode_pool(header, decoded_tokens, ticks, words, block_timestamp)


def read_pool(
    client: ChainClient,
    pool: str,
    tick_lens: str,
    block_number: int,
    *,
    twap_window_s: int = 1800,
    word_radius: int | None = None,
    block_timestamp: int | None = None,
    **execute_kwargs: Any,
) -> PoolState:
    """Read ``pool`` at ``block_number`` (``pool_plan``'s 4 rounds of ``multicall.execute``, all at that block).

    ``word_radius`` limits the ticks read to that many bitmap words each side of the current tick
    (None: the whole range). ``execute_kwargs`` go to ``multicall.execute`` (transport, chunk_size).
    """
    plan = pool_plan(pool, tick_lens, twap_window_s=twap_window_s, word_radius=word_radius,
                     block_timestamp=block_timestamp)
    try:
        calls = next(plan)
        while True:
            calls = plan.send(execute(client, calls, block_number, **execute_kwargs))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
