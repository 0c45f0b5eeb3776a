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

from manager.errors import ConfigError
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


def post_health_reader(chain_cfg: Any, proto: Any, account: str) -> Callable[[Any], float]:
    """``post_check`` for the fork replay of a position of ``account`` on entry ``proto``: its health as the node
    read sees it (the adapter's ``post_health_reader``)."""
    from manager.protocols import registry

    return registry.adapter_of(proto).post_health_reader(chain_cfg, proto, account)  # type: ignore[no-any-return]


# NOTE: kept for the demo (manager/demo) and older callers: any protocol's reader, by its entry.
morpho_health_reader = post_health_reader
perp_health_reader = post_health_reader


def _check_strategy_fits(cfg: Any, index: int, kind: str, strategy: str) -> None:
    """A managed position's built-in strategy must know how to act on its protocol (each adapter's
    ``strategies``; others' strategies are not restricted here)."""
    from manager.protocols import registry

    kinds = {a.kind for a in registry.managed() if strategy in a.strategies}
    if kinds and kind not in kinds:
        raise cfg.error(("positions", index, "strategy"),
                        f"strategy '{strategy}' cannot manage a {kind} position (it acts on: {', '.join(sorted(kinds))})")


def wire_positions(cfg: Any, client_of: Callable[[str], Any], *, strategy_of: Mapping[str, str] | None = None,
                   signer_calls: dict[str, list[dict[str, set[str]]]] | None = None,
                   signer_chain: dict[str, str] | None = None) -> dict[str, Any]:
    """position name -> ``PositionWiring`` (plan context, post-state check, allow-list part) of every managed
    position with a signer, wired by its protocol's adapter: what ``posman run`` gives it and what ``posman plan``
    decides with (no key is loaded here). ``signer_calls`` / ``signer_chain`` collect each signer's allow-list parts
    and chain (one signer per chain); ``strategy_of`` (position -> built-in strategy name) checks each strategy can
    act on its protocol."""
    from manager.execution.planner import AtomicSetup, atomic_allowed_calls
    from manager.protocols import registry
    from manager.protocols.base import VenueWiring, WiringEnv

    calls = signer_calls if signer_calls is not None else {}
    chains = signer_chain if signer_chain is not None else {}
    cache: dict[Any, Any] = {}  # chain lookups shared by every position of this start (adapters memoize in it)
    fees = {(p.token_in, p.token_out): p.fee_pips for p in cfg.pools}
    venues: dict[str, VenueWiring] = {}  # venue protocol name -> its router, router kind and fees
    out: dict[str, Any] = {}
    for i, pos in enumerate(cfg.positions):
        if pos.mode != "manage" or pos.signer is None:
            continue
        proto = cfg.protocol(pos.protocol)
        adapter = registry.adapter_of(proto)
        if adapter.family not in ("lending", "perp"):
            managed = registry.managed()
            names = ", ".join(a.kind for a in managed[:-1]) + f" or {managed[-1].kind}" if len(managed) > 1 \
                else managed[0].kind
            raise cfg.error(("positions", i, "protocol"), f"managed positions need an {names} protocol, "
                                                          f"'{pos.protocol}' is {proto.kind}")
        if strategy_of is not None:
            _check_strategy_fits(cfg, i, proto.kind, strategy_of[pos.name])
        if chains.setdefault(pos.signer, proto.chain) != proto.chain:
            raise cfg.error(("positions", i, "signer"), f"signer '{pos.signer}' already acts on chain "
                                                        f"'{chains[pos.signer]}'; one signer per chain")
        client = client_of(proto.chain)
        env = WiringEnv(cfg=cfg, client=client, index=i, cache=cache)
        if adapter.needs_venue:
            env.venue = _venue_on(cfg, i, proto.chain, client, fees, venues)
            env.atomic = _atomic_setup(cfg, pos, env, calls, atomic_allowed_calls, AtomicSetup)
        wired = adapter.wire_position(env, pos, proto)
        calls.setdefault(pos.signer, []).append(wired.allowed_calls)
        out[pos.name] = wired
    return out


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
    from manager.execution.planner import merge_calls
    from manager.execution.policy import PolicyLimits
    from manager.execution.store import ExecutionStore
    from manager.persistence import Database, Repository

    dry = cfg.runtime.dry_run if dry_run is None else dry_run
    bound = bind_strategies(cfg)
    signers = load_signers(cfg, environ)
    db = Database(cfg.storage.url_for(dry))  # a dry run keeps its own database
    repo = Repository(db, clock=clock)
    channels = build_channels(cfg.alerts, env=environ) if cfg.alerts.enabled else []
    engine: Any = engine_from_repository(repo, cfg.alerts.rules, now_s=clock())
    dispatcher = AlertDispatcher(channels, repo=repo, max_retry_attempts=cfg.alerts.retry_undelivered_max_attempts)
    if not cfg.alerts.enabled:
        engine = _SilentEngine()

    clients: dict[str, Any] = {}
    executors: dict[str, Any] = {}
    peers = groups_of(bound)
    positions: list[ManagedPosition] = []
    store = ExecutionStore(repo)
    signer_calls: dict[str, list[dict[str, set[str]]]] = {}
    signer_chain: dict[str, str] = {}

    def client_of(chain: str) -> Any:
        if chain not in clients:
            from manager.chain.verify import verify_chain

            clients[chain] = ChainClient.from_config(cfg, chain).connect()
            verify_chain(cfg, chain, clients[chain])  # contracts are what the config says
        return clients[chain]

    wired_all = wire_positions(cfg, client_of, strategy_of={n: b.name for n, b in bound.items()},
                               signer_calls=signer_calls, signer_chain=signer_chain)
    for pos in cfg.positions:
        positions.append(ManagedPosition(name=pos.name, mode=pos.mode, strategy=bound[pos.name],
                                         peers=peers[pos.name]))
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
    for mp in positions:
        wired = wired_all.get(mp.name)
        if wired is not None:
            mp.executor = executors[by_name[mp.name].signer]
            mp.plan_context = wired.plan_context
            mp.post_check = wired.post_check
    if reader is None:
        from manager.watchers.tick import TickReader

        reader = TickReader(cfg)
    from manager.persistence import TxStatus

    runtime = Runtime(cfg, reader=reader, repo=repo, positions=positions,
                      alerting=Alerting(engine, dispatcher, background=True),
                      clock=clock, used_today_usd=store.used_today_usd,
                      pending_transactions=lambda: repo.pending_transactions(),
                      released_transactions=lambda: repo.pending_transactions(status=TxStatus.RELEASED),
                      reconcile=lambda: _recover_all(executors))
    for name, ex in executors.items():
        report = ex.recover()
        log.info("event=recovered signer=%s %s", name, report.summary())
    dispatcher.recover()
    log.info("event=manager_ready positions=%d managed=%d dry_run=%s db=%s", len(positions),
             sum(p.executor is not None for p in positions), dry, db.safe_url)
    return Manager(cfg=cfg, runtime=runtime, repo=repo, db=db, clients=clients, executors=executors, dry_run=dry,
                   forks=forks)


