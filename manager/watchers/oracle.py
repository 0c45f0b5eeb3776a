"""Oracle watcher: Chainlink feed freshness and oracle-vs-DEX deviation, read at one block.

Protocol-neutral: the feeds come from every position's adapter (``OracleFeed``: Aave's ``AaveOracle`` sources,
Morpho's oracle ``BASE_FEED_1`` / ``QUOTE_FEED_1``, ...), and every position is checked against the readings of
the symbols it depends on (``position_oracle_issues``). Per feed (``AggregatorV3Interface.latestRoundData`` /
``decimals``): answer, round, ``updatedAt``,
age against the configured heartbeat (``age_s = max(now_s, block timestamp) - updatedAt``, with ``now_s``
passed in so tests control the clock). Per asset, when a configured Uniswap V3 pool pairs it with another priced
reserve: the pool's spot price (``slot0``) and TWAP (``observe``), turned into USD with the other
asset's oracle price, and the deviation from the oracle in bps (the smaller of the gaps to spot and
to TWAP: see the note in ``read_oracles``). A stale answer, a non-positive answer or a deviation above
``max_deviation_bps`` marks the reading untrustworthy: the loop then
refuses to act on positions holding that asset and alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eth_utils import to_checksum_address

from manager.chain.batch import ReadPlan
from manager.chain.multicall import Call
from manager.domain import OracleReading
from manager.protocols.chainlink import feed_calls, legacy_feed_calls
from manager.protocols.reading import OracleFeed


def oracles_plan(
    feeds: Sequence[OracleFeed],
    *,
    block_number: int,
    block_timestamp: int,
    now_s: float,
    heartbeat_s: Any,
    max_deviation_bps: float,
    twap_window_s: int = 0,
    venue: Any = None,
    venue_proto: Any = None,
    pools: Sequence[tuple[str, str, int]] = (),
) -> ReadPlan[dict[str, OracleReading]]:
    """One ``OracleReading`` per feed symbol at ``block_number``, whatever protocol named the feed (two rounds).

    ``heartbeat_s`` is a callable ``symbol -> seconds``; ``pools`` are (symbol_in, symbol_out, fee)
    from the config's ``[[pools]]`` (used to compare the oracle with the DEX, for feeds whose ``token`` is known),
    priced by the chain's swap venue (``venue``: its ``VenueAdapter``, ``venue_proto``: its config entry).
    The first feed of a symbol is the one read (a symbol is one price per tick).
    """
    block = block_number
    by_symbol: dict[str, OracleFeed] = {}
    for f in feeds:
        by_symbol.setdefault(f.symbol, f)
    symbols = list(by_symbol)
    calls: list[Call] = []
    for sym in symbols:
        calls += feed_calls(by_symbol[sym].feed)
    pairs: list[tuple[str, str, int]] = []
    if venue is not None and venue_proto is not None:
        for a, b, fee in pools:
            if a in by_symbol and b in by_symbol and by_symbol[a].token and by_symbol[b].token:
                pairs.append((a, b, fee))
        calls += venue.pool_lookup_calls(venue_proto, [(by_symbol[a].token, by_symbol[b].token, f) for a, b, f in pairs])
    r = (yield calls) if calls else []
    # NOTE: a source without latestRoundData (Aave's adapters and mocks) may still answer Chainlink's older
    # latestAnswer()/latestTimestamp(); ask those of the feeds that failed, alongside the pools' headers.
    failed = [sym for i, sym in enumerate(symbols) if not r[2 * i].success]
    legacy_calls = [c for sym in failed for c in legacy_feed_calls(by_symbol[sym].feed)]
    live: list[tuple[tuple[str, str, int], str]] = []
    if pairs:
        addrs = [to_checksum_address(x.value) if x.success else None for x in r[2 * len(symbols):]]
        live = [(p, a) for p, a in zip(pairs, addrs, strict=True) if a and int(a, 16) != 0]
    header_calls: list[Call] = []
    spans: list[tuple[int, int]] = []
    for _p, a in live:
        got = venue.pool_price_calls(a, twap_window_s)
        spans.append((len(header_calls), len(header_calls) + len(got)))
        header_calls += got
    second = (yield legacy_calls + header_calls) if legacy_calls or header_calls else []
    legacy, res = second[: len(legacy_calls)], second[len(legacy_calls):]
    legacy_of = {sym: (legacy[2 * j], legacy[2 * j + 1]) for j, sym in enumerate(failed)}
    out: dict[str, dict[str, Any]] = {}
    for i, sym in enumerate(symbols):
        rd, dec = r[2 * i], r[2 * i + 1]
        feed = by_symbol[sym].feed
        hb = int(heartbeat_s(sym))
        if rd.success:
            round_id, answer, _started, updated_at, _answered = rd.value
        elif sym in legacy_of and legacy_of[sym][0].success and legacy_of[sym][1].success:
            round_id, answer, updated_at = 0, legacy_of[sym][0].value, legacy_of[sym][1].value
        else:
            la = legacy_of.get(sym, (None, None))[0]
            why = ("answers latestAnswer() but neither latestRoundData() nor latestTimestamp(): its freshness "
                   "cannot be checked" if la is not None and la.success else f"cannot be read ({rd.error})")
            out[sym] = {"symbol": sym, "feed": feed, "answer": int(la.value) if la is not None and la.success else 0,
                        "decimals": int(dec.value) if dec.success else 8, "round_id": 0, "updated_at": 0,
                        "age_s": 0, "heartbeat_s": hb, "stale": True,
                        "issue": f"{sym} price source {feed} {why}"}
            continue
        # NOTE: the later of the caller's clock and the block's timestamp: a chain running ahead of
        # the wall clock (or a wall clock ahead of an idle chain) can only make a feed look older.
        age = max(int(now_s), block_timestamp) - int(updated_at)
        decimals = int(dec.value) if dec.success else None
        issue = None
        if decimals is None:
            issue = f"{sym} price source {feed} has no decimals() ({dec.error})"
        out[sym] = {"symbol": sym, "feed": feed, "answer": int(answer), "decimals": decimals or 8,
                    "round_id": int(round_id), "updated_at": int(updated_at), "age_s": age, "heartbeat_s": hb,
                    "stale": age > hb or int(answer) <= 0 or issue is not None, "issue": issue}

    # oracle vs DEX
    for ((sa, sb, _fee), addr), (lo, hi) in zip(live, spans, strict=True):
        for sym, other in ((sa, sb), (sb, sa)):
            if sym in out and other in out and "dex_spot_price" not in out[sym] and not out[other]["stale"]:
                o = out[other]
                prices = venue.pool_usd_prices(addr, res[lo:hi], twap_window_s, by_symbol[sym].token,
                                               by_symbol[sym].decimals, by_symbol[other].decimals,
                                               o["answer"] / 10 ** o["decimals"])
                if prices is None:
                    break
                out[sym]["dex_spot_price"], out[sym]["dex_twap_price"] = prices
    readings: dict[str, OracleReading] = {}
    for sym, d in out.items():
        oracle_usd = d["answer"] / 10 ** d["decimals"] if d["answer"] > 0 else 0.0
        # NOTE: the oracle is flagged only when it is far from BOTH the pool's spot and its TWAP. An oracle
        # that agrees with spot while the TWAP lags is a real, fast move (the time the manager must act,
        # not freeze); spot far from both oracle and TWAP is a pool being pushed, not a broken oracle.
        devs = [abs(ref - oracle_usd) / oracle_usd * 10_000
                for ref in (d.get("dex_spot_price"), d.get("dex_twap_price")) if ref and oracle_usd > 0]
        dev = min(devs) if devs else None
        readings[sym] = OracleReading(
            symbol=sym, feed=d["feed"], answer=d["answer"], decimals=d["decimals"], round_id=d["round_id"],
            updated_at=d["updated_at"], block_number=block, block_timestamp=block_timestamp,
            heartbeat_s=d.get("heartbeat_s", 0), age_s=d["age_s"], stale=d["stale"], issue=d.get("issue"),
            dex_spot_price=d.get("dex_spot_price"), dex_twap_price=d.get("dex_twap_price"),
            deviation_bps=dev, deviating=dev is not None and dev > max_deviation_bps,
        )
    return readings


def reading_issues(symbol: str, r: OracleReading) -> list[str]:
    """Why ``symbol``'s reading cannot be trusted (stale, unreadable, deviating from the DEX); empty if it can."""
    issues = []
    if r.stale and r.issue:
        issues.append(r.issue)
    elif r.stale:
        issues.append(f"{symbol} oracle stale: updated {r.age_s} s ago (heartbeat {r.heartbeat_s} s)")
    if r.deviating:
        issues.append(f"{symbol} oracle deviates {r.deviation_bps:.0f} bps from the DEX")
    return issues


def position_oracle_issues(symbols: Iterable[str], readings: Mapping[str, OracleReading]) -> tuple[str, ...]:
    """The oracle issues of a position depending on ``symbols`` (protocol-neutral: every position's
    ``PositionSnapshot.oracle_symbols``), in their order."""
    issues: list[str] = []
    for sym in symbols:
        r = readings.get(sym)
        if r is not None:
            issues += reading_issues(sym, r)
    return tuple(issues)
