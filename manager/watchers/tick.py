"""One tick of reads: every position, oracle and (on demand) pool depth, all at ONE block.

``TickReader(config).read(now_s)`` picks the head block (refusing a stale head), then reads the Aave
market, the feeds and every configured position at that block number. Depth curves are expensive
(the whole tick bitmap of a pool) and only needed when a strategy wants to act, so
``depth(tick, pairs)`` reads them later in the tick, still at ``tick.block_number``.

Data-quality rules applied here: a position whose reads fail is reported in ``errors`` (the others
go on); a position holding an asset whose oracle is stale or deviates from the DEX is marked
``oracle_fresh=False`` with the reasons in ``oracle_issues``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from manager.chain.client import ChainClient
from manager.config.schema import AaveV3Config, Config, UniswapV3Config
from manager.domain import AtomicReads, DepthCurve, OracleReading
from manager.errors import ConfigError, DataQualityError, PosmanError
from manager.protocols.aave_v3.reads import AaveMarket, read_accounts, read_market
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.watchers.oracle import read_oracles


@dataclass(frozen=True)
class TickData:
    block_number: int
    block_timestamp: int
    positions: dict[str, LendingPositionSnapshot]
    oracles: dict[str, OracleReading]
    depth: dict[tuple[str, str], DepthCurve] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    markets: dict[str, AaveMarket] = field(default_factory=dict)  # by protocol name
    morpho: dict[str, Any] = field(default_factory=dict)  # position name -> MorphoPositionSnapshot
    perps: dict[str, Any] = field(default_factory=dict)  # position name -> sizing.perp.PerpSnapshot
    # position name -> why its oracle is not trusted (perps: the ``asset`` oracle of its protocol entry)
    oracle_issues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # managed Aave positions: the account's wallet balance of every reserve token (asset -> wei), at the
    # same block; what a deleverage may spend before withdrawing (see sizing.deleverage wallet_wei)
    wallets: dict[str, dict[str, int]] = field(default_factory=dict)
    # managed positions whose signer has an executor contract: flash liquidity and the executor's grants at
    # the same block (what ``execution.planner.choose_path`` picks the atomic or direct path from)
    atomic: dict[str, AtomicReads] = field(default_factory=dict)

    def snapshot(self, name: str) -> Any | None:
        """The position's snapshot whatever its protocol (Aave, Morpho Blue, Synthetix PerpsV2), or None."""
        for table in (self.positions, self.morpho, self.perps):
            if name in table:
                return table[name]
        return None


