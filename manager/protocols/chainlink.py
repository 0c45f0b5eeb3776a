"""Chainlink price feed reads (``AggregatorV3Interface``: ``latestRoundData()``, ``decimals()``).

Shared by the Aave oracle watcher and the Morpho reader: both build the same two calls per feed and
decode them their own way (freshness against their own clock rule).
"""

from __future__ import annotations

from manager.chain.multicall import Call

ROUND_DATA_TYPES = ("uint80", "int256", "uint256", "uint256", "uint80")  # roundId, answer, startedAt, updatedAt, answeredInRound


def feed_calls(feed: str) -> list[Call]:
    """``[latestRoundData(), decimals()]`` of ``feed``, in that order."""
    return [
        Call.build(feed, "latestRoundData()", (), ROUND_DATA_TYPES, label=f"latestRoundData({feed})"),
        Call.build(feed, "decimals()", (), ("uint8",), label=f"decimals({feed})"),
    ]


def legacy_feed_calls(feed: str) -> list[Call]:
    """``[latestAnswer(), latestTimestamp()]`` (Chainlink's older ``AggregatorInterface``), for sources
    without ``latestRoundData`` (e.g. Aave's own price adapters and test mocks)."""
    return [
        Call.build(feed, "latestAnswer()", (), ("int256",), label=f"latestAnswer({feed})"),
        Call.build(feed, "latestTimestamp()", (), ("uint256",), label=f"latestTimestamp({feed})"),
    ]
