"""Start, run and stop the manager: build everything from a config, then tick until told to stop.

Start-up order (everything that can be wrong is found before the first tick, each as one line):

1. strategies: every position's strategy is loaded by name and its params validated (``ConfigError``
   with file:line; crossing bands, unknown names with "did you mean", vault weights);
2. signers: every managed position's signer key is loaded (``SignerError`` when the environment
   variable or keystore is missing, or the key is not the configured address);
3. database (SQLite file or PostgreSQL URL), alert channels (a secret named by ``*_env`` must be set);
4. chain: connect, check the chain id, find the Aave Pool and its reserves (Aave positions), the Morpho
   market's tokens (Morpho Blue positions) or the market proxy (Synthetix PerpsV2 positions), the Uniswap
   router's kind (SwapRouter or SwapRouter02, detected and checked against ``router_kind``), and build
   one ``Executor`` per signer (the single nonce owner of that account) whose policy allow-list is the
   union of the (contract, selector) pairs of every protocol its managed positions are on; each
   position gets its plan context and a post-state health check (``post_check``) for its protocol;
5. recovery: pending transactions and open plans are reconciled with the chain; alerts the database has
   open are loaded so nothing is re-sent (no storm at start-up).

``run_manager`` then runs the scheduler until SIGINT/SIGTERM (graceful: a running tick finishes) or a
``StopError``; ``once=True`` runs a single tick instead.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from manager.errors import ConfigError, DataQualityError
from manager.runtime.loop import Alerting, ManagedPosition, Runtime
from manager.runtime.strategies import bind_strategies, groups_of

log = logging.getLogger("posman.runtime.lifecycle")


@dataclass
class Manager:
    """Everything a running manager holds (for the CLI, the demo and tests)."""

    cfg: Any
    runtime: Runtime
    repo: Any
    db: Any
    clients: dict[str, Any]
    executors: dict[str, Any] = field(default_factory=dict)  # signer name -> Executor
    dry_run: bool = False
    forks: Any = None  # manager.execution.forks.ForkPool: the executors' warm fork replays

    def close(self) -> None:
        try:
            self.runtime.alerting.close()
        except Exception:  # pragma: no cover - best effort
            log.exception("event=alert_close_failed")
        if self.forks is not None:
            self.forks.close()
        try:
            self.db.dispose()
        except Exception:  # pragma: no cover - best effort
            pass


def load_signers(cfg: Any, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The signers of every managed position, loaded now (a missing key stops the start)."""
    from manager.execution.signer import Signer, SignerError

    out: dict[str, Any] = {}
    for i, pos in enumerate(cfg.positions):
        if pos.mode != "manage" or pos.signer is None or pos.signer in out:
            continue
        try:
            out[pos.signer] = Signer.from_config(cfg.signers[pos.signer],
                                                 environ=dict(environ) if environ is not None else None)
        except SignerError as exc:
            line = cfg.locate(("signers", pos.signer))
            where = f"{cfg.source}:{line}" if line else cfg.source
            raise SignerError(f"{where}: signers.{pos.signer} (used by managed position '{pos.name}', "
                              f"positions[{i}]): {exc}") from None
        if out[pos.signer].address.lower() != pos.account.lower():
            raise cfg.error(("positions", i, "signer"),
                            f"signer '{pos.signer}' controls {out[pos.signer].address}, not the position's account "
                            f"{pos.account}: it cannot act for it")
    return out


def _aave_pool(w3: Any, provider: str) -> tuple[str, list[str]]:
    from manager.chain.abi import load_abi

    prov = w3.eth.contract(address=provider, abi=load_abi("aave_v3/PoolAddressesProvider"))
    pool_address = prov.functions.getPool().call()
    pool = w3.eth.contract(address=pool_address, abi=load_abi("aave_v3/Pool"))
    return pool_address, list(pool.functions.getReservesList().call())


def health_reader(pool_address: str, account: str) -> Callable[[Any], float]:
    """``post_check`` for the fork replay: the account's health factor read from the Pool."""
    from manager.chain.abi import load_abi

    abi = load_abi("aave_v3/Pool")

    def read(w3: Any) -> float:
        hf = w3.eth.contract(address=pool_address, abi=abi).functions.getUserAccountData(account).call()[5]
        return float("inf") if hf >= 2**255 else hf / 1e18

    return read