class TickReader:
    """Reads everything the manager watches, one block at a time."""

    def __init__(self, config: Config, *, clients: dict[str, ChainClient] | None = None) -> None:
        self.config = config
        self.clients: dict[str, ChainClient] = dict(clients or {})
        self.protocols = {p.name: p for p in config.protocols}
        self._uniswap = {p.chain: p for p in config.protocols if isinstance(p, UniswapV3Config)}
        self._checked: set[str] = set()

    def client(self, chain: str) -> ChainClient:
        if chain not in self.clients:
            from manager.chain.verify import verify_chain

            client = ChainClient.from_config(self.config, chain).connect()
            verify_chain(self.config, chain, client)  # every configured contract is what the config says
            self.clients[chain] = client
        return self.clients[chain]

    def _aave_protocols(self) -> list[AaveV3Config]:
        used = {p.protocol for p in self.config.positions}
        return [p for p in self.config.protocols if isinstance(p, AaveV3Config) and p.name in used]

    def _morpho_protocols(self) -> list[Any]:
        used = {p.protocol for p in self.config.positions}
        return [p for p in self.config.protocols if getattr(p, "kind", "") == "morpho_blue" and p.name in used]

    def _perp_protocols(self) -> list[Any]:
        used = {p.protocol for p in self.config.positions}
        return [p for p in self.config.protocols if getattr(p, "kind", "") == "synthetix_perps" and p.name in used]

    def read(self, now_s: float, block_number: int | None = None) -> TickData:
        positions: dict[str, LendingPositionSnapshot] = {}
        oracles: dict[str, OracleReading] = {}
        errors: dict[str, str] = {}
        markets: dict[str, AaveMarket] = {}
        morpho: dict[str, Any] = {}
        perps: dict[str, Any] = {}
        perp_issues: dict[str, tuple[str, ...]] = {}
        wallets: dict[str, dict[str, int]] = {}
        atomic: dict[str, AtomicReads] = {}
        chains = ({p.chain for p in self._aave_protocols()} | {p.chain for p in self._morpho_protocols()}
                  | {p.chain for p in self._perp_protocols()})
        if not chains:
            raise ConfigError(f"{self.config.source}: no [[positions]] on a supported protocol to watch")
        # NOTE: one block per chain; a config watching one chain (the usual case) reads everything at one block.
        block_ts = 0
        head_block = block_number
        for chain in sorted(chains):
            client = self.client(chain)
            if block_number is None:
                head_block, block_ts = client.head(now_s)
            else:
                block_ts = client.block_timestamp(block_number)
            for proto in self._aave_protocols():
                if proto.chain != chain:
                    continue
                if proto.pool_addresses_provider not in self._checked:
                    client.require_contract(proto.pool_addresses_provider, f"protocol {proto.name!r} "
                                            "pool_addresses_provider", block=head_block)
                    self._checked.add(proto.pool_addresses_provider)
                market = read_market(client, proto.pool_addresses_provider, head_block, block_timestamp=block_ts,
                                     version=proto.version)
                self._check_pool_symbols(market)
                markets[proto.name] = market
                uni = self._uniswap.get(chain)
                pools = [(p.token_in, p.token_out, p.fee_pips) for p in self.config.pools]
                readings = read_oracles(
                    client, market, now_s=now_s, heartbeat_s=self.config.oracles.heartbeat_s,
                    max_deviation_bps=self.config.oracles.max_deviation_bps,
                    twap_window_s=self.config.oracles.twap_window_s, factory=uni.factory if uni else None,
                    pools=pools,
                )
                oracles.update(readings)
                cfgs = [p for p in self.config.positions if p.protocol == proto.name]
                snaps, errs = read_accounts(client, market, [p.account for p in cfgs], names=[p.name for p in cfgs])
                by_account = {s.account: s for s in snaps}
                for p in cfgs:
                    snap = by_account.get(p.account)
                    if snap is None:
                        errors[p.name] = errs.get(p.account, "no snapshot")
                        continue
                    if not snap.assets:
                        errors[p.name] = (f"account {p.account} has no position on {proto.name!r} at block "
                                          f"{head_block} (no collateral, no debt)")
                        continue
                    issues = _oracle_issues(snap, readings)
                    if issues:
                        snap = snap.model_copy(update={"oracle_fresh": False, "oracle_issues": tuple(issues)})
                    positions[p.name] = snap.model_copy(update={"name": p.name})
                managed = [p for p in cfgs if p.mode == "manage" and p.name in positions]
                if managed:
                    wallets.update(_read_wallets(client, market, managed, int(head_block or 0)))
            for proto in self._morpho_protocols():
                if proto.chain != chain:
                    continue
                from manager.protocols.morpho_blue.reads import PositionRef, read_snapshots

                cfgs = [p for p in self.config.positions if p.protocol == proto.name]
                refs = [PositionRef(name=p.name, account=p.account, market_id=proto.market_id) for p in cfgs]
                snaps_m, errs_m = read_snapshots(client, proto.morpho, refs, head_block, now_s=max(int(now_s), block_ts),
                                                 heartbeat_s=_Heartbeats(self.config.oracles))
                for sm in snaps_m:
                    morpho[sm.name] = sm
                for name, err in errs_m.items():
                    errors[name] = err
                managed_m = [sm for sm in snaps_m if self.config.position(sm.name).mode == "manage"]
                if managed_m:  # what an interrupted plan may have left: the market's two tokens in the wallet
                    from manager.chain.multicall import Call, execute

                    calls = [Call.build(t, "balanceOf(address)", (sm.account,), ("uint256",), label=f"wallet {sm.name}")
                             for sm in managed_m for t in (sm.params.collateral_token, sm.params.loan_token)]
                    res = execute(client, calls, int(head_block or 0))
                    for k, sm in enumerate(managed_m):
                        wallets[sm.name] = {t: int(r.value) for t, r in zip(
                            (sm.params.collateral_token, sm.params.loan_token), res[2 * k: 2 * k + 2], strict=True)
                            if r.success and int(r.value) > 0}
            for proto in self._perp_protocols():
                if proto.chain != chain:
                    continue
                self._read_perps(client, proto, int(head_block or 0), block_ts, perps, errors)
                reading = oracles.get(proto.asset) if proto.asset else None
                for name in perps:
                    if reading is not None and self.config.position(name).protocol == proto.name:
                        found = _reading_issues(proto.asset, reading)
                        if found:
                            perp_issues[name] = tuple(found)
            atomic.update(self._read_atomic(client, chain, int(head_block or 0), markets, positions, morpho))
        return TickData(block_number=int(head_block or 0), block_timestamp=block_ts, positions=positions,
                        oracles=oracles, errors=errors, markets=markets, morpho=morpho, perps=perps, wallets=wallets,
                        oracle_issues=perp_issues, atomic=atomic)

    def _read_atomic(self, client: ChainClient, chain: str, block: int, markets: dict[str, AaveMarket],
                     positions: dict[str, LendingPositionSnapshot], morpho: dict[str, Any]) -> dict[str, AtomicReads]:
        """``AtomicReads`` of every managed position whose signer has an executor, in one multicall at ``block``.

        Mirrors what the executor's flow needs on chain (the same rules as ``manager.atomic.reads``, batched at
        the tick's block): Aave ``FLASHLOAN_PREMIUM_TOTAL`` and the reserve's configuration (``getConfiguration``:
        active bit 56, not paused bit 60, flash loans bit 63), Morpho Blue's balance of the debt token, the aToken
        allowance / credit delegation owner -> executor and Morpho's ``isAuthorized``. A failed read leaves
        the position out (the planner then takes the direct path and says why).
        """
        from manager.chain.multicall import Call, execute

        wanted = []
        for p in self.config.positions:
            if p.mode != "manage" or p.signer is None or p.signer not in self.config.signers:
                continue
            executor = getattr(self.config.signers[p.signer], "executor", None)
            if executor is None or self.protocols[p.protocol].chain != chain:
                continue
            snap = positions.get(p.name) or morpho.get(p.name)
            if snap is not None:
                wanted.append((p.name, p.account, executor, snap))
        if not wanted:
            return {}
        market = next((m for name, m in markets.items() if self.protocols[name].chain == chain), None)
        morpho_addr = next((q.morpho for q in self.config.protocols
                            if getattr(q, "kind", "") == "morpho_blue" and q.chain == chain), None)
        calls: list[Call] = []
        index: list[tuple[str, str, str]] = []  # (position, what, token) per call

        def add(call: Call, name: str, what: str, token: str = "") -> None:
            calls.append(call)
            index.append((name, what, token.lower()))

        if market is not None:
            add(Call.build(market.pool, "FLASHLOAN_PREMIUM_TOTAL()", (), ("uint128",)), "", "premium")
        for name, owner, executor, snap in wanted:
            if isinstance(snap, LendingPositionSnapshot):
                debts = [a.asset for a in snap.assets if a.variable_debt_wei + a.stable_debt_wei > 0]
                for a in snap.assets:
                    r = snap.reserves.get(a.asset)
                    if a.collateral_wei > 0 and r is not None and r.a_token:
                        add(Call.build(r.a_token, "allowance(address,address)", (owner, executor), ("uint256",)),
                            name, "withdraw", a.asset)
                for d in debts:
                    r = snap.reserves.get(d)
                    if r is not None and r.variable_debt_token:
                        add(Call.build(r.variable_debt_token, "borrowAllowance(address,address)", (owner, executor),
                                       ("uint256",)), name, "borrow", d)
            else:
                debts = [snap.params.loan_token]
                add(Call.build(snap.morpho, "isAuthorized(address,address)", (owner, executor), ("bool",)),
                    name, "authorized")
            for d in debts:
                if market is not None and d in market.reserves:
                    add(Call.build(market.pool, "getConfiguration(address)", (d,), ("uint256",)), name, "config", d)
                if morpho_addr is not None:
                    add(Call.build(d, "balanceOf(address)", (morpho_addr,), ("uint256",)), name, "morpho", d)
        try:
            results = execute(client, calls, block)
        except PosmanError:
            return {}
        premium = None
        got: dict[str, dict[str, Any]] = {name: {"withdraw": {}, "borrow": {}, "flash": {}, "avail": {}, "morpho": {},
                                                 "authorized": None} for name, *_ in wanted}
        for (name, what, token), res in zip(index, results, strict=True):
            if not res.success:
                continue
            value = res.value
            if what == "premium":
                premium = int(value)
            elif what in ("withdraw", "borrow", "morpho"):
                got[name][what][token] = int(value)
            elif what == "config":
                cfg_bits = int(value)  # ReserveConfiguration: active (56), paused (60), flash loans enabled (63)
                got[name]["flash"][token] = bool((cfg_bits >> 63) & 1 and (cfg_bits >> 56) & 1
                                                 and not (cfg_bits >> 60) & 1)
            elif what == "authorized":
                got[name]["authorized"] = bool(value)
        out: dict[str, AtomicReads] = {}
        for name, _owner, executor, _snap in wanted:
            g = got[name]
            avail = {}
            if market is not None:
                for token in g["flash"]:
                    r = next((r for a, r in market.reserves.items() if a.lower() == token), None)
                    if r is not None:
                        avail[token] = int(r.available_liquidity_wei)
            out[name] = AtomicReads(
                executor=executor, block_number=block, aave_pool=market.pool if market else None,
                aave_premium_bps=premium, aave_flash_enabled=g["flash"], aave_available_wei=avail,
                morpho=morpho_addr, morpho_balance_wei=g["morpho"], withdraw_allowance_wei=g["withdraw"],
                borrow_allowance_wei=g["borrow"], morpho_authorized=g["authorized"])
        return out

    def _read_perps(self, client: ChainClient, proto: Any, block: int, block_ts: int, perps: dict[str, Any],
                    errors: dict[str, str]) -> None:
        """Every configured position of one PerpsV2 market at ``block`` (one failure fails the market's positions)."""
        from manager.protocols.synthetix_perps.reads import PerpsV2Addresses, read_perps

        cfgs = [p for p in self.config.positions if p.protocol == proto.name]
        addrs = PerpsV2Addresses(market=proto.market, settings=proto.settings, exchange_rates=proto.exchange_rates,
                                 susd=proto.susd, name=(proto.market_key or proto.name).removeprefix("s")
                                 .removesuffix("PERP"))
        try:
            snaps, _reported = read_perps(client, addrs, [p.account for p in cfgs], block, market_key=proto.market_key,
                                          block_timestamp=block_ts, with_reported=False,
                                          names=[p.name for p in cfgs])
        except PosmanError as exc:
            for p in cfgs:
                errors[p.name] = f"{proto.name}: {' '.join(str(exc).split())[:300]}"
            return
        for p, snap in zip(cfgs, snaps, strict=True):
            if snap.position.size_wad == 0 and snap.position.margin_wad == 0:
                errors[p.name] = f"account {p.account} has no position on {proto.name!r} at block {block}"
                continue
            perps[p.name] = snap

    def _check_pool_symbols(self, market: AaveMarket) -> None:
        """``[[pools]]`` tokens given as symbols must name reserves of the market."""
        for i, pool in enumerate(self.config.pools):
            for key in ("token_in", "token_out"):
                value = getattr(pool, key)
                if value.startswith("0x"):
                    continue
                try:
                    market.asset(value)
                except DataQualityError as exc:
                    hint = str(exc).split(";", 1)[1].strip() if ";" in str(exc) else ""
                    raise self.config.error(("pools", i, key), f"unknown asset {value!r} (not a reserve of the "
                                            f"Aave market{'; ' + hint if hint else ''})") from None

    def depth(self, tick: TickData, pairs: Iterable[tuple[str, str]], *, k_bps: Iterable[int] = (10, 50, 100, 300),
              chain: str | None = None) -> dict[tuple[str, str], DepthCurve]:
        """Depth curves for (symbol_in, symbol_out) pairs, at ``tick.block_number``.

        Every configured ``[[pools]]`` entry for the pair (either direction, each fee tier) is quoted: one
        curve, or a tuple of curves (deepest first) that the sizing core splits a sale across
        (``sizing.venues``). A pair with no configured pool gets the two-hop routes through every token that
        has a configured pool to both sides (``sizing.venues.compose_curves``). Symbols resolve through the
        tick's Aave market, else the Morpho snapshots' loan/collateral tokens. Pairs with neither are skipped
        (the sizing core then values the sale at the oracle price less a slippage haircut and says so).
        Two-hop routes are added beside direct pools too: the merge takes them only where they pay more.
        """
        from manager.sizing.venues import compose_curves

        out: dict[tuple[str, str], DepthCurve] = {}
        chain = chain or next(iter(sorted(self._uniswap)), None)
        if chain is None:
            return out
        uni = self._uniswap[chain]
        market = next(iter(tick.markets.values()), None)
        # NOTE: without an Aave market in the tick (a Morpho-only config) symbols resolve through the Morpho
        # snapshots' own loan/collateral tokens (read with the snapshot, same block); 0x... names are addresses.
        known: dict[str, str] = {}
        for sm in tick.morpho.values():
            known.setdefault(sm.collateral_symbol, sm.params.collateral_token)
            known.setdefault(sm.loan_symbol, sm.params.loan_token)
        known.pop("", None)

        def address_of(symbol: str) -> str:
            if symbol.startswith("0x"):
                return symbol
            if market is not None:
                try:
                    return market.asset(symbol)
                except DataQualityError:
                    if symbol not in known:
                        raise
            if symbol not in known:
                raise DataQualityError(f"no token address known for {symbol!r} in this tick")
            return known[symbol]

        if (market is None and not known) or uni.tick_lens is None:
            return out
        client = self.client(chain)
        cache: dict[tuple[str, str], list[DepthCurve]] = {}

        def curves(sym_a: str, sym_b: str) -> list[DepthCurve]:
            """Every configured pool / fee tier selling ``sym_a`` for ``sym_b``, deepest first."""
            if (sym_a, sym_b) in cache:
                return cache[(sym_a, sym_b)]
            cfgs = [p for p in self.config.pools if {p.token_in, p.token_out} == {sym_a, sym_b}]
            found: list[DepthCurve] = []
            if cfgs:
                try:
                    a, b = address_of(sym_a), address_of(sym_b)
                except DataQualityError:
                    cfgs = []
            seen: set[int] = set()
            for cfg in cfgs:
                if cfg.fee_pips in seen:
                    continue
                seen.add(cfg.fee_pips)
                try:
                    found.append(self._pool_curve(client, uni, a, b, cfg, tick.block_number, k_bps))
                except _NoPool:
                    continue
                except (PosmanError, DataQualityError):
                    continue
            found = [c for c in found if c.points]
            found.sort(key=lambda c: -max(c.depth_at_bps.values(), default=0))
            cache[(sym_a, sym_b)] = found
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

    def _pool_curve(self, client: ChainClient, uni: UniswapV3Config, a: str, b: str, cfg: Any, block: int,
                    k_bps: Iterable[int]) -> DepthCurve:
        """The depth curve of the (a, b, fee) pool selling ``a``, at ``block``."""
        from manager.chain.multicall import Call, execute
        from manager.protocols.uniswap_v3.depth import depth_curve
        from manager.protocols.uniswap_v3.reads import read_pool

        addr = execute(client, [Call.build(uni.factory, "getPool(address,address,uint24)", (a, b, cfg.fee_pips),
                                           ("address",))], block)[0].unwrap()
        if int(addr, 16) == 0:
            raise _NoPool(f"no {cfg.fee_pips}-pip pool for {a}/{b}")
        assert uni.tick_lens is not None
        state = read_pool(client, addr, uni.tick_lens, block, twap_window_s=0)
        zero_for_one = state.token0.lower() == a.lower()
        k = sorted(set(k_bps) | set(cfg.depth_bps))
        # NOTE: 48 sizes (log-spaced) keep the linear interpolation between quotes within a few bps of the pool,
        # so a sale lands at its target instead of well above it (the interpolation errs against us).
        return depth_curve(state, zero_for_one, k_bps=k, grid_points=48)


