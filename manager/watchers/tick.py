"""One tick of reads: every position, oracle and (on demand) pool depth, all at ONE block.

``TickReader(config).read(now_s)`` picks the head block (refusing a stale head; its timestamp is the block's,
read once), then reads every configured position at that block number in ONE batched read: each protocol
entry's adapter (``manager.protocols.registry``) contributes a read plan, and round k of every plan is one
multicall (chunks in parallel); a second batched read checks every position's oracles and the atomic path.
The result is one table of ``PositionSnapshot`` by position name (``TickData.snapshots``). Depth curves are expensive
(the whole tick bitmap of a pool) and only needed when a strategy wants to act, so
``depth(tick, pairs)`` reads them later in the tick, still at ``tick.block_number``.

Data-quality rules applied here: a position whose reads fail is reported in ``errors`` (the others
go on); a position depending on an oracle symbol (``PositionSnapshot.oracle_symbols``, whatever its protocol)
whose reading is stale or deviates from the DEX is marked ``oracle_fresh=False`` with the reasons in
``oracle_issues``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from manager.chain.batch import ReadPlan, gc_paused, run_plans
from manager.chain.client import ChainClient
from manager.config.schema import Config
from manager.domain import AtomicReads, DepthCurve, OracleReading, PositionSnapshot
from manager.errors import ConfigError, DataQualityError, PosmanError
from manager.protocols import registry
from manager.protocols.base import NoPool
from manager.protocols.reading import AtomicWanted, OracleFeed, PositionRequest, ProtocolRead, ReadContext
from manager.watchers.oracle import oracles_plan, position_oracle_issues


@dataclass(frozen=True)
class TickData:
    """Everything one tick read, at one block.

    ``snapshots``: ONE table, position name -> its ``PositionSnapshot`` (whatever the protocol; the protocol's
    own detail is inside, ``snap.protocol`` names its adapter); ``errors``: name -> why it was not read.
    ``protocol_state``: per ``[[protocols]]`` entry name, the adapter's own detail of the entry (e.g. the Aave
    market it read), for that adapter only. ``tokens``: symbol -> token address known at this block (depth).
    """

    block_number: int
    block_timestamp: int
    snapshots: dict[str, PositionSnapshot]
    oracles: dict[str, OracleReading]
    depth: dict[tuple[str, str], DepthCurve] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    protocol_state: dict[str, Any] = field(default_factory=dict)  # protocol entry name -> adapter's detail
    # managed positions: the account's wallet balance per token (address -> wei), at the same block; what a
    # deleverage may spend before withdrawing (see sizing.deleverage wallet_wei)
    wallets: dict[str, dict[str, int]] = field(default_factory=dict)
    # managed positions whose signer has an executor contract: flash liquidity and the executor's grants at
    # the same block (what ``execution.planner.choose_path`` picks the atomic or direct path from)
    atomic: dict[str, AtomicReads] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # symbol -> token address (first protocol naming it)

    def snapshot(self, name: str) -> PositionSnapshot | None:
        """The position's snapshot, or None."""
        return self.snapshots.get(name)


