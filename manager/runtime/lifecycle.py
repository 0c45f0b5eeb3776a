"""Start, run and stop the manager: build everything from a config, then tick until told to stop.

Start-up order (everything that can be wrong is found before the first tick, each as one line):

1. strategies: every position's strategy is loaded by name and its params validated (``ConfigError``
   with file:line; crossing bands, unknown names with "did you mean", vault weights);
2. signers: every managed position's signer key is loaded (``SignerError`` when the environment
   variable or keystore is missing, or the key is not the configured address);
3. database (SQLite file or PostgreSQL URL), alert channels (a secret named by ``*_env`` must be set);
4. chain: connect, check the chain id, find the Aave Pool and its reserves, build one ``Executor`` per
   signer (the single nonce owner of that account) with the policy allow-list of those contracts;
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

    def close(self) -> None:
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
    from manager.execution.planner import PlanContext, allowed_calls
    from manager.execution.policy import PolicyLimits
    from manager.execution.store import ExecutionStore
    from manager.persistence import Database, Repository

    dry = cfg.runtime.dry_run if dry_run is None else dry_run
    bound = bind_strategies(cfg)
    signers = load_signers(cfg, environ)
    db = Database(cfg.storage.url)
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
    for i, pos in enumerate(cfg.positions):
        mp = ManagedPosition(name=pos.name, mode=pos.mode, strategy=bound[pos.name], peers=peers[pos.name])
        if pos.mode == "manage" and pos.signer is not None:
            proto = cfg.protocol(pos.protocol)
            if proto.kind != "aave_v3":
                raise cfg.error(("positions", i, "protocol"), f"managed positions need an aave_v3 protocol, "
                                                              f"'{pos.protocol}' is {proto.kind}")
            router_cfg = next((p for p in cfg.protocols if p.kind == "uniswap_v3" and p.chain == proto.chain), None)
            if router_cfg is None:
                raise cfg.error(("positions", i, "mode"), f"managed positions need a uniswap_v3 protocol on chain "
                                                          f"'{proto.chain}' to swap collateral")
            if proto.chain not in clients:
                clients[proto.chain] = ChainClient.from_config(cfg, proto.chain).connect()
            w3 = clients[proto.chain].w3
            if proto.name not in pools:
                pools[proto.name] = _aave_pool(w3, proto.pool_addresses_provider)
            pool_address, reserves = pools[proto.name]
            if pos.signer not in executors:
                calls = allowed_calls(pool_address, router_cfg.swap_router, reserves)
                limits = PolicyLimits.from_limits(cfg.limits, calls)
                chain_cfg = cfg.chains[proto.chain]
                ex = Executor(w3, signers[pos.signer], store, limits=limits, fee_policy=FeePolicy.from_limits(cfg.limits),
                              fork_rpc_url=chain_cfg.rpc_urls[0], dry_run=dry, chain_id=chain_cfg.chain_id)
                ex.submitter.poll_interval_s = min(ex.submitter.poll_interval_s, max(0.02, cfg.runtime.poll_interval_s / 4))
                if executor_tweaks is not None:
                    executor_tweaks(ex)
                executors[pos.signer] = ex
            fees = {(p.token_in, p.token_out): p.fee_pips for p in cfg.pools}
            mp.executor = executors[pos.signer]
            mp.plan_context = PlanContext(pool=pool_address, router=router_cfg.swap_router, account=pos.account,
                                          max_slippage_bps=int(cfg.limits.max_slippage_bps), fees_pips=fees)
            mp.post_check = health_reader(pool_address, pos.account)
        positions.append(mp)
    if reader is None:
        from manager.watchers.tick import TickReader

        reader = TickReader(cfg)
    runtime = Runtime(cfg, reader=reader, repo=repo, positions=positions, alerting=Alerting(engine, dispatcher),
                      clock=clock, used_today_usd=store.used_today_usd,
                      pending_transactions=lambda: repo.pending_transactions(),
                      reconcile=lambda: [ex.recover() for ex in executors.values()] and None)
    for name, ex in executors.items():
        report = ex.recover()
        log.info("event=recovered signer=%s %s", name, report.summary())
    dispatcher.recover()
    log.info("event=manager_ready positions=%d managed=%d dry_run=%s db=%s", len(positions),
             sum(p.executor is not None for p in positions), dry, db.safe_url)
    return Manager(cfg=cfg, runtime=runtime, repo=repo, db=db, clients=clients, executors=executors, dry_run=dry)


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