class _NoPool(Exception):
    """The factory has no pool for the pair at that fee tier."""


def _reading_issues(symbol: str, r: OracleReading) -> list[str]:
    issues = []
    if r.stale and r.issue:
        issues.append(r.issue)
    elif r.stale:
        issues.append(f"{symbol} oracle stale: updated {r.age_s} s ago (heartbeat {r.heartbeat_s} s)")
    if r.deviating:
        issues.append(f"{symbol} oracle deviates {r.deviation_bps:.0f} bps from the DEX")
    return issues


def _oracle_issues(snap: LendingPositionSnapshot, readings: dict[str, OracleReading]) -> list[str]:
    issues = []
    for a in snap.assets:
        r = readings.get(a.symbol)
        if r is not None:
            issues += _reading_issues(a.symbol, r)
    return issues


def reader_for(config: Config, **kwargs: Any) -> TickReader:
    return TickReader(config, **kwargs)


def _read_wallets(client: ChainClient, market: AaveMarket, positions: list[Any], block: int) -> dict[str, dict[str, int]]:
    """``balanceOf(account)`` of every reserve token for each managed position, at ``block``."""
    from manager.chain.multicall import Call, execute

    assets = list(market.reserves)
    calls = [Call.build(a, "balanceOf(address)", (p.account,), ("uint256",), label=f"wallet {p.name}")
             for p in positions for a in assets]
    results = execute(client, calls, block)
    out: dict[str, dict[str, int]] = {}
    for i, p in enumerate(positions):
        row = results[i * len(assets) : (i + 1) * len(assets)]
        out[p.name] = {a: int(r.value) for a, r in zip(assets, row, strict=True) if r.success and int(r.value) > 0}
    return out


class _Heartbeats(dict):  # type: ignore[type-arg]
    """``symbol -> heartbeat_s`` with the config's per-symbol overrides and its default for the rest."""

    def __init__(self, oracles: Any) -> None:
        super().__init__(oracles.heartbeats_s)
        self._default = int(oracles.default_heartbeat_s)

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, self._default)


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