def _client_on(w3: Any, chain_cfg: Any) -> Any:
    """A ``ChainClient`` on the node ``w3`` talks to (the fork replay's anvil, or the chain itself)."""
    from manager.chain.client import ChainClient

    url = getattr(w3.provider, "endpoint_uri", None) or chain_cfg.rpc_urls[0]
    return ChainClient("post_check", chain_cfg.model_copy(update={"rpc_urls": [str(url)]}))


def _block_ts(w3: Any, block: int) -> int:
    stamp = w3.eth.get_block(block)["timestamp"]
    return int(stamp, 16) if isinstance(stamp, str) else int(stamp)


def morpho_health_reader(chain_cfg: Any, proto: Any, account: str) -> Callable[[Any], float]:
    """``post_check`` for a Morpho Blue position: its health (interest accrued to the block) read with the adapter."""
    from manager.protocols.morpho_blue.reads import PositionRef, read_snapshots

    def read(w3: Any) -> float:
        block = int(w3.eth.block_number)
        snaps, errors = read_snapshots(_client_on(w3, chain_cfg), proto.morpho,
                                       [PositionRef(name="post_check", account=account, market_id=proto.market_id)],
                                       block, block_timestamp=_block_ts(w3, block))
        if errors or not snaps:
            raise DataQualityError(f"post-state read of Morpho position {account} failed: {errors}")
        return snaps[0].health_factor()

    return read


def perp_health_reader(chain_cfg: Any, proto: Any, account: str) -> Callable[[Any], float]:
    """``post_check`` for a PerpsV2 position: remaining liquidatable margin / liquidation margin."""
    from manager.protocols.synthetix_perps.reads import PerpsV2Addresses, read_perps
    from manager.sizing.perp import snx_perp_health

    addrs = PerpsV2Addresses(market=proto.market, settings=proto.settings, exchange_rates=proto.exchange_rates,
                             susd=proto.susd, name=proto.name)

    def read(w3: Any) -> float:
        block = int(w3.eth.block_number)
        (snap,), _ = read_perps(_client_on(w3, chain_cfg), addrs, [account], block, market_key=proto.market_key,
                                block_timestamp=_block_ts(w3, block), with_reported=False)
        return snx_perp_health(snap.market, snap.position, snap.market.price_wad, snap.block_timestamp)

    return read


def _morpho_params(client: Any, proto: Any) -> Any:
    """The market's ``MarketParams`` (``idToMarketParams``), for the allow-list's token approvals."""
    from manager.chain.multicall import execute
    from manager.protocols.morpho_blue.reads import decode_params, params_calls

    block = int(client.block_number())
    res = execute(client, params_calls(proto.morpho, [proto.market_id]), block)
    return decode_params(res[0], proto.market_id)


# The protocols the built-in strategies can act on (others' strategies are not restricted here).
_KINDS_OF = {"cdp_health": {"aave_v3", "morpho_blue"}, "vault_leverage": {"aave_v3"},
             "perp_margin": {"synthetix_perps"}}


def _check_strategy_fits(cfg: Any, index: int, kind: str, strategy: str) -> None:
    """A managed position's built-in strategy must know how to act on its protocol."""
    kinds = _KINDS_OF.get(strategy)
    if kinds is not None and kind not in kinds:
        raise cfg.error(("positions", index, "strategy"),
                        f"strategy '{strategy}' cannot manage a {kind} position (it acts on: {', '.join(sorted(kinds))})")


