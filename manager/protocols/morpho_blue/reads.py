"""Morpho Blue read adapter: build the calls, decode the results, at ONE block.

Mirrors morpho-blue v1.0.0 ``src/Morpho.sol`` views (``idToMarketParams``, ``market``, ``position``),
``src/interfaces/IOracle.sol`` (``price()``) and ``src/interfaces/IIrm.sol`` (``borrowRateView``); oracle
feeds are discovered through ``BASE_FEED_1()`` / ``QUOTE_FEED_1()`` (the getters of Morpho's
``MorphoChainlinkOracleV2`` and of the devnet oracle) when the oracle has them.

Three rounds, every one through ``manager.chain.multicall.execute`` at the same explicit block:

1. ``idToMarketParams(id)`` per market;
2. ``market(id)``, ``oracle.price()``, token ``symbol``/``decimals``, the oracle's feed getters, and
   ``position(id, account)`` per account;
3. ``irm.borrowRateView(params, storedMarket)`` (the rate ``_accrueInterest`` would use next) and each
   feed's ``latestRoundData`` / ``decimals``.

Health is not read (Morpho has no health view): it is computed from these values by
``manager.protocols.morpho_blue.math`` with the contract's own rounding (borrowed assets rounded up from shares).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from manager.chain.batch import ReadPlan, run_plan
from manager.chain.client import ChainClient
from manager.chain.multicall import Call, CallResult
from manager.errors import ChainError, DataQualityError
from manager.protocols.chainlink import feed_calls
from manager.protocols.morpho_blue import abi
from manager.protocols.morpho_blue import math as mm
from manager.protocols.morpho_blue.types import FeedReading, MarketParams, MorphoPositionSnapshot
from manager.protocols.reading import AtomicWanted, OracleFeed, PositionRequest, ProtocolRead, ReadContext

ZERO = "0x0000000000000000000000000000000000000000"
DEFAULT_HEARTBEAT_S = 86_400


@dataclass(frozen=True)
class PositionRef:
    """Which position to read: a name, the account, the market id (0x + 64 hex)."""

    name: str
    account: str
    market_id: str


def _id(market_id: str) -> bytes:
    raw = bytes.fromhex(market_id.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"a Morpho market id is 32 bytes, got {market_id!r}")
    return raw


def _decode_string(data: bytes) -> str:
    from eth_abi import decode

    if len(data) == 32:  # bytes32 symbols (old tokens)
        return data.rstrip(b"\0").decode(errors="replace")
    return str(decode(["string"], data)[0])


# ---- round 1 ----------------------------------------------------------------------------------
def params_calls(morpho: str, market_ids: Sequence[str]) -> list[Call]:
    return [Call.build(morpho, abi.ID_TO_MARKET_PARAMS_FN, [_id(m)], ["address", "address", "address", "address",
                                                                      "uint256"], label=f"idToMarketParams({m})")
            for m in market_ids]


def decode_params(result: CallResult, market_id: str) -> MarketParams:
    loan, coll, oracle, irm, lltv = result.unwrap()
    if int(loan, 16) == 0 or lltv == 0:
        raise DataQualityError(f"Morpho market {market_id} is not created (idToMarketParams is empty) at block "
                               f"{result.block_number}", market_id=market_id, block_number=result.block_number)
    params = MarketParams(loan_token=to_checksum_address(loan), collateral_token=to_checksum_address(coll),
                          oracle=to_checksum_address(oracle), irm=to_checksum_address(irm), lltv_wad=int(lltv))
    if params.id != market_id.lower():
        raise DataQualityError(f"market params of {market_id} hash to {params.id}", market_id=market_id)
    return params


# ---- round 2 ----------------------------------------------------------------------------------
def market_calls(morpho: str, market_id: str, params: MarketParams) -> list[Call]:
    """market(id), price(), loan symbol/decimals, collateral symbol/decimals, BASE_FEED_1, QUOTE_FEED_1."""
    return [
        Call.build(morpho, abi.MARKET_FN, [_id(market_id)], ["uint128"] * 6, label=f"market({market_id})"),
        Call.build(params.oracle, abi.PRICE_FN, [], ["uint256"], label="oracle.price()"),
        Call.build(params.loan_token, "symbol()", [], label="loan.symbol()", decoder=_decode_string),
        Call.build(params.loan_token, "decimals()", [], ["uint8"], label="loan.decimals()"),
        Call.build(params.collateral_token, "symbol()", [], label="collateral.symbol()", decoder=_decode_string),
        Call.build(params.collateral_token, "decimals()", [], ["uint8"], label="collateral.decimals()"),
        Call.build(params.oracle, "BASE_FEED_1()", [], ["address"], label="oracle.BASE_FEED_1()"),
        Call.build(params.oracle, "QUOTE_FEED_1()", [], ["address"], label="oracle.QUOTE_FEED_1()"),
    ]


def position_call(morpho: str, market_id: str, account: str) -> Call:
    return Call.build(morpho, abi.POSITION_FN, [_id(market_id), to_checksum_address(account)],
                      ["uint256", "uint128", "uint128"], label=f"position({market_id},{account})")


def decode_position(result: CallResult) -> mm.MorphoPosition:
    supply_shares, borrow_shares, collateral = result.unwrap()
    return mm.MorphoPosition(supply_shares=int(supply_shares), borrow_shares=int(borrow_shares),
                             collateral_wei=int(collateral))


# ---- round 3 ----------------------------------------------------------------------------------
def borrow_rate_call(params: MarketParams, stored: tuple[int, ...]) -> Call:
    return Call.build(params.irm, abi.BORROW_RATE_VIEW_FN, [params.as_tuple(), tuple(stored)], ["uint256"],
                      label="irm.borrowRateView")


def decode_feed(feed: str, rd: CallResult, dec: CallResult, *, now_s: int, heartbeat_s: int) -> FeedReading:
    round_id, answer, _started, updated_at, _answered = rd.unwrap()
    age = max(0, now_s - int(updated_at))
    return FeedReading(feed=feed, answer=int(answer), decimals=int(dec.unwrap()), round_id=int(round_id),
                       updated_at=int(updated_at), age_s=age, stale=age > heartbeat_s or int(answer) <= 0)


# ---- the whole read ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _MarketRead:
    market_id: str
    params: MarketParams
    stored: tuple[int, ...]  # market(id) as stored: tsa, tss, tba, tbs, lastUpdate, fee
    price: int
    loan_symbol: str
    loan_decimals: int
    collateral_symbol: str
    collateral_decimals: int
    base_feed: str | None
    quote_feed: str | None


def read_snapshots(
    client: ChainClient,
    morpho: str,
    refs: Sequence[PositionRef],
    block_number: int,
    *,
    block_timestamp: int | None = None,
    now_s: int | None = None,
    heartbeat_s: int | Mapping[str, int] = DEFAULT_HEARTBEAT_S,
) -> tuple[list[MorphoPositionSnapshot], dict[str, str]]:
    """Snapshots of ``refs`` at ``block_number``: (snapshots, {name: one-line error}) -- a failing
    position is left out, the others are unaffected; a market that cannot be read raises.

    ``now_s`` (default: the block's timestamp) is the clock for feed ages; ``heartbeat_s`` is one value
    or a {symbol: seconds} mapping (missing symbols use ``DEFAULT_HEARTBEAT_S``).
    """
    morpho = to_checksum_address(morpho)
    if block_timestamp is None:
        block_timestamp = client.block_timestamp(block_number)
    now = int(now_s) if now_s is not None else block_timestamp
    return run_plan(client, snapshots_plan(morpho, refs, block_number, block_timestamp=block_timestamp, now_s=now,
                                           heartbeat_s=heartbeat_s), block_number)


def snapshots_plan(
    morpho: str,
    refs: Sequence[PositionRef],
    block_number: int,
    *,
    block_timestamp: int,
    now_s: int,
    heartbeat_s: int | Mapping[str, int] = DEFAULT_HEARTBEAT_S,
) -> ReadPlan[tuple[list[MorphoPositionSnapshot], dict[str, str]]]:
    """The read plan of ``read_snapshots`` (three rounds)."""
    got = yield from _snapshots_plan(to_checksum_address(morpho), refs, block_number, block_timestamp, int(now_s),
                                     heartbeat_s, ())
    return got[0], got[1]


def _snapshots_plan(morpho: str, refs: Sequence[PositionRef], block_number: int, block_timestamp: int, now: int,
                    heartbeat_s: int | Mapping[str, int] | Callable[[str], int], wallets_of: Sequence[str],
                    ) -> ReadPlan[tuple[list[MorphoPositionSnapshot], dict[str, str], dict[str, dict[str, int]]]]:
    ids = list(dict.fromkeys(r.market_id.lower() for r in refs))

    r1 = yield params_calls(morpho, ids)
    params = {m: decode_params(res, m) for m, res in zip(ids, r1, strict=True)}

    calls: list[Call] = []
    for m in ids:
        calls.extend(market_calls(morpho, m, params[m]))
    n_market = len(calls)
    calls.extend(position_call(morpho, r.market_id.lower(), r.account) for r in refs)
    r2 = yield calls
    markets: dict[str, _MarketRead] = {}
    for i, m in enumerate(ids):
        mk, price, ls, ld, cs, cd, bf, qf = r2[8 * i : 8 * i + 8]
        if not price.success:
            raise DataQualityError(f"oracle {params[m].oracle} of Morpho market {m} reverted at block "
                                   f"{block_number}: {price.error}", market_id=m, block_number=block_number)
        base = bf.value if bf.success and int(bf.value, 16) else None
        quote = qf.value if qf.success and int(qf.value, 16) else None
        markets[m] = _MarketRead(
            market_id=m, params=params[m], stored=tuple(int(x) for x in mk.unwrap()), price=int(price.unwrap()),
            loan_symbol=ls.value if ls.success else "", loan_decimals=int(ld.unwrap()),
            collateral_symbol=cs.value if cs.success else "", collateral_decimals=int(cd.unwrap()),
            base_feed=to_checksum_address(base) if base else None,
            quote_feed=to_checksum_address(quote) if quote else None)
    positions = r2[n_market:]

    calls = []
    feeds = sorted({f for mr in markets.values() for f in (mr.base_feed, mr.quote_feed) if f})
    for m in ids:
        calls.append(borrow_rate_call(params[m], markets[m].stored))
    for f in feeds:
        calls.extend(feed_calls(f))
    n_r3 = len(calls)
    # what an interrupted plan may have left: the market's two tokens in the wallet of the managed positions
    wallet_refs = [r for r in refs if r.name in set(wallets_of)]
    for ref in wallet_refs:
        mr = markets[ref.market_id.lower()]
        calls += [Call.build(t, "balanceOf(address)", (to_checksum_address(ref.account),), ("uint256",),
                             label=f"wallet {ref.name}") for t in (mr.params.collateral_token, mr.params.loan_token)]
    r3 = yield calls
    wallets: dict[str, dict[str, int]] = {}
    for k, ref in enumerate(wallet_refs):
        mr = markets[ref.market_id.lower()]
        pair = (mr.params.collateral_token, mr.params.loan_token)
        wallets[ref.name] = {t: int(x.value) for t, x in zip(pair, r3[n_r3 + 2 * k: n_r3 + 2 * k + 2], strict=True)
                             if x.success and int(x.value) > 0}
    rates = {m: r3[i] for i, m in enumerate(ids)}
    feed_res = {f: (r3[len(ids) + 2 * j], r3[len(ids) + 2 * j + 1]) for j, f in enumerate(feeds)}

    def hb(symbol: str) -> int:
        if callable(heartbeat_s):
            return int(heartbeat_s(symbol))
        if isinstance(heartbeat_s, Mapping):
            return int(heartbeat_s.get(symbol, DEFAULT_HEARTBEAT_S))
        return int(heartbeat_s)

    out: list[MorphoPositionSnapshot] = []
    errors: dict[str, str] = {}
    for ref, pos_res in zip(refs, positions, strict=True):
        mr = markets[ref.market_id.lower()]
        try:
            position = decode_position(pos_res)
            rate = rates[mr.market_id]
            if mr.params.irm != ZERO and not rate.success:
                raise DataQualityError(f"irm.borrowRateView reverted at block {block_number}: {rate.error}")
            issues: list[str] = []
            readings: dict[str, FeedReading | None] = {}
            for side, feed, sym in (("collateral", mr.base_feed, mr.collateral_symbol),
                                    ("loan", mr.quote_feed, mr.loan_symbol)):
                readings[side] = None
                if feed is None:
                    continue
                rd, dec = feed_res[feed]
                if not (rd.success and dec.success):
                    issues.append(f"{sym} feed {feed} unreadable: {rd.error or dec.error}")
                    continue
                reading = decode_feed(feed, rd, dec, now_s=now, heartbeat_s=hb(sym))
                readings[side] = reading
                if reading.stale:
                    issues.append(f"{sym} feed answer is {reading.age_s}s old (heartbeat {hb(sym)}s)"
                                  if reading.answer > 0 else f"{sym} feed answer {reading.answer} <= 0")
            tsa, tss, tba, tbs, last_update, fee = mr.stored
            market = mm.MorphoMarket(
                loan_token=mr.params.loan_token, collateral_token=mr.params.collateral_token,
                loan_symbol=mr.loan_symbol, collateral_symbol=mr.collateral_symbol,
                loan_decimals=mr.loan_decimals, collateral_decimals=mr.collateral_decimals,
                lltv_wad=mr.params.lltv_wad, total_supply_assets=tsa, total_supply_shares=tss,
                total_borrow_assets=tba, total_borrow_shares=tbs, oracle_price=mr.price, block_number=block_number)
            out.append(MorphoPositionSnapshot(
                name=ref.name, morpho=morpho, account=to_checksum_address(ref.account), block_number=block_number,
                block_timestamp=block_timestamp, market_id=mr.market_id, params=mr.params,
                loan_symbol=mr.loan_symbol, collateral_symbol=mr.collateral_symbol,
                loan_decimals=mr.loan_decimals, collateral_decimals=mr.collateral_decimals, market=market,
                last_update=last_update, fee_wad=fee,
                borrow_rate_per_s_wad=int(rate.value) if rate.success else 0, position=position,
                collateral_feed=readings["collateral"], loan_feed=readings["loan"],
                oracle_fresh=not issues, oracle_issues=tuple(issues)))
        except DataQualityError as exc:
            errors[ref.name or ref.account] = str(exc)
    return out, errors, {name: w for name, w in wallets.items() if name not in errors}


def read_positions(
    client: ChainClient,
    cfg_protocol: Any,
    accounts: Sequence[Any],
    block: int,
    *,
    now_s: int | None = None,
    heartbeat_s: int | Mapping[str, int] = DEFAULT_HEARTBEAT_S,
) -> list[MorphoPositionSnapshot]:
    """Snapshots of ``accounts`` in the market of ``cfg_protocol`` (a ``MorphoBlueConfig``) at ``block``.

    ``accounts`` items are ``PositionConfig``-like objects (``.name``, ``.account``), ``(name, account)``
    pairs, or bare addresses. Raises ``DataQualityError`` naming the first position that failed.
    """
    refs = []
    for item in accounts:
        if isinstance(item, str):
            name, account = "", item
        elif isinstance(item, tuple):
            name, account = item
        else:
            name, account = item.name, item.account
        refs.append(PositionRef(name=name, account=account, market_id=cfg_protocol.market_id))
    snaps, errors = read_snapshots(client, cfg_protocol.morpho, refs, block, now_s=now_s, heartbeat_s=heartbeat_s)
    if errors:
        name, err = next(iter(errors.items()))
        raise DataQualityError(f"Morpho position {name}: {err}", position=name, block_number=block)
    return snaps


def check_morpho(client: ChainClient, morpho: str, block: int | str = "latest") -> None:
    """``ChainError`` when there is no contract at ``morpho``."""
    if not client.get_code(morpho, block):
        raise ChainError(f"no contract at the configured Morpho address {morpho}", address=morpho)


# ------------------------------------------------------------------------------------------------
# the tick: one [[protocols]] entry (one market) as a read plan
# ------------------------------------------------------------------------------------------------
def tick_plan(proto: Any, positions: Sequence[PositionRequest], ctx: ReadContext) -> ReadPlan[ProtocolRead]:
    """Every position of one Morpho Blue market at ``ctx.block_number`` (three rounds; the managed positions'
    wallet balances of the market's two tokens in the last one). Feed ages count from the later of the clock
    and the block's timestamp."""
    refs = [PositionRef(name=p.name, account=p.account, market_id=proto.market_id) for p in positions]
    snaps, errors, wallets = yield from _snapshots_plan(
        to_checksum_address(proto.morpho), refs, ctx.block_number, ctx.block_timestamp,
        max(int(ctx.now_s), ctx.block_timestamp), ctx.heartbeat_s,
        [p.name for p in positions if p.mode == "manage"])
    feeds: dict[str, OracleFeed] = {}
    tokens: dict[str, str] = {}
    for sm in snaps:
        for sym, token, decimals, reading in ((sm.collateral_symbol, sm.params.collateral_token, sm.collateral_decimals,
                                               sm.collateral_feed),
                                              (sm.loan_symbol, sm.params.loan_token, sm.loan_decimals, sm.loan_feed)):
            if sym:
                tokens.setdefault(sym, token)
                if reading is not None:
                    feeds.setdefault(sym, OracleFeed(symbol=sym, feed=reading.feed, token=token, decimals=decimals))
    return ProtocolRead(snapshots={sm.name: sm for sm in snaps}, errors=errors, feeds=tuple(feeds.values()),
                        tokens=tokens, wallets=wallets)


def atomic_plan(morpho: str, wanted: Sequence[AtomicWanted], kind: str) -> ReadPlan[dict[str, dict[str, Any]]]:
    """The Morpho Blue side of the atomic path (one round), as ``AtomicReads`` fields: as the chain's fee-free flash
    lender (``morpho``), its balance of every wanted position's debt tokens; for positions on this protocol
    (``kind``), ``isAuthorized(owner, executor)`` on the snapshot's own Morpho."""
    calls: list[Call] = []
    index: list[tuple[str, str, str]] = []
    for w in wanted:
        snap = w.snapshot
        if snap.protocol == kind and isinstance(snap, MorphoPositionSnapshot):
            calls.append(Call.build(snap.morpho, "isAuthorized(address,address)", (w.owner, w.executor), ("bool",)))
            index.append((w.name, "authorized", ""))
        for d in snap.debt_tokens():
            calls.append(Call.build(d, "balanceOf(address)", (morpho,), ("uint256",)))
            index.append((w.name, "balance", d.lower()))
    results = (yield calls) if calls else []
    got: dict[str, dict[str, Any]] = {w.name: {"morpho": morpho, "morpho_balance_wei": {}} for w in wanted}
    for (name, what, token), res in zip(index, results, strict=True):
        if not res.success:
            continue
        if what == "authorized":
            got[name]["morpho_authorized"] = bool(res.value)
        else:
            got[name]["morpho_balance_wei"][token] = int(res.value)
    return got