class TickReader:
    """Reads everything the manager watches, one block at a time, in one batched read per chain.

    Loops over the protocol registry: each configured protocol entry's adapter contributes a read plan
    (``adapter(kind).read_plan``), every plan runs in lockstep (``manager.chain.batch.run_plans``: round k of
    every plan in one multicall, chunks in parallel), the block's timestamp is read once (from the head).
    A second batched read checks the oracles every position depends on (staleness, DEX deviation) and reads
    the atomic path's flash liquidity and grants.
    """

    def __init__(self, config: Config, *, clients: dict[str, ChainClient] | None = None) -> None:
        self.config = config
        self.clients: dict[str, ChainClient] = dict(clients or {})
        self.protocols = {p.name: p for p in config.protocols}
        # the chain's swap venue (its pools price the oracle check and the depth curves)
        self._venues: dict[str, Any] = {p.chain: p for p in config.protocols if _family(p) == "venue"}
        self._checked: set[str] = set()

    def client(self, chain: str) -> ChainClient:
        if chain not in self.clients:
            from manager.chain.verify import verify_chain

            client = ChainClient.from_config(self.config, chain).connect()
            verify_chain(self.config, chain, client)  # every configured contract is what the config says
            self.clients[chain] = client
        return self.clients[chain]

    def _used_protocols(self) -> list[Any]:
        """Protocol entries with positions, in config order (each one's adapter reads them)."""
        used = {p.protocol for p in self.config.positions}
        return [p for p in self.config.protocols if p.name in used and _adapter(p) is not None]

    def read(self, now_s: float, block_number: int | None = None) -> TickData:
        with gc_paused():  # ~10^6 objects built, no cyclic garbage: see manager.chain.batch.gc_paused
            return self._read(now_s, block_number)

    def _read(self, now_s: float, block_number: int | None) -> TickData:
        used = self._used_protocols()
        chains = sorted({p.chain for p in used})
        if not chains:
            raise ConfigError(f"{self.config.source}: no [[positions]] on a supported protocol to watch")
        snapshots: dict[str, PositionSnapshot] = {}
        oracles: dict[str, OracleReading] = {}
        errors: dict[str, str] = {}
        state: dict[str, Any] = {}
        wallets: dict[str, dict[str, int]] = {}
        atomic: dict[str, AtomicReads] = {}
        tokens: dict[str, str] = {}
        # NOTE: one block per chain; a config watching one chain (the usual case) reads everything at one block.
        block_ts = 0
        head_block = block_number
        for chain in chains:
            client = self.client(chain)
            if block_number is None:
                head_block, block_ts = client.head(now_s)
            else:
                block_ts = client.block_timestamp(block_number)
            block = int(head_block or 0)
            ctx = ReadContext(block_number=block, block_timestamp=block_ts, now_s=now_s,
                              heartbeat_s=self.config.oracles.heartbeat_s, config=self.config)
            got = self._read_chain(client, chain, [p for p in used if p.chain == chain], ctx)
            for key, value in (("snapshots", snapshots), ("errors", errors), ("state", state), ("wallets", wallets),
                               ("oracles", oracles), ("atomic", atomic)):
                value.update(got[key])
            for sym, addr in got["tokens"].items():
                tokens.setdefault(sym, addr)
        return TickData(block_number=int(head_block or 0), block_timestamp=block_ts, snapshots=snapshots,
                        oracles=oracles, errors=errors, protocol_state=state, wallets=wallets, atomic=atomic,
                        tokens=tokens)

    def _read_chain(self, client: ChainClient, chain: str, protos: list[Any], ctx: ReadContext) -> dict[str, Any]:
        """One chain's reads at ``ctx.block_number``: every entry's plan, then the oracle check and atomic reads."""
        block = ctx.block_number
        plans: dict[str, ReadPlan[Any]] = {}
        by_proto: dict[str, list[PositionRequest]] = {}
        for p in self.config.positions:
            by_proto.setdefault(p.protocol, []).append(self._request(p))
        for proto in protos:
            adapter = _adapter(proto)
            assert adapter is not None  # _used_protocols keeps only entries whose adapter reads positions
            if proto.name not in self._checked:
                adapter.check_contracts(client, proto, block)
                self._checked.add(proto.name)
            plans[proto.name] = adapter.read_plan(proto, by_proto.get(proto.name, []), ctx)
        results = run_plans(client, plans, block)
        reads: dict[str, ProtocolRead] = {}
        for proto in protos:  # NOTE: a protocol whose read fails as a whole fails the tick (its positions unknown)
            got = results[proto.name]
            if isinstance(got, BaseException):
                raise got
            reads[proto.name] = got
        snapshots: dict[str, PositionSnapshot] = {}
        errors: dict[str, str] = {}
        wallets: dict[str, dict[str, int]] = {}
        feeds: list[OracleFeed] = []
        tokens: dict[str, str] = {}
        for r in reads.values():
            snapshots.update(r.snapshots)
            errors.update(r.errors)
            wallets.update(r.wallets)
            feeds.extend(r.feeds)
            for sym, addr in r.tokens.items():
                tokens.setdefault(sym, addr)
        # second batched read: the oracles of every position (whatever its protocol) and the atomic path's reads
        venue_proto = self._venues.get(chain)
        second: dict[str, ReadPlan[Any]] = {"": oracles_plan(
            feeds, block_number=block, block_timestamp=ctx.block_timestamp, now_s=ctx.now_s,
            heartbeat_s=self.config.oracles.heartbeat_s, max_deviation_bps=self.config.oracles.max_deviation_bps,
            twap_window_s=self.config.oracles.twap_window_s,
            venue=registry.adapter_of(venue_proto) if venue_proto is not None else None, venue_proto=venue_proto,
            pools=[(p.token_in, p.token_out, p.fee_pips) for p in self.config.pools])}
        wanted = self._atomic_wanted(chain, snapshots, by_proto)
        if wanted:
            for kind, (lender, lender_state) in self._lenders(chain, reads).items():
                plan = registry.adapter(kind).atomic_plan(lender, lender_state, wanted)
                second[f"atomic:{kind}"] = plan
        done = run_plans(client, second, block)
        readings = done.pop("")
        if isinstance(readings, BaseException):
            raise readings
        # protocol-neutral: every position is checked against the readings of the symbols it depends on
        untrusted = {sym for sym, r in readings.items() if position_oracle_issues((sym,), readings)}
        if untrusted:
            for name, snap in list(snapshots.items()):
                symbols = snap.oracle_symbols()
                if not untrusted.isdisjoint(symbols):
                    snapshots[name] = snap.with_oracle_issues(position_oracle_issues(symbols, readings))
        atomic = _merge_atomic(wanted, done, block)
        return {"snapshots": snapshots, "errors": errors, "state": {n: r.state for n, r in reads.items()},
                "wallets": wallets, "oracles": readings, "atomic": atomic, "tokens": tokens}

    def _request(self, p: Any) -> PositionRequest:
        executor = None
        if p.mode == "manage" and p.signer is not None and p.signer in self.config.signers:
            executor = getattr(self.config.signers[p.signer], "executor", None)
        return PositionRequest(name=p.name, account=p.account, mode=p.mode, executor=executor)

    def _atomic_wanted(self, chain: str, snapshots: dict[str, PositionSnapshot],
                       requests: dict[str, list[PositionRequest]]) -> list[AtomicWanted]:
        """Managed lending positions read at this tick whose signer has an executor contract, in config order
        (the executor's flash-loan deleverage / boost is a lending action)."""
        with_executor = {r.name: r for reqs in requests.values() for r in reqs if r.executor is not None}
        out = []
        for p in self.config.positions:
            req = with_executor.get(p.name)
            if req is None or req.executor is None or self.protocols[p.protocol].chain != chain \
                    or p.name not in snapshots or registry.adapter_of(snapshots[p.name]).family != "lending":
                continue
            out.append(AtomicWanted(name=p.name, owner=p.account, executor=req.executor, snapshot=snapshots[p.name]))
        return out

    def _lenders(self, chain: str, reads: dict[str, ProtocolRead]) -> dict[str, tuple[Any, Any]]:
        """Per lending kind on the chain, the entry that lends flash liquidity (the first one with positions read,
        else the first configured) and its state read at this tick (None when not read)."""
        out: dict[str, tuple[Any, Any]] = {}
        for proto in self.config.protocols:
            adapter = _adapter(proto)
            if proto.chain != chain or adapter is None or not callable(getattr(adapter, "atomic_plan", None)):
                continue
            kind = proto.kind
            if proto.name in reads and (kind not in out or out[kind][1] is None):
                out[kind] = (proto, reads[proto.name].state)
            elif kind not in out:
                out[kind] = (proto, None)
        return out

    def depth(self, tick: TickData, pairs: Iterable[tuple[str, str]], *, k_bps: Iterable[int] = (10, 50, 100, 300),
              chain: str | None = None) -> dict[tuple[str, str], DepthCurve]:
        """Depth curves for (symbol_in, symbol_out) pairs, at ``tick.block_number``.

        Every configured ``[[pools]]`` entry for the pair (either direction, each fee tier) is quoted: one
        curve, or a tuple of curves (deepest first) that the sizing core splits a sale across
        (``sizing.venues``). A pair with no configured pool gets the two-hop routes through every token that
        has a configured pool to both sides (``sizing.venues.compose_curves``). Symbols resolve through the
        tokens the tick's protocols know (``TickData.tokens``). Pairs with neither are skipped
        (the sizing core then values the sale at the oracle price less a slippage haircut and says so).
        Two-hop routes are added beside direct pools too: the merge takes them only where they pay more.
        """
        from manager.sizing.venues import compose_curves

        out: dict[tuple[str, str], Any] = {}  # a curve, or a tuple of curves (deepest first)
        chain = chain or next(iter(sorted(self._venues)), None)
        if chain is None:
            return out
        venue_proto = self._venues[chain]
        venue = registry.adapter_of(venue_proto)
        # NOTE: symbols resolve through the tokens the tick's protocols named at this block (the first protocol
        # naming a symbol wins; exact, then case-insensitive); 0x... names are addresses.
        known = dict(tick.tokens)
        lower: dict[str, str] = {}
        for sym, addr in known.items():
            lower.setdefault(sym.lower(), addr)

        def address_of(symbol: str) -> str:
            if symbol.startswith("0x"):
                return symbol
            if symbol in known:
                return known[symbol]
            if symbol.lower() in lower:
                return lower[symbol.lower()]
            raise DataQualityError(f"no token address known for {symbol!r} in this tick")

        if not known or not venue.can_quote_depth(venue_proto):
            return out
        client = self.client(chain)
        pairs = list(pairs)
        k_set = set(k_bps)

        # NOTE: every (pair, fee tier) any route needs (direct pools and both legs of each two-hop route) is one
        # read plan (``VenueAdapter.pool_curve_plan``); ONE ``run_plans`` at the tick's block runs them all, round
        # k of every pool in one multicall. A pool that does not exist (``NoPool``) or fails is skipped alone.
        needed: list[tuple[str, str]] = []
        for sym_in, sym_out in pairs:
            needed.append((sym_in, sym_out))
            for mid in self._middles(sym_in, sym_out):
                needed += [(sym_in, mid), (mid, sym_out)]
        tiers: dict[tuple[str, str], list[int]] = {}
        plans: dict[tuple[str, str, int], ReadPlan[Any]] = {}
        for sym_a, sym_b in dict.fromkeys(needed):
            cfgs = [p for p in self.config.pools if {p.token_in, p.token_out} == {sym_a, sym_b}]
            tiers[(sym_a, sym_b)] = []
            if not cfgs:
                continue
            try:
                a, b = address_of(sym_a), address_of(sym_b)
            except DataQualityError:
                continue
            for cfg in cfgs:
                if cfg.fee_pips in tiers[(sym_a, sym_b)]:
                    continue
                tiers[(sym_a, sym_b)].append(cfg.fee_pips)
                plans[(sym_a, sym_b, cfg.fee_pips)] = _no_pool_as_value(venue.pool_curve_plan(
                    venue_proto, a, b, cfg.fee_pips, tick.block_number, sorted(k_set | set(cfg.depth_bps))))
        done = run_plans(client, plans, tick.block_number) if plans else {}

        def curves(sym_a: str, sym_b: str) -> list[DepthCurve]:
            """Every configured pool / fee tier selling ``sym_a`` for ``sym_b`` that was read, deepest first."""
            found = [done[(sym_a, sym_b, fee)] for fee in tiers.get((sym_a, sym_b), ())]
            found = [c for c in found if not isinstance(c, (NoPool, PosmanError)) and c.points]
            found.sort(key=lambda c: -max(c.depth_at_bps.values(), default=0))
            return found

        for sym_in, sym_out in pairs:
            direct = curves(sym_in, sym_out)
            # NOTE: two-hop routes through every token with a configured pool to both sides: the only venues
            # when there is no direct pool, and extra depth beside a thin one (each route uses other pools).
            routes = []
            for mid in self._middles(sym_in, sym_out):
                first, second = curves(sym_in, mid), curves(mid, sym_out)
                if not first or not second:
                    continue
                try:
                    route = compose_curves(first[0], second[0])
                except PosmanError:
                    continue
                if route.points:
                    routes.append(route)
            venues = direct + routes
            if venues:
                out[(sym_in, sym_out)] = venues[0] if len(venues) == 1 else tuple(venues)
        return out

    def _middles(self, sym_in: str, sym_out: str) -> list[str]:
        """Tokens with a configured pool to ``sym_in`` and one to ``sym_out`` (candidates for a two-hop route)."""
        def partners(sym: str) -> set[str]:
            got = set()
            for p in self.config.pools:
                if p.token_in == sym:
                    got.add(p.token_out)
                elif p.token_out == sym:
                    got.add(p.token_in)
            return got
        return sorted((partners(sym_in) & partners(sym_out)) - {sym_in, sym_out})


