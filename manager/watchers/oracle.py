"""Oracle watcher: Chainlink feed freshness and oracle-vs-DEX deviation, read at one block.

Per feed (``AggregatorV3Interface.latestRoundData`` / ``decimals``): answer, round, ``updatedAt``,
age against the configured heartbeat (``age_s = max(now_s, block timestamp) - updatedAt``, with ``now_s``
passed in so tests control the clock). Per asset, when a configured Uniswap V3 pool pairs it with another priced
reserve: the pool's spot price (``slot0``) and TWAP (``observe``), turned into USD with the other
asset's oracle price, and the deviation from the oracle in bps (the smaller of the gaps to spot and
to TWAP: see the note in ``read_oracles``). A stale answer, a non-positive answer or a deviation above
``max_deviation_bps`` marks the reading untrustworthy: the loop then
refuses to act on positions holding that asset and alerts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from manager.chain.client import ChainClient
from manager.chain.multicall import Call, execute
from manager.domain import OracleReading
from manager.protocols.aave_v3.reads import AaveMarket
from manager.protocols.chainlink import feed_calls, legacy_feed_calls
from manager.protocols.uniswap_v3.reads import HEADER_FUNCTIONS, decode_pool_header, pool_calls


def pool_price_calls(factory: str, pairs: Sequence[tuple[str, str, int]]) -> list[Call]:
    return [Call.build(factory, "getPool(address,address,uint24)", (a, b, fee), ("address",), label="getPool")
            for a, b, fee in pairs]


def read_oracles(
    client: ChainClient,
    market: AaveMarket,
    *,
    now_s: float,
    heartbeat_s: Any,
    max_deviation_bps: float,
    twap_window_s: int = 0,
    factory: str | None = None,
    pools: Sequence[tuple[str, str, int]] = (),
) -> dict[str, OracleReading]:
    """One ``OracleReading`` per reserve symbol at ``market.block_number``.

    ``heartbeat_s`` is a callable ``symbol -> seconds``; ``pools`` are (symbol_in, symbol_out, fee)
    from the config's ``[[pools]]`` (used to compare the oracle with the DEX).
    """
    block = market.block_number
    symbols = list(market.feeds)
    calls: list[Call] = []
    for sym in symbols:
        calls += feed_calls(market.feeds[sym])
    pairs: list[tuple[str, str, int]] = []
    if factory:
        for a, b, fee in pools:
            if a in market.by_symbol and b in market.by_symbol:
                pairs.append((a, b, fee))
        calls += pool_price_calls(factory, [(market.by_symbol[a], market.by_symbol[b], f) for a, b, f in pairs])
    r = execute(client, calls, block)
    # NOTE: a source without latestRoundData (Aave's adapters and mocks) may still answer Chainlink's older
    # latestAnswer()/latestTimestamp(); ask those of the feeds that failed, in one more batch.
    failed = [sym for i, sym in enumerate(symbols) if not r[2 * i].success]
    legacy = execute(client, [c for sym in failed for c in legacy_feed_calls(market.feeds[sym])], block) if failed else []
    legacy_of = {sym: (legacy[2 * j], legacy[2 * j + 1]) for j, sym in enumerate(failed)}
    out: dict[str, dict[str, Any]] = {}
    for i, sym in enumerate(symbols):
        rd, dec = r[2 * i], r[2 * i + 1]
        feed = market.feeds[sym]
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
        age = max(int(now_s), market.block_timestamp) - int(updated_at)
        decimals = int(dec.value) if dec.success else None
        issue = None
        if decimals is None:
            issue = f"{sym} price source {feed} has no decimals() ({dec.error})"
        out[sym] = {"symbol": sym, "feed": feed, "answer": int(answer), "decimals": decimals or 8,
                    "round_id": int(round_id), "updated_at": int(updated_at), "age_s": age, "heartbeat_s": hb,
                    "stale": age > hb or int(answer) <= 0 or issue is not None, "issue": issue}

    # oracle vs DEX
    if pairs:
        addrs = [to_checksum_address(x.value) if x.success else None for x in r[2 * len(symbols):]]
        live = [(p, a) for p, a in zip(pairs, addrs, strict=True) if a and int(a, 16) != 0]
        calls = []
        for _p, a in live:
            calls += pool_calls(a, twap_window_s=twap_window_s)
        res = execute(client, calls, block) if calls else []
        per = len(HEADER_FUNCTIONS) + (1 if twap_window_s > 0 else 0)  # pool_calls: header (+ observe)
        for j, ((sa, sb, _fee), addr) in enumerate(live):
            chunk = res[j * per : (j + 1) * per]
            if not all(x.success for x in chunk[: len(HEADER_FUNCTIONS)]):
                continue
            header = decode_pool_header(addr, chunk, twap_window_s)
            for sym, other in ((sa, sb), (sb, sa)):
                if sym in out and other in out and "dex_spot_price" not in out[sym] and not out[other]["stale"]:
                    spot, twap = _usd_prices(header, market, sym, other, out[other])
                    out[sym]["dex_spot_price"] = spot
                    out[sym]["dex_twap_price"] = twap
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
            updated_at=d["updated_at"], block_number=block, block_timestamp=market.block_timestamp,
            heartbeat_s=d.get("heartbeat_s", 0), age_s=d["age_s"], stale=d["stale"], issue=d.get("issue"),
            dex_spot_price=d.get("dex_spot_price"), dex_twap_price=d.get("dex_twap_price"),
            deviation_bps=dev, deviating=dev is not None and dev > max_deviation_bps,
        )
    return readings


def _usd_prices(header: Any, market: AaveMarket, sym: str, other: str, other_reading: dict[str, Any]) -> tuple[float, float | None]:
    """USD price of ``sym`` implied by the pool and ``other``'s oracle price (spot, TWAP)."""
    r_sym = market.reserves[market.by_symbol[sym]]
    r_other = market.reserves[market.by_symbol[other]]
    other_usd = other_reading["answer"] / 10 ** other_reading["decimals"]
    sym_is_0 = header.token0 == r_sym.asset
    d0, d1 = (r_sym.decimals, r_other.decimals) if sym_is_0 else (r_other.decimals, r_sym.decimals)

    def price_of_sym(p1_per_0_raw: float) -> float:
        p = p1_per_0_raw * 10 ** (d0 - d1)  # token1 per token0, human units
        return p * other_usd if sym_is_0 else (1 / p) * other_usd

    spot_raw = (header.sqrt_price_x96 / 2**96) ** 2
    spot = price_of_sym(spot_raw)
    twap = price_of_sym(math.pow(1.0001, header.twap_tick)) if header.twap_tick is not None else None
    return spot, twap