def build_manager(
    cfg: Any,
    *,
    dry_run: bool | None = None,
    reader: Any = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    executor_tweaks: Callable[[Any], None] | None = None,
) -> Manager:
    """Everything wired from ``cfg`` (see the module docstring). ``reader`` defaults to the real ``TickReader``."""
    from manager.alerts import AlertDispatcher, build_channels, engine_from_repository
    from manager.chain.client import ChainClient
    from manager.execution.executor import Executor
    from manager.execution.fees import FeePolicy
    from manager.execution.planner import (
        AtomicSetup,
        PerpPlanContext,
        PlanContext,
        allowed_calls,
        atomic_allowed_calls,
        merge_calls,
        morpho_allowed_calls,
        perp_allowed_calls,
    )
    from manager.execution.policy import PolicyLimits
    from manager.execution.store import ExecutionStore
    from manager.persistence import Database, Repository
    from manager.protocols.uniswap_v3.router import configured_router_kind

    dry = cfg.runtime.dry_run if dry_run is None else dry_run
    bound = bind_strategies(cfg)
    signers = load_signers(cfg, environ)
    db = Database(cfg.storage.url_for(dry))  # a dry run keeps its own database
    repo = Repository(db, clock=clock)
    channels = build_channels(cfg.alerts, env=environ) if cfg.alerts.enabled else []
    engine = engine_from_repository(repo, cfg.alerts.rules, now_s=clock())
    dispatcher = AlertDispatcher(channels, repo=repo, max_retry_attempts=cfg.alerts.retry_undelivered_max_attempts)
    if not cfg.alerts.enabled:
        engine = _SilentEngine()

    clients: dict[str, Any] = {}
    executors: dict[str, Any] = {}
    peers = groups_of(bound)
    positions: list[ManagedPosition] = []
    store = ExecutionStore(repo)
    pools: dict[str, tuple[str, list[str]]] = {}
    fees = {(p.token_in, p.token_out): p.fee_pips for p in cfg.pools}
    signer_calls: dict[str, list[dict[str, set[str]]]] = {}
    signer_chain: dict[str, str] = {}
    router_kinds: dict[str, str] = {}  # uniswap_v3 protocol name -> router kind
    wiring: list[tuple[ManagedPosition, Any, Any]] = []  # (position, plan context, post check)
    for i, pos in enumerate(cfg.positions):
        mp = ManagedPosition(name=pos.name, mode=pos.mode, strategy=bound[pos.name], peers=peers[pos.name])
        positions.append(mp)
        if pos.mode != "manage" or pos.signer is None:
            continue
        proto = cfg.protocol(pos.protocol)
        if proto.kind not in ("aave_v3", "morpho_blue", "synthetix_perps"):
            raise cfg.error(("positions", i, "protocol"), f"managed positions need an aave_v3, morpho_blue or "
                                                          f"synthetix_perps protocol, '{pos.protocol}' is {proto.kind}")
        _check_strategy_fits(cfg, i, proto.kind, bound[pos.name].name)
        if signer_chain.setdefault(pos.signer, proto.chain) != proto.chain:
            raise cfg.error(("positions", i, "signer"), f"signer '{pos.signer}' already acts on chain "
                                                        f"'{signer_chain[pos.signer]}'; one signer per chain")
        if proto.chain not in clients:
            from manager.chain.verify import verify_chain

            clients[proto.chain] = ChainClient.from_config(cfg, proto.chain).connect()
            verify_chain(cfg, proto.chain, clients[proto.chain])  # contracts are what the config says
        w3 = clients[proto.chain].w3
        chain_cfg = cfg.chains[proto.chain]
        if proto.kind == "synthetix_perps":
            ctx: Any = PerpPlanContext(account=pos.account, max_slippage_bps=int(cfg.limits.max_slippage_bps))
            signer_calls.setdefault(pos.signer, []).append(perp_allowed_calls(proto.market))
            wiring.append((mp, ctx, perp_health_reader(chain_cfg, proto, pos.account)))
            continue
        router_cfg = next((p for p in cfg.protocols if p.kind == "uniswap_v3" and p.chain == proto.chain), None)
        if router_cfg is None:
            raise cfg.error(("positions", i, "mode"), f"managed positions need a uniswap_v3 protocol on chain "
                                                      f"'{proto.chain}' to swap collateral")
        if router_cfg.name not in router_kinds:  # SwapRouter or SwapRouter02: detected (and checked) on chain
            router_kinds[router_cfg.name] = configured_router_kind(cfg, router_cfg, clients[proto.chain])
        router_kind = router_kinds[router_cfg.name]
        atomic = _atomic_setup(cfg, pos, proto, w3, signer_calls, atomic_allowed_calls, AtomicSetup, pools)
        if proto.kind == "morpho_blue":
            from manager.protocols.morpho_blue.plan import MorphoPlanContext

            params = _morpho_params(clients[proto.chain], proto)
            ctx = MorphoPlanContext(morpho=proto.morpho, router=router_cfg.swap_router, account=pos.account,
                                    max_slippage_bps=int(cfg.limits.max_slippage_bps), fees_pips=fees,
                                    router_kind=router_kind, atomic=atomic)
            signer_calls.setdefault(pos.signer, []).append(morpho_allowed_calls(
                proto.morpho, router_cfg.swap_router, [params.loan_token, params.collateral_token], router_kind))
            wiring.append((mp, ctx, morpho_health_reader(chain_cfg, proto, pos.account)))
            continue
        if proto.name not in pools:
            pools[proto.name] = _aave_pool(w3, proto.pool_addresses_provider)
        pool_address, reserves = pools[proto.name]
        signer_calls.setdefault(pos.signer, []).append(allowed_calls(pool_address, router_cfg.swap_router, reserves,
                                                                     router_kind))
        ctx = PlanContext(pool=pool_address, router=router_cfg.swap_router, account=pos.account,
                          max_slippage_bps=int(cfg.limits.max_slippage_bps), fees_pips=fees, router_kind=router_kind,
                          atomic=atomic)
        wiring.append((mp, ctx, health_reader(pool_address, pos.account)))
    # NOTE: one executor per signer (the single nonce owner of that account), allowed exactly the calls of
    # every protocol its managed positions are on. They share a pool of warm forks for the fork replay.
    from manager.execution.forks import DEFAULT_POOL_SIZE, ForkPool

    forks = ForkPool(max(1, min(DEFAULT_POOL_SIZE, len(signer_calls)))) if signer_calls else None
    for signer_name, calls in signer_calls.items():
        chain_cfg = cfg.chains[signer_chain[signer_name]]
        from manager.execution.allowlist import with_allowed_contracts

        limits = PolicyLimits.from_limits(cfg.limits, with_allowed_contracts(merge_calls(*calls),
                                                                            cfg.limits.allowed_contracts))
        ex = Executor(clients[signer_chain[signer_name]].w3, signers[signer_name], store, limits=limits,
                      fee_policy=FeePolicy.from_limits(cfg.limits),
                      fork_rpc_url=clients[signer_chain[signer_name]].urls_by_health, dry_run=dry,
                      chain_id=chain_cfg.chain_id, fork_factory=forks)
        ex.submitter.poll_interval_s = min(ex.submitter.poll_interval_s, max(0.02, cfg.runtime.poll_interval_s / 4))
        if executor_tweaks is not None:
            executor_tweaks(ex)
        executors[signer_name] = ex
    by_name = {p.name: p for p in cfg.positions}
    for mp, ctx, check in wiring:
        mp.executor = executors[by_name[mp.name].signer]
        mp.plan_context = ctx
        mp.post_check = check
    if reader is None:
        from manager.watchers.tick import TickReader

        reader = TickReader(cfg)
    from manager.persistence import TxStatus

    runtime = Runtime(cfg, reader=reader, repo=repo, positions=positions,
                      alerting=Alerting(engine, dispatcher, background=True),
                      clock=clock, used_today_usd=store.used_today_usd,
                      pending_transactions=lambda: repo.pending_transactions(),
                      released_transactions=lambda: repo.pending_transactions(status=TxStatus.RELEASED),
                      reconcile=lambda: [ex.recover() for ex in executors.values()] and None)
    for name, ex in executors.items():
        report = ex.recover()
        log.info("event=recovered signer=%s %s", name, report.summary())
    dispatcher.recover()
    log.info("event=manager_ready positions=%d managed=%d dry_run=%s db=%s", len(positions),
             sum(p.executor is not None for p in positions), dry, db.safe_url)
    return Manager(cfg=cfg, runtime=runtime, repo=repo, db=db, clients=clients, executors=executors, dry_run=dry,
                   forks=forks)