def _no_pool_as_value(plan: ReadPlan[Any]) -> ReadPlan[Any]:
    """``plan``, returning its ``NoPool`` (a venue without that pool) instead of raising it: ``run_plans`` then
    records it for that pool alone (it only isolates a plan's ``PosmanError``)."""
    try:
        return (yield from plan)
    except NoPool as exc:
        return exc


def reader_for(config: Config, **kwargs: Any) -> TickReader:
    return TickReader(config, **kwargs)


def _family(proto: Any) -> str | None:
    try:
        return str(registry.adapter(proto.kind).family)
    except KeyError:
        return None


def _adapter(proto: Any) -> Any | None:
    """The registered adapter of a protocol entry with positions (None for a venue or an unknown kind)."""
    try:
        a = registry.adapter(proto.kind)
    except KeyError:
        return None
    return a if callable(getattr(a, "read_plan", None)) else None


def _merge_atomic(wanted: list[AtomicWanted], done: dict[str, Any], block: int) -> dict[str, AtomicReads]:
    """Every adapter's ``AtomicReads`` fields per position, merged (none at all when one adapter's read failed:
    the planner then takes the direct path and says why)."""
    if not wanted or any(isinstance(v, BaseException) for v in done.values()):
        return {}
    out: dict[str, AtomicReads] = {}
    for w in wanted:
        fields: dict[str, Any] = {"executor": w.executor, "block_number": block}
        for part in done.values():
            fields.update(part.get(w.name, {}))
        out[w.name] = AtomicReads(**fields)
    return out