def _venue_on(cfg: Any, index: int, chain: str, client: Any, fees: dict[tuple[str, str], int],
              venues: dict[str, Any]) -> Any:
    """The chain's swap venue (the first venue entry on ``chain``), its router kind detected (and checked) on
    chain once per entry; a chain without one refuses the position (one line)."""
    from manager.protocols import registry
    from manager.protocols.base import VenueWiring

    venue_kinds = [a.kind for a in registry.adapters("venue")]
    proto = next((p for p in cfg.protocols if p.kind in venue_kinds and p.chain == chain), None)
    if proto is None:
        raise cfg.error(("positions", index, "mode"), f"managed positions need a {' or '.join(venue_kinds)} "
                                                      f"protocol on chain '{chain}' to swap collateral")
    if proto.name not in venues:  # e.g. SwapRouter or SwapRouter02: detected (and checked) on chain
        v = registry.adapter_of(proto)
        venues[proto.name] = VenueWiring(kind=proto.kind, proto=proto, router=v.router_of(proto),
                                         router_kind=v.router_kind(cfg, proto, client), fees_pips=fees)
    return venues[proto.name]


def _atomic_setup(cfg: Any, pos: Any, env: Any, signer_calls: dict[str, list[Any]],
                  atomic_allowed_calls: Callable[[str], dict[str, set[str]]], setup_type: Any) -> Any:
    """The position's ``AtomicSetup`` when its signer has an executor contract (checked: code there, owned by
    the signer); the executor's entry points join the signer's allow-list. ``None``: direct path only.
    The flash lenders are those the lending entries on the chain offer (``adapter.flash_lender``: the first
    entry of each lending protocol)."""
    from manager.protocols import registry

    signer = cfg.signers[pos.signer]
    executor = getattr(signer, "executor", None)
    if executor is None:
        return None
    from manager.atomic.deploy import check_executor

    try:
        check_executor(env.client.w3, executor, signer.address)
    except ConfigError as exc:
        raise cfg.error(("signers", pos.signer, "executor"), str(exc)) from None
    signer_calls.setdefault(pos.signer, []).append(atomic_allowed_calls(executor))
    chain = cfg.protocol(pos.protocol).chain
    lenders: dict[str, str] = {}
    for adapter in registry.adapters("lending"):
        entry = next((p for p in cfg.protocols if p.kind == adapter.kind and p.chain == chain), None)
        offer = adapter.flash_lender(env, entry) if entry is not None else None
        if offer is not None:
            lenders.setdefault(offer[0], offer[1])
    aave_pool, morpho = lenders.get("aave"), lenders.get("morpho")
    log.info("event=atomic_path position=%s executor=%s aave_pool=%s morpho=%s", pos.name, executor, aave_pool,
             morpho)
    return setup_type(executor=executor, aave_pool=aave_pool, morpho=morpho,
                      min_debt_usd=float(getattr(signer, "atomic_min_debt_usd", 0.0)))


def _recover_all(executors: Mapping[str, Any]) -> None:
    """Reconcile every signer's executor with the chain (the runtime's ``reconcile`` hook)."""
    for ex in executors.values():
        ex.recover()


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
    previous: dict[signal.Signals, Any] = {}
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