def _atomic_setup(cfg: Any, pos: Any, proto: Any, w3: Any, signer_calls: dict[str, list[Any]],
                  atomic_allowed_calls: Callable[[str], dict[str, set[str]]], setup_type: Any,
                  pools: dict[str, tuple[str, list[str]]]) -> Any:
    """The position's ``AtomicSetup`` when its signer has an executor contract (checked: code there, owned by
    the signer); the executor's entry points join the signer's allow-list. ``None``: direct path only."""
    signer = cfg.signers[pos.signer]
    executor = getattr(signer, "executor", None)
    if executor is None:
        return None
    from manager.atomic.deploy import check_executor

    try:
        check_executor(w3, executor, signer.address)
    except ConfigError as exc:
        raise cfg.error(("signers", pos.signer, "executor"), str(exc)) from None
    signer_calls.setdefault(pos.signer, []).append(atomic_allowed_calls(executor))
    aave_pool = None
    aave = next((p for p in cfg.protocols if p.kind == "aave_v3" and p.chain == proto.chain), None)
    if aave is not None:
        if aave.name not in pools:
            pools[aave.name] = _aave_pool(w3, aave.pool_addresses_provider)
        aave_pool = pools[aave.name][0]
    morpho = next((p.morpho for p in cfg.protocols if p.kind == "morpho_blue" and p.chain == proto.chain), None)
    log.info("event=atomic_path position=%s executor=%s aave_pool=%s morpho=%s", pos.name, executor, aave_pool,
             morpho)
    return setup_type(executor=executor, aave_pool=aave_pool, morpho=morpho,
                      min_debt_usd=float(getattr(signer, "atomic_min_debt_usd", 0.0)))