# ------------------------------------------------------------------------------------------------
# oracle rounds between ticks (the trailing stop's peak, issue 16)
# ------------------------------------------------------------------------------------------------
MAX_ROUNDS_BACK = 256


def read_round_answers(client: ChainClient, feed: str, after_round: int, last_round: int,
                       block: int) -> list[tuple[int, int, int]]:
    """``(round_id, answer, updated_at)`` of the Chainlink feed's rounds ``after_round + 1 .. last_round`` at
    ``block`` (``AggregatorV3Interface.getRoundData``, one multicall; at most ``MAX_ROUNDS_BACK`` rounds, the
    newest). Round ids of a proxy are ``phase << 64 | aggregator round``: only rounds of ``last_round``'s phase
    are read (a phase change starts from its first round). A round that reverts or has no answer is left out."""
    from manager.chain.multicall import Call, execute

    phase_start = (last_round >> 64) << 64
    first = max(after_round + 1, phase_start + 1, last_round - MAX_ROUNDS_BACK + 1)
    if first > last_round:
        return []
    calls = [Call.build(feed, "getRoundData(uint80)", (r,), ("uint80", "int256", "uint256", "uint256", "uint80"))
                      for r in range(first, last_round + 1)]
    out = []
    for r, res in zip(range(first, last_round + 1), execute(client, calls, block), strict=True):
        if res.success and res.value is not None and int(res.value[1]) > 0:
            out.append((r, int(res.value[1]), int(res.value[3])))
    return out
