"""Pure tests of the read side: which bitmap words are read, TWAP rounding, the known tick range."""

from __future__ import annotations

import pytest

from manager.chain.multicall import CallResult
from manager.errors import DataQualityError
from manager.protocols.uniswap_v3.math import MAX_TICK, MIN_TICK
from manager.protocols.uniswap_v3.reads import (
    HEADER_FUNCTIONS,
    decode_pool,
    decode_pool_header,
    decode_populated_ticks,
    pool_calls,
    twap_tick,
    words_to_read,
)

POOL = "0x00000000000000000000000000000000000000a1"
T0 = "0x00000000000000000000000000000000000000b0"
T1 = "0x00000000000000000000000000000000000000b1"


@pytest.mark.parametrize(("spacing", "words"), [(1, 6932), (10, 694), (60, 116), (200, 36)])
def test_the_whole_bitmap_is_this_many_words(spacing, words):
    assert len(words_to_read(spacing, 0)) == words


def test_word_radius_reads_around_the_current_tick():
    words = words_to_read(10, -196_257, word_radius=2)
    current = (-196_257 // 10) >> 8
    assert list(words) == [current - 2, current - 1, current, current + 1, current + 2]


def test_twap_tick_rounds_down_like_oracle_library():
    assert twap_tick([0, -10], 3) == -4  # -3.33 -> -4
    assert twap_tick([0, 10], 3) == 3
    assert twap_tick([5, -7], 4) == -3


def _ok(value, block=7):
    return CallResult(label="x", success=True, block_number=block, value=value)


def _header(observe=None, block=7, unlocked=True):
    slot0 = (2**96, 0, 0, 1, 1, 0, unlocked)
    results = [_ok(v, block) for v in (slot0, 10**18, 500, 10, T0, T1)]
    if observe is not None:
        results.append(observe)
    return decode_pool_header(POOL, results, 60)


def test_header_decodes_and_a_failed_observe_means_no_twap():
    assert len(pool_calls(POOL, twap_window_s=60)) == len(HEADER_FUNCTIONS) + 1
    failed = CallResult(label="observe", success=False, block_number=7, error="reverted: OLD")
    header = _header(failed)
    assert header.twap_tick is None and header.twap_window_s == 0
    assert _header(_ok(((0, -600), (0, 0)))).twap_tick == -10
    assert header.fee_pips == 500 and header.tick_spacing == 10 and header.block_number == 7


def test_reads_from_different_blocks_are_refused():
    results = [_ok(v, 7) for v in ((2**96, 0, 0, 1, 1, 0, True), 1, 500, 10, T0)] + [_ok(T1, 8)]
    with pytest.raises(DataQualityError, match="span blocks"):
        decode_pool_header(POOL, results, 0)


def test_a_locked_pool_is_refused():
    with pytest.raises(DataQualityError, match="locked"):
        decode_pool(_header(unlocked=False), (18, 6, "A", "B"), (), words_to_read(10, 0), None)


def test_known_tick_range_follows_the_words_read():
    full = decode_pool(_header(), (18, 6, "A", "B"), (), words_to_read(10, 0), None)
    assert (full.ticks_known_from, full.ticks_known_to) == (MIN_TICK, MAX_TICK)
    near = decode_pool(_header(), (18, 6, "A", "B"), (), words_to_read(10, 0, word_radius=1), None)
    assert (near.ticks_known_from, near.ticks_known_to) == (-2560, 2 * 2560 - 1 * 10)


def test_tick_lens_answer_must_match_the_bitmap_popcount():
    bitmap = {0: 0b101}
    good = [_ok([(0, 5, 5), (20, -5, 5)])]
    assert decode_populated_ticks(bitmap, [0], good) == ((0, 5), (20, -5))
    with pytest.raises(DataQualityError, match="2 bits set"):
        decode_populated_ticks(bitmap, [0], [_ok([(0, 5, 5)])])