class _SilentEngine:
    """``[alerts] enabled = false``: every rule answers "nothing to send"."""

    def __getattr__(self, name: str) -> Callable[..., list[Any]]:
        return lambda *a, **k: []


def head_function(manager: Manager) -> Callable[[], int]:
    """The latest block number of the (first) chain the config names."""
    from manager.chain.client import ChainClient

    cfg = manager.cfg
    chain = next(iter(cfg.chains))
    client = manager.clients.get(chain) or ChainClient.from_config(cfg, chain)
    manager.clients.setdefault(chain, client)
    return client.block_number


def run_manager(manager: Manager, *, once: bool = False, stop: threading.Event | None = None,
                install_signals: bool = True) -> int:
    """Run ticks until SIGINT/SIGTERM (or ``stop`` is set); ``once``: a single tick. Returns an exit code."""
    from manager.runtime.scheduler import ManagerScheduler

    runtime = manager.runtime
    if once:
        report = runtime.tick()
        runtime.alerting.flush()
        return 0 if report.ok else 1
    stop = stop or threading.Event()
    previous: dict[int, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, _frame: _request_stop(stop, signum))
    cfg = manager.cfg
    sched = ManagerScheduler(runtime, head_function(manager), poll_interval_s=cfg.runtime.poll_interval_s,
                             heartbeat_s=cfg.runtime.heartbeat_s,
                             dead_man_check_s=min(cfg.runtime.heartbeat_s, cfg.alerts.rules.heartbeat_timeout_s / 4))
    sched.start()
    try:
        while not stop.wait(0.2):
            if sched.stopped.is_set():
                break
    finally:
        sched.shutdown()
        runtime.alerting.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("event=manager_stopped ticks=%d last_block=%s", runtime.ticks, runtime.last_processed_block)
    if sched.fatal is not None:
        raise sched.fatal
    return 0


def _request_stop(stop: threading.Event, signum: int) -> None:
    log.info("event=stop_requested signal=%s", signal.Signals(signum).name)
    stop.set()


def check_environment(cfg: Any) -> None:
    """Cheap checks the CLI runs before building anything (none today beyond the builder's own)."""
    if not cfg.positions:
        raise ConfigError(f"{cfg.source}: no [[positions]] configured: nothing to watch or manage")
