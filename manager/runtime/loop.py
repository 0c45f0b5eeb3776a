"""One tick of the manager over every position: track -> watch -> check -> decide all -> plan + send all.

``Runtime.tick(block_number)`` does, in order:

0. **track**: what earlier ticks sent is settled first (``Executor.track()`` per signer: receipts,
   replace-by-fee, lost/expired transactions, nonce gaps); a settled plan is alerted (executed /
   failed). A position whose plan is still in flight does not act this tick (``status=in_flight``);
1. **watch**: ``reader.read(now_s, block_number)`` reads every position, oracle and pool at one block
   (a failed read of the whole tick is logged and the tick counts as failed for the heartbeat);
2. **check**: oracle staleness and oracle/DEX deviation feed the alert engine; a position whose assets'
   oracles are stale or deviating is not acted upon this tick (``event=decision action=skip``);
3. **record + alert health**: each position's exact health (sizing core) is stored and evaluated by the
   alert engine (bands, hysteresis, persistence);
4. **decide, every position**: the position's strategy (pure) returns a ``SizingDecision``; one
   structured log line per decision (inputs digest, action, target, binding constraint, reason);
5. **plan + send, every position that must act, most endangered first**: each decision becomes a
   ``Plan`` (idempotent id; mined at most ``max_plan_age_blocks`` past its block, else refused); plans
   of different signers go to their ``Executor`` concurrently (one thread per signer), a signer's
   plans in urgency order with consecutive nonces, and ``execute(..., wait=False)`` never waits for a
   receipt. A plan identical to the position's last refused/failed one (``plan_content_digest``) is not
   sent again; the next block re-reads and re-sizes;
6. **record + alert outcome**: refused/failed actions open one episode per position and reason class,
   ended by one "recovered" alert when an action lands or the position needs none; stuck transactions
   and the tick's success are alerted. Delivery is the ``Alerting`` worker's job: never in the tick.

Positions may be on any registered protocol: the tick's snapshot of each is found by name in its one
table (``TickData.snapshots``), its health comes from
``manager.runtime.views.health_view`` (one number, 1.0 = liquidatable, for recording, alerts and the
urgency order), and the plan context wired at start-up picks the protocol's encoder.

One position's failure (a bad read, a strategy crash, a refused plan) is logged and the next position
runs; only a ``StopError`` (configuration/environment) ends the tick and the process.
Strategies never see web3 or the database; the executor is the only code that sends.

Stages 2-5 up to the plan are ``Runtime.decide(data, now_s)``, the tick's **decision stage**: it returns a
``TickDecisions`` (every position's outcome, skips with their reasons, and the plans to send) and signs or sends
nothing; ``tick`` then sends its plans. ``posman plan`` runs the same ``decide`` on a ``Runtime`` built without
executors, alerts or database writes (``manager.runtime.preview``), so it shows what the next tick would do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from manager.domain import SizingDecision
from manager.errors import PosmanError, StopError
from manager.protocols.registry import adapter_of
from manager.runtime.views import HealthView, health_view
from manager.sizing.caps import SizingLimits
from manager.sizing.venues import DepthLedger
from strategies._price import feeds_of
from strategies.api import LoadedStrategy, PeerView, StrategyContext, armed_automations, call_decide

log = logging.getLogger("posman.runtime")

HEALTH_HISTORY = 200
PRICE_HISTORY = 500


class Reader(Protocol):
    def read(self, now_s: float, block_number: int | None = None) -> Any: ...


@dataclass
class ManagedPosition:
    """A configured position with everything the tick needs to decide and act on it."""

    name: str
    mode: str  # "watch" | "manage"
    strategy: LoadedStrategy
    peers: list[str] = field(default_factory=list)
    executor: Any | None = None  # manager.execution.executor.Executor (shared per signer)
    plan_context: Any | None = None  # manager.execution.planner.PlanContext
    post_check: Callable[[Any], float] | None = None


@dataclass
class PositionOutcome:
    """What the tick did for one position."""

    name: str
    health: float | None = None
    action: str = "none"
    status: str = "none"  # none | skipped | error | watch | planned | confirmed | refused | failed | dry_run | ...
    plan_id: str | None = None
    reason: str = ""
    decision: SizingDecision | None = None
    path: str = ""  # the execution path chosen for the action (atomic or direct) and why


@dataclass
class TickReport:
    block_number: int | None
    ok: bool
    positions: dict[str, PositionOutcome] = field(default_factory=dict)
    alerts: int = 0
    error: str = ""
    elapsed_s: float = 0.0
    # wall time of the tick's stages (track, read, decide, plan, send): what a benchmark splits the tick into
    phase_s: dict[str, float] = field(default_factory=dict)


@dataclass
class _Work:
    """A decision that must act this tick (its position, decision and the snapshot it was made from)."""

    pos: ManagedPosition
    decision: SizingDecision
    snap: Any
    native_price: float | None = None


@dataclass
class TickDecisions:
    """What ``Runtime.decide`` found at one block: every position's outcome (``report.positions``: action,
    status, reason; a skip says why) and the plans the tick sends next, most endangered first."""

    block_number: int
    report: TickReport
    planned: list[tuple[_Work, Any]] = field(default_factory=list)  # (work, manager.execution.types.Plan)
    views: dict[str, PeerView] = field(default_factory=dict)  # every position read: its snapshot and health
    # position -> the strategy context it decided with (only with ``Runtime.keep_contexts``: ``posman plan``)
    contexts: dict[str, StrategyContext] = field(default_factory=dict)


def plan_content_digest(plan: Any) -> str:
    """What a plan does, without its block, id or swap deadline: two plans with the same digest are the
    same action (same calls, same amounts). A refused/failed plan is never sent again unchanged."""
    parts: list[str] = [str(plan.kind), str(plan.account).lower()]
    for step in plan.steps:
        swap = step.swap
        parts.append("|".join(str(v) for v in (
            step.to.lower(), step.kind, step.value_wei, step.token, step.amount_wei, step.approval_amount_wei,
            step.spender, step.data[:10],
            *((swap.mode, swap.amount_in_wei, swap.min_amount_out_wei, swap.amount_out_wei, swap.max_amount_in_wei)
              if swap is not None else ()),
        )))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class Alerting:
    """The alert engine + dispatcher. The engine is evaluated under a lock (it is not thread-safe; the
    heartbeat job and the per-signer send threads call it too).

    ``background=True`` (what the manager runs): delivery goes through an ``AlertWorker`` (bounded queue,
    one worker thread), so a dead or hanging channel never slows a tick; ``flush``/``close`` drain it.
    ``background=False``: every call dispatches at once (tests that inspect a channel right after a tick).
    """

    def __init__(self, engine: Any, dispatcher: Any, *, background: bool = False,
                 max_queue: int | None = None) -> None:
        from manager.alerts.worker import MAX_QUEUE, AlertWorker

        self.engine = engine
        self.dispatcher = dispatcher
        self._lock = threading.Lock()
        self._dispatch_lock = threading.Lock()
        self.worker = AlertWorker(dispatcher, max_queue=max_queue or MAX_QUEUE) if background else None
        self.sent = 0

    def emit(self, method: str, *args: Any, **kwargs: Any) -> int:
        with self._lock:
            alerts = getattr(self.engine, method)(*args, **kwargs)
            self.sent += len(alerts)
        if alerts:
            if self.worker is not None:
                self.worker.submit(alerts)
            else:
                with self._dispatch_lock:
                    self.dispatcher.dispatch(alerts)
        return len(alerts)

    def retry(self) -> None:
        if self.worker is not None:
            self.worker.retry()
            return
        with self._dispatch_lock:
            self.dispatcher.retry_undelivered()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until queued alerts are handed to their channels (``True`` at once without a worker)."""
        return self.worker.flush(timeout_s) if self.worker is not None else True

    def close(self, timeout_s: float = 10.0) -> None:
        """Drain and stop the worker (graceful shutdown); undelivered alerts stay recorded for ``recover``."""
        if self.worker is not None:
            self.worker.close(timeout_s)


def _snapshot_of(data: Any, name: str) -> Any | None:
    """The position's snapshot in a tick (its one table, ``TickData.snapshots``), or None."""
    return (getattr(data, "snapshots", None) or {}).get(name)


def strategy_context(name: str, mode: str, peers: Iterable[str], views: dict[str, PeerView], data: Any,
                     now_s: float, limits: SizingLimits, **history: Any) -> StrategyContext:
    """The context of one position's decision at the tick ``data`` (``history``: the runtime's memory of
    past ticks: last action, health/price history, block time; left at their defaults by a preview)."""
    return StrategyContext(
        position=name, mode=mode, block_number=int(data.block_number),  # type: ignore[arg-type]
        block_timestamp=int(data.block_timestamp), now_s=now_s, health=views[name].health,
        limits=limits, depth=dict(data.depth), oracles={**feeds_of(views[name].snapshot), **dict(data.oracles)},
        peers={n: views[n] for n in peers if n in views},
        wallet_wei=dict(getattr(data, "wallets", {}).get(name, {})), **history,
    )


def decide_with_depth(strategy: LoadedStrategy, snap: Any, ctx: StrategyContext,
                      read_depth: Callable[[list[tuple[str, str]]], dict[tuple[str, str], Any]] | None,
                      ) -> SizingDecision | None:
    """The strategy's decision; when it swaps a pair that ``ctx.depth`` has no curve for, ``read_depth(pairs)``
    reads those curves (same block) and the strategy decides again with them.

    NOTE: depth curves are costly reads, made only when a strategy wants to trade.
    """
    decision = call_decide(strategy, snap, ctx)
    if decision is None or read_depth is None:
        return decision
    # NOTE: a pair whose depth read finds no pool is passed back as ``no_route`` so the strategy picks another
    # collateral (issue 15: the default order kept choosing a collateral with no pool to the debt).
    for _ in range(3):
        pairs = sorted({(s.symbol, s.symbol_out) for s in decision.steps if s.kind == "swap" and s.symbol_out}
                       - set(ctx.depth) - set(ctx.no_route))  # type: ignore[operator]
        got = read_depth(pairs) if pairs else {}
        missing = frozenset(p for p in pairs if p not in got)
        if not got and not missing:
            return decision
        ctx = dataclasses.replace(ctx, depth={**ctx.depth, **got}, no_route=ctx.no_route | missing)
        previous, decision = decision, call_decide(strategy, snap, ctx)
        if decision is None or (missing and previous.steps and not decision.steps):
            # no other collateral can be sold: keep the plan valued at the oracle (its reason says so)
            return previous
    return decision


def inputs_digest(snapshot: Any) -> str:
    """A short digest of the snapshot a decision was made from (for the decision log line)."""
    return hashlib.sha256(snapshot.model_dump_json().encode()).hexdigest()[:12]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.4f}"


class Runtime:
    """Runs ticks. Not re-entrant: the scheduler guarantees ticks never overlap."""

    # the oracle symbol of the chain's native (gas) token: prices gas for the executor's fee budget
    native_symbol: str = "WETH"
    # a plan may be mined at most this many blocks past the block it was decided at (else refused, re-decided)
    max_plan_age_blocks: int = 2
    # signers whose plans are sent concurrently (one thread each)
    max_signer_threads: int = 16

    def __init__(
        self,
        cfg: Any,
        *,
        reader: Reader,
        repo: Any,
        positions: Iterable[ManagedPosition],
        alerting: Alerting,
        clock: Callable[[], float] = time.time,
        used_today_usd: Callable[[], float] | None = None,
        pending_transactions: Callable[[], list[Any]] | None = None,
        released_transactions: Callable[[], list[Any]] | None = None,
        reconcile: Callable[[], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.reader = reader
        self.repo = repo
        self.positions = {p.name: p for p in positions}
        self.alerting = alerting
        self.clock = clock
        self._used_today_usd = used_today_usd or (lambda: 0.0)
        self._pending_transactions = pending_transactions or (lambda: [])
        # released: not re-broadcast, nonce not yet taken; tracking fills their nonces (``execution.tracker``)
        self._released_transactions = released_transactions or (lambda: [])
        self._reconcile = reconcile
        self.health_history: dict[str, deque[float]] = {n: deque(maxlen=HEALTH_HISTORY) for n in self.positions}
        self.price_history: dict[str, deque[float]] = {}
        self._pending_first_seen: dict[str, int] = {}
        self._pending_by_position: tuple[int | None, dict[str, list[str]]] = (None, {})  # block -> waiting txs
        # a tick and the tracking job never run at once (tracking settles plans a tick may be sending)
        self._act_lock = threading.RLock()
        self._state_lock = threading.Lock()  # the maps below are written by the per-signer send threads
        # position -> (plan digest, block, status, reason) of its last refused/failed plan
        self._last_unsuccessful: dict[str, tuple[str, int, str, str]] = {}
        # plan id -> (action, health before, steps, notional usd, block) of a plan sent and not settled yet
        self._sent_context: dict[str, tuple[str, float | None, int, float, int]] = {}
        self.tick_durations: deque[float] = deque(maxlen=1000)
        self._block_time_s = 12.0
        self._last_block: tuple[int, int] | None = None
        self._depth_cache: tuple[int | None, dict[tuple[str, str], Any]] = (None, {})
        self._ledger = DepthLedger()
        self.last_tick: TickReport | None = None
        self.ticks = 0
        self.observers: list[Callable[[TickReport], None]] = []  # called with every report (e.g. manager.web)
        # ``posman plan`` keeps each position's strategy context of a decision (its automations are listed)
        self.keep_contexts = False
        self.contexts: dict[str, StrategyContext] = {}

    # --- state kept in the database (survives a restart) ------------------------------------------
    @property
    def last_processed_block(self) -> int | None:
        return self.repo.last_processed_block()

    def _last_action(self, name: str) -> tuple[int | None, float | None]:
        value = self.repo.get_state(f"last_action:{name}")
        if not value:
            return None, None
        return value.get("block"), value.get("timestamp_s")

    def _set_last_action(self, name: str, block: int, timestamp_s: float) -> None:
        self.repo.set_state(f"last_action:{name}", {"block": block, "timestamp_s": timestamp_s})

    # --- the tick ------------------------------------------------------------------------------
    def _is_fault_after_start(self, exc: StopError) -> bool:
        """A ``ChainError`` once a tick has succeeded is a faulty node answering, not a wrong config.

        NOTE: every configured contract was verified at start (``chain.verify``) and the first tick read them;
        a later "not a contract" / "no pool set" / "multicall returned no data" is garbage from an RPC URL
        (issue 15: such answers stopped the process). It fails this tick or this position, never the process.
        """
        from manager.errors import ChainError

        return isinstance(exc, ChainError) and self.repo.last_processed_block() is not None

    def tick(self, block_number: int | None = None) -> TickReport:
        """One tick at ``block_number`` (default: the latest block)."""
        with self._act_lock:
            return self._tick(block_number)

    def _tick(self, block_number: int | None) -> TickReport:
        started = time.monotonic()
        now_s = self.clock()
        # NOTE: settle what earlier ticks sent *before* the read: a plan seen still pending here keeps its
        # position out of this tick (in flight), so nothing is sent twice for one need.
        self._track(now_s)
        self._pending_by_position = (None, {})  # this tick's waiting transactions are scanned once, after tracking
        t_read = time.monotonic()
        failure: Exception | None = None
        try:
            data = self.reader.read(now_s, block_number)
        except StopError as exc:
            if not self._is_fault_after_start(exc):
                raise
            failure = exc
        except Exception as exc:
            failure = exc
        if failure is not None:  # NOTE: a failed read skips the tick; the heartbeat notices repeated failures
            reason = " ".join(str(failure).split())[:300]
            log.warning("event=tick_failed block=%s stage=read error_type=%s error=%r",
                        block_number, type(failure).__name__, reason)
            report = TickReport(block_number=block_number, ok=False, error=reason,
                                elapsed_s=time.monotonic() - started)
            self._finish(report)
            return report
        block = int(data.block_number)
        report = TickReport(block_number=block, ok=True)
        report.phase_s.update(track=t_read - started, read=time.monotonic() - t_read)
        alerts_before = self.alerting.sent
        decided = self.decide(data, now_s, report)
        self._send_all(decided.planned, data, report, now_s)
        self._check_pending(block, now_s)
        self.alerting.emit("tick_succeeded", now_s)
        self.alerting.retry()
        self.repo.set_last_processed_block(block)
        report.alerts = self.alerting.sent - alerts_before
        report.elapsed_s = time.monotonic() - started
        log.info("event=tick_done block=%d positions=%d acted=%d alerts=%d elapsed_s=%.3f", block,
                 len(report.positions), sum(o.status in ("confirmed", "submitted") for o in report.positions.values()),
                 report.alerts, report.elapsed_s)
        self.tick_durations.append(report.elapsed_s)
        self._finish(report)
        return report

    def decide(self, data: Any, now_s: float, report: TickReport | None = None) -> TickDecisions:
        """The tick's decision stage at the block of ``data``: stages 2-5 up to the plan, nothing signed or sent.

        Data quality (stale / deviating oracles), every position's health (recorded and alerted), each
        position's decision, most endangered first (every skip with its reason: untrusted oracle, a pending
        transaction, paused, in flight, watch mode; cooldown and the daily cap inside the strategy's decision
        through its context), the path choice (atomic or direct) and the plan of each position that must act.
        ``Runtime.tick`` sends ``planned`` next; ``posman plan`` (``runtime.preview``) prints it instead.
        """
        block = int(data.block_number)
        if report is None:
            report = TickReport(block_number=block, ok=True)
        t_decide = time.monotonic()
        self._update_block_time(block, int(data.block_timestamp))
        bad_symbols = self._check_oracles(data, now_s)
        views, health_views = self._observe(data, report, now_s)
        in_flight = self._in_flight_positions()
        # NOTE: every position decides at this one block, the most endangered first; then every plan is
        # sent in that order (different signers concurrently, one signer's plans with consecutive nonces)
        # and nothing waits for a receipt: the next tick (or the tracking job) settles what was sent.
        work: list[_Work] = []
        self._ledger = DepthLedger()  # the tick's sales so far: later decisions value theirs after them
        self.contexts = {}
        for name in sorted(views, key=lambda n: (views[n].health, n)):
            pos = self.positions[name]
            try:
                item = self._decide(pos, views, health_views[name], data, bad_symbols, report, now_s, in_flight)
            except StopError as exc:
                if not self._is_fault_after_start(exc):
                    raise
                outcome = report.positions.setdefault(name, PositionOutcome(name))
                outcome.status, outcome.reason = "error", " ".join(str(exc).split())[:300]
                log.error("event=position_failed position=%s block=%d error_type=%s error=%r",
                          name, block, type(exc).__name__, outcome.reason)
                continue
            except Exception as exc:  # NOTE: one position's failure never stops the others
                self._position_failed(report, name, block, exc)
                continue
            if item is not None:
                work.append(item)
        report.phase_s["decide"] = time.monotonic() - t_decide
        planned = self._plan_all(work, data, report, now_s)
        return TickDecisions(block_number=block, report=report, planned=planned, views=views, contexts=self.contexts)

    def _finish(self, report: TickReport) -> None:
        self.last_tick = report
        self.ticks += 1
        for observe in self.observers:  # NOTE: observers must not block (the web view only copies)
            try:
                observe(report)
            except Exception:  # a failing observer (e.g. the dashboard) never breaks the manager's tick
                log.exception("event=observer_failed observer=%r", observe)

    def _update_block_time(self, block: int, timestamp: int) -> None:
        if self._last_block is not None and block > self._last_block[0] and timestamp > self._last_block[1]:
            sample = (timestamp - self._last_block[1]) / (block - self._last_block[0])
            self._block_time_s = 0.8 * self._block_time_s + 0.2 * sample
        self._last_block = (block, timestamp)

    # --- stage 2: data quality -----------------------------------------------------------------
    def _check_oracles(self, data: Any, now_s: float) -> set[str]:
        bad: set[str] = set()
        for symbol, reading in sorted(data.oracles.items()):
            if reading.stale or reading.deviating:
                bad.add(symbol)
                log.warning("event=data_quality symbol=%s stale=%s deviating=%s age_s=%s deviation_bps=%s block=%d",
                            symbol, reading.stale, reading.deviating, reading.age_s, reading.deviation_bps,
                            data.block_number)
            else:
                self.price_history.setdefault(symbol, deque(maxlen=PRICE_HISTORY)).append(
                    reading.answer / 10**reading.decimals)
            self.alerting.emit("evaluate_oracle", symbol, stale=reading.stale, deviating=reading.deviating,
                               age_s=reading.age_s, deviation_bps=reading.deviation_bps,
                               block_number=data.block_number, now_s=now_s)
        return bad

    # --- stage 3: observe every position ---------------------------------------------------------
    def _observe(self, data: Any, report: TickReport,
                 now_s: float) -> tuple[dict[str, PeerView], dict[str, HealthView]]:
        """Record and alert each readable position's health; its peer view and health view, by name."""
        views: dict[str, PeerView] = {}
        health_views: dict[str, HealthView] = {}
        for name, pos in self.positions.items():
            outcome = report.positions.setdefault(name, PositionOutcome(name))
            snap = _snapshot_of(data, name)
            if name in data.errors or snap is None:
                outcome.status = "error"
                outcome.reason = data.errors.get(name, "position missing from the tick's reads")
                log.warning("event=position_read_failed position=%s block=%d error=%r", name, data.block_number,
                            outcome.reason)
                continue
            try:
                hv = health_view(snap)
                health = hv.health
                self.repo.record_snapshot(
                    position=name, protocol=hv.protocol, account=snap.account, block_number=int(snap.block_number),
                    block_timestamp=int(snap.block_timestamp), health_factor_wad=hv.health_factor_wad,
                    collateral_usd=hv.collateral_usd, debt_usd=hv.debt_usd, ltv_bps=hv.ltv_bps,
                    liquidation_threshold_bps=hv.liquidation_threshold_bps, oracle_fresh=hv.oracle_fresh)
                outcome.health = health
                self.health_history[name].append(health)
                views[name] = PeerView(name=name, snapshot=snap, config=pos.strategy.config, health=health,
                                       collateral_usd=hv.collateral_usd, debt_usd=hv.debt_usd)
                health_views[name] = hv
                self.alerting.emit("evaluate_health", name, health, block_number=data.block_number, now_s=now_s,
                                   perp=adapter_of(snap).family == "perp")
            except StopError:
                raise
            except Exception as exc:
                outcome.status, outcome.reason = "error", " ".join(str(exc).split())[:300]
                log.error("event=position_failed position=%s block=%d stage=observe error_type=%s error=%r",
                          name, data.block_number, type(exc).__name__, outcome.reason,
                          exc_info=not isinstance(exc, PosmanError))
        return views, health_views

    # --- stages 4-6: decide, plan, execute, record ---------------------------------------------------
    def sizing_limits(self) -> SizingLimits:
        lim = self.cfg.limits
        left = max(0.0, lim.per_day_usd - self._used_today_usd())
        return SizingLimits(per_action_usd=lim.per_tx_usd, per_day_remaining_usd=left,
                            max_slippage_bps=float(lim.max_slippage_bps))

    def context_for(self, pos: ManagedPosition, views: dict[str, PeerView], data: Any, now_s: float) -> StrategyContext:
        last_block, last_ts = self._last_action(pos.name)
        leftovers: dict[str, int] = {}
        finish_to: float | None = None
        if pos.mode == "manage":
            from manager.execution.leftovers import interrupted_proceeds, interrupted_target_health

            try:
                leftovers = interrupted_proceeds(self.repo, pos.name)
                finish_to = interrupted_target_health(self.repo, pos.name)
            except Exception as exc:  # a record that cannot be read only means nothing to finish
                log.warning("event=leftovers_unreadable position=%s error=%r", pos.name, str(exc)[:200])
        return strategy_context(
            pos.name, pos.mode, pos.peers, views, data, now_s, self.sizing_limits(),
            last_action_block=last_block, last_action_s=last_ts, interrupted_proceeds_wei=leftovers,
            finish_to_health=finish_to,
            health_history=tuple(self.health_history[pos.name]),
            price_history={s: tuple(v) for s, v in self.price_history.items()}, block_time_s=self._block_time_s,
        )

    def _depth(self, data: Any, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        cache = self._depth_cache
        if cache[0] != data.block_number:
            cache = self._depth_cache = (data.block_number, {})
        missing = [p for p in pairs if p not in cache[1]]
        if missing:
            try:
                got = self.reader.depth(data, missing)  # type: ignore[attr-defined]
            except Exception as exc:  # without a curve the core values swaps at the oracle less a haircut
                log.warning("event=depth_failed block=%d pairs=%s error_type=%s error=%r", data.block_number,
                            missing, type(exc).__name__, " ".join(str(exc).split())[:200])
                got = {}
            for p in missing:
                cache[1][p] = got.get(p)
        return {p: cache[1][p] for p in pairs if cache[1].get(p) is not None}

    def _position_failed(self, report: TickReport, name: str, block: int, exc: Exception) -> None:
        outcome = report.positions.setdefault(name, PositionOutcome(name))
        outcome.status, outcome.reason = "error", " ".join(str(exc).split())[:300]
        log.error("event=position_failed position=%s block=%d error_type=%s error=%r",
                  name, block, type(exc).__name__, outcome.reason, exc_info=not isinstance(exc, PosmanError))

    def _in_flight_positions(self) -> dict[str, str]:
        """Positions with a plan sent and not settled yet: position -> plan id (they wait for it to land)."""
        try:
            rows = self.repo.open_plans()
        except Exception as exc:  # NOTE: without the answer nothing is known to be in flight; the executor's
            # idempotency and nonce owner still stop a double send of one plan
            log.warning("event=open_plans_failed error_type=%s error=%r", type(exc).__name__, str(exc)[:200])
            return {}
        return {r.position: r.plan_id for r in rows if r.status == "submitted" and r.position in self.positions}

    def _decide(self, pos: ManagedPosition, views: dict[str, PeerView], hv: HealthView, data: Any,
                bad_symbols: set[str], report: TickReport, now_s: float,
                in_flight: dict[str, str]) -> _Work | None:
        """Stage 4 for one position: its decision (logged, recorded); the work to do when it must act."""
        name = pos.name
        snap = views[name].snapshot
        outcome = report.positions[name]
        block = int(data.block_number)
        untrusted = sorted(hv.symbols & bad_symbols)
        if untrusted or not hv.oracle_fresh:
            why = ("oracle data not trusted: "
                   f"{', '.join(untrusted) or ', '.join(hv.oracle_issues) or 'stale'}")
            outcome.status, outcome.action, outcome.reason = "skipped", "skip", why
            log.warning("event=decision position=%s block=%d strategy=%s mode=%s hf=%s action=skip reason=%r",
                        name, block, pos.strategy.name, pos.mode, _fmt(views[name].health), why)
            return None
        waiting = self._pending_of(name, block) if pos.mode == "manage" else []
        if waiting:
            # NOTE: a step of an earlier plan is still pending (a lost answer, a slow inclusion): deciding again
            # now would act twice once it is mined (issue 15: positions over-deleveraged under RPC faults)
            why = f"waiting for pending transaction {waiting[0]} of an earlier plan"
            outcome.status, outcome.action, outcome.reason = "skipped", "skip", why
            log.warning("event=decision position=%s block=%d strategy=%s mode=%s hf=%s action=skip reason=%r",
                        name, block, pos.strategy.name, pos.mode, _fmt(views[name].health), why)
            return None
        ctx = self.context_for(pos, views, data, now_s)
        # NOTE: what a plan stopped part-way left in the wallet (its swaps' proceeds) is in
        # ctx.interrupted_proceeds_wei (``execution.leftovers``): one record, spent once
        path = self._choose_path(pos, snap, data)
        if path is not None:  # the atomic path (executor + flash loan) or the direct one, and why
            outcome.path = path.why
            ctx = dataclasses.replace(ctx, flash_premium_bps=path.premium_bps if path.atomic else None,
                                      path_note=path.why)
            reads = (getattr(data, "atomic", None) or {}).get(name)
            if path.atomic and reads is not None and reads.aave_premium_bps is not None:
                ctx = dataclasses.replace(ctx, aave_flash_premium_bps=int(reads.aave_premium_bps))
        if armed_automations(pos.strategy):  # price automations: their durable state (trailing stop peaks)
            ctx = dataclasses.replace(ctx, automation_state=self.automation_state(pos, data, ctx.oracles))
        if self.keep_contexts:
            self.contexts[name] = ctx
        # NOTE: depth curves price the collateral sales of Aave and Morpho Blue; perp sizing does not take them.
        lending = adapter_of(snap).family == "lending"
        seen: dict[tuple[str, str], Any] = {}

        def read_depth(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
            got = self._ledger.shifted(self._depth(data, pairs))  # after this tick's earlier decisions' sales
            seen.update(got)
            return got

        decision = decide_with_depth(pos.strategy, snap, ctx, read_depth if lending and hasattr(self.reader, "depth")
                                     else None)
        if decision is not None and decision.action != "none":
            self._ledger.record(decision.steps, seen)
        if decision is None:
            decision = SizingDecision(position=name, action="none", reason="strategy returned None",
                                      block_number=block, health_before=None)
        outcome.decision, outcome.action, outcome.reason = decision, decision.action, decision.reason
        log.info(
            "event=decision position=%s block=%d strategy=%s mode=%s inputs=%s hf=%s action=%s target=%s "
            "projected=%s binding=%s feasible=%s steps=%d notional_usd=%.2f reason=%r",
            name, block, pos.strategy.name, pos.mode, inputs_digest(snap), _fmt(ctx.health), decision.action,
            _fmt(decision.target_health), _fmt(decision.projected_health), decision.binding_constraint,
            decision.feasible, len(decision.steps), decision.notional_usd, decision.reason,
        )
        if decision.action == "none" or not decision.steps:
            outcome.status = "none"
            if name not in in_flight:  # back in band: an open refused/failed episode of the position ends
                self.alerting.emit("action_recovered", position=name, reason=f"no action needed: {decision.reason}",
                                   block_number=block, now_s=now_s)
            return None
        acting = pos.mode == "manage" and pos.executor is not None and pos.plan_context is not None
        if acting and self.repo.is_paused(name):  # `posman pause NAME`: still watched and alerted, never acted on
            outcome.status = "paused"
            log.info("event=not_acting position=%s block=%d reason=paused action=%s", name, block, decision.action)
            self.repo.record_decision(decision, block_number=block)
            return None
        if acting and name in in_flight:
            outcome.status, outcome.plan_id = "in_flight", in_flight[name]
            log.info("event=in_flight position=%s block=%d plan_id=%s action=%s reason=%r", name, block,
                     in_flight[name], decision.action, "the plan sent earlier is not settled yet; re-deciding once it is")
            return None
        self.repo.record_decision(decision, block_number=block)
        if not acting:
            outcome.status = "watch"
            log.info("event=not_acting position=%s block=%d reason=watch_mode action=%s", name, block, decision.action)
            return None
        return _Work(pos, decision, snap)

    # --- stage 5: plan and send, every position at once ------------------------------------------------
    def _plan_all(self, work: list[_Work], data: Any, report: TickReport, now_s: float) -> list[tuple[_Work, Any]]:
        """Plan every decision, in urgency order: (work, plan) of each position whose plan is to be sent."""
        block = int(data.block_number)
        t_plan = time.monotonic()
        planned: list[tuple[_Work, Any]] = []
        for item in work:
            try:
                plan = self._plan(item, data, report.positions[item.pos.name], now_s)
            except StopError:
                raise
            except Exception as exc:
                self._position_failed(report, item.pos.name, block, exc)
                continue
            if plan is not None:
                planned.append((item, plan))
        report.phase_s["plan"] = time.monotonic() - t_plan
        return planned

    def _send_all(self, planned: list[tuple[_Work, Any]], data: Any, report: TickReport, now_s: float) -> None:
        """Send every plan: one thread per signer (concurrent), each signer's plans in urgency order
        (consecutive nonces, no waiting for inclusion)."""
        block = int(data.block_number)
        t_send = time.monotonic()
        by_signer: dict[int, list[tuple[_Work, Any]]] = {}
        for item, plan in planned:
            by_signer.setdefault(id(item.pos.executor), []).append((item, plan))
        if not by_signer:
            return

        def run(batch: list[tuple[_Work, Any]]) -> None:
            for item, plan in batch:
                try:
                    self._send(item, plan, data, report.positions[item.pos.name], now_s)
                except StopError as exc:
                    stops.append(exc)
                    return
                except Exception as exc:
                    self._position_failed(report, item.pos.name, block, exc)

        stops: list[StopError] = []
        batches = list(by_signer.values())
        if len(batches) == 1:
            run(batches[0])
        else:
            with ThreadPoolExecutor(max_workers=min(self.max_signer_threads, len(batches)),
                                    thread_name_prefix="posman-send") as pool:
                for fut in [pool.submit(run, b) for b in batches]:
                    fut.result()
        report.phase_s["send"] = time.monotonic() - t_send
        if stops:
            raise stops[0]

    def _plan(self, item: _Work, data: Any, outcome: PositionOutcome, now_s: float) -> Any | None:
        from manager.execution.planner import UnplannableDecision, build_plan

        pos, decision, snap = item.pos, item.decision, item.snap
        name, block = pos.name, int(data.block_number)
        try:
            min_post = self._min_post_health(decision)
            plan = build_plan(decision, snap, pos.plan_context, min_post_health=min_post,
                              target_band=self._target_band(decision),
                              path=self._choose_path(pos, snap, data))
        except UnplannableDecision as exc:
            outcome.status, outcome.reason = "refused", str(exc)
            log.warning("event=plan_refused position=%s block=%d reason=%r", name, block, str(exc))
            self.alerting.emit("action_refused", f"unplannable-{name}-{block}", position=name, reason=str(exc),
                               block_number=block, now_s=now_s)
            return None
        # NOTE: a plan is sent in the tick that decided it or never: it may not be mined later than
        # ``max_plan_age_blocks`` past its block (the executor refuses it then; the next tick re-decides).
        pre = plan.preconditions
        if pre.max_block_age_blocks > self.max_plan_age_blocks:
            plan = plan.model_copy(update={"preconditions": pre.model_copy(
                update={"max_block_age_blocks": self.max_plan_age_blocks})})
        native_price = self._native_price_usd(data, snap)
        loss_avoided = self._expected_loss_avoided_usd(decision, snap) if native_price is not None else None
        if loss_avoided is not None and self._from_automation(pos, decision):
            # NOTE: a price automation acts on the user's order (a stop, a price level), not on liquidation risk:
            # the "gas <= share of the loss avoided" budget does not apply (the fee caps still do)
            loss_avoided = None
        if loss_avoided is not None:
            plan = plan.model_copy(update={"expected_loss_avoided_usd": loss_avoided})
        item.native_price = native_price
        outcome.plan_id = plan.plan_id
        log.info("event=plan position=%s block=%d plan_id=%s kind=%s steps=%d notional_usd=%.2f min_post_health=%s",
                 name, block, plan.plan_id, plan.kind, len(plan.steps), plan.notional_usd, _fmt(min_post))
        log.info("event=fee_budget_inputs position=%s plan_id=%s native_symbol=%s native_price_usd=%s "
                 "expected_loss_avoided_usd=%s", name, plan.plan_id, self.native_symbol, _fmt(native_price),
                 _fmt(loss_avoided))
        digest = plan_content_digest(plan)
        last = self._last_unsuccessful.get(name)
        if last is not None and last[0] == digest:
            outcome.status = "refused"
            outcome.reason = (f"the same plan was {last[2]} at block {last[1]} ({last[3]}); not sent again "
                              "unchanged: waiting for the state to change")
            log.warning("event=plan_not_resent position=%s block=%d plan_id=%s reason=%r", name, block, plan.plan_id,
                        outcome.reason)
            return None
        outcome.status = "planned"  # the send sets what became of it
        return plan

    def _send(self, item: _Work, plan: Any, data: Any, outcome: PositionOutcome, now_s: float) -> None:
        pos, decision = item.pos, item.decision
        name, block = pos.name, int(data.block_number)
        assert pos.executor is not None  # only acting positions become work
        try:
            result = pos.executor.execute(plan, post_check=pos.post_check, native_price_usd=item.native_price,
                                          wait=False)
        except TypeError as exc:  # an executor without the ``wait`` keyword (older fakes): it waits
            if "wait" not in str(exc):
                raise
            result = pos.executor.execute(plan, post_check=pos.post_check, native_price_usd=item.native_price)
        outcome.status, outcome.reason = result.status, result.reason
        fields = {"action": decision.action, "health_before": decision.health_before,
                  "projected_health": decision.projected_health, "post_health": result.post_health,
                  "steps": len(plan.steps), "notional_usd": round(plan.notional_usd, 2)}
        if result.status == "dry_run":
            for i, step in enumerate(plan.steps):
                log.info("event=dry_run_would_send position=%s plan_id=%s step=%d label=%r to=%s selector=%s "
                         "usd=%.2f", name, plan.plan_id, i, step.label, step.to, step.selector, step.usd_value)
            for tx in result.would_send:
                log.info("event=dry_run_signed position=%s plan_id=%s step=%d nonce=%d tx_hash=%s (not sent)",
                         name, plan.plan_id, tx.step_index, tx.nonce, tx.tx_hash)
            return
        if result.already_known:
            log.info("event=plan_already_handled position=%s plan_id=%s status=%s", name, plan.plan_id, result.status)
        if result.status in ("refused", "reverted"):
            # NOTE: only a refusal of the plan itself (policy, simulation, fork replay) or a revert: the same
            # calls would fail again. A "failed" plan (stale, RPC, broadcast rejected) may be right next block.
            with self._state_lock:
                self._last_unsuccessful[name] = (plan_content_digest(plan), block, result.status,
                                                 " ".join((result.reason or result.status).split())[:120])
        else:
            with self._state_lock:
                self._last_unsuccessful.pop(name, None)
        if result.status in ("confirmed", "submitted"):
            self._set_last_action(name, block, float(data.block_timestamp))
            self._automation_fired(pos, decision, data)
            with self._state_lock:
                self._sent_context[plan.plan_id] = (decision.action, decision.health_before, len(plan.steps),
                                                    plan.notional_usd, block)
        if result.status == "confirmed":
            self._emit_executed(name, plan.plan_id, block, now_s, post_health=result.post_health, fields=fields)
        elif result.status == "refused":
            self.alerting.emit("action_refused", plan.plan_id, position=name, reason=result.reason,
                               block_number=block, now_s=now_s, fields=fields)
        elif result.status in ("failed", "reverted"):
            self.alerting.emit("action_failed", plan.plan_id, position=name, error=result.reason or result.status,
                               block_number=block, now_s=now_s, fields=fields)

    def automation_state(self, pos: ManagedPosition, data: Any,
                         oracles: Any = None) -> dict[str, dict[str, Any]]:
        """The durable state of the position's price automations at this tick (automation key -> state).

        A trailing stop's peak is the highest answer of its Chainlink feed over every round since it armed: the
        rounds between the last round seen and this tick's are read back (``getRoundData``, at this tick's block,
        ``watchers.tick.read_round_answers``), so a spike between two ticks still counts. Stored in the database
        (``runtime_state`` key ``automation:<position>:<key>``) whenever it changes: a restart continues from it.
        """
        out: dict[str, dict[str, Any]] = {}
        for auto in armed_automations(pos.strategy):
            if auto.kind == "close_on_price":  # a partial close re-arms once the price is back across its level
                out[auto.key] = self._rearm(pos, auto, oracles if oracles is not None else data.oracles)
                continue
            if auto.kind != "trailing_stop":
                continue
            key = f"automation:{pos.name}:{auto.key}"
            try:
                state = dict(self.repo.get_state(key) or {})
            except Exception as exc:  # NOTE: without the stored peak the stop must not act on a fresh one
                log.warning("event=automation_state_unreadable position=%s key=%s error=%r", pos.name, auto.key,
                            str(exc)[:200])
                out[auto.key] = {"unreadable": True}
                continue
            reading = (oracles if oracles is not None else data.oracles).get(_params(auto).asset)
            if reading is None or reading.answer <= 0:
                out[auto.key] = state
                continue
            rounds = [(int(reading.round_id), int(reading.answer), int(reading.updated_at))]
            last = state.get("last_round")
            if last is not None and int(reading.round_id) > int(last) + 1:
                rounds += self._rounds_between(pos.name, reading.feed, int(last), int(reading.round_id) - 1,
                                               int(data.block_number))
            best = max(rounds, key=lambda r: r[1])
            changed = last != int(reading.round_id)
            if state.get("peak_answer") is None or best[1] > int(state["peak_answer"]):
                state.update(peak_answer=best[1], peak_round=best[0], peak_updated_at=best[2],
                             peak_block=int(data.block_number))
                changed = True
            state.update(peak_usd=int(state["peak_answer"]) / 10**reading.decimals, last_round=int(reading.round_id),
                         feed=reading.feed, asset=_params(auto).asset)
            state.setdefault("since_block", int(data.block_number))
            if changed:
                try:
                    self.repo.set_state(key, state)
                    log.info("event=automation_state position=%s key=%s peak_usd=%.4f peak_round=%s last_round=%s",
                             pos.name, auto.key, state["peak_usd"], state["peak_round"], state["last_round"])
                except Exception as exc:
                    log.warning("event=automation_state_not_stored position=%s key=%s error=%r", pos.name, auto.key,
                                str(exc)[:200])
            out[auto.key] = state
        return out

    def _rearm(self, pos: ManagedPosition, auto: Any, oracles: Any) -> dict[str, Any]:
        key = f"automation:{pos.name}:{auto.key}"
        try:
            state = dict(self.repo.get_state(key) or {})
        except Exception:  # NOTE: unknown: treat as fired (a partial close must not repeat on a missing record)
            return {"armed": False, "unreadable": True}
        reading = oracles.get(_params(auto).asset)
        if state.get("armed") is False and reading is not None and reading.answer > 0:
            price = reading.answer / 10**reading.decimals
            c = auto.config
            back = ((c.below_usd is None or price > c.below_usd) and (c.above_usd is None or price < c.above_usd))
            if back:
                state.update(armed=True, rearmed_block=int(reading.block_number))
                try:
                    self.repo.set_state(key, state)
                except Exception as exc:
                    log.warning("event=automation_state_not_stored position=%s key=%s error=%r", pos.name, auto.key,
                                str(exc)[:200])
        return state

    @staticmethod
    def _from_automation(pos: ManagedPosition, decision: SizingDecision) -> bool:
        """The decision came from one of the position's price automations (or the strategy is one)."""
        from strategies.api import AUTOMATIONS

        reason = decision.reason or ""
        return pos.strategy.name in AUTOMATIONS or (bool(pos.strategy.automations) and reason.startswith("[")
                                                     and "]" in reason)

    def _automation_fired(self, pos: ManagedPosition, decision: SizingDecision, data: Any) -> None:
        """A partial close (``fraction`` < 1) was sent: disarm it until the price re-arms it (close_on_price: back
        across its level; trailing_stop: trailing afresh from the current price), so it fires once per crossing."""
        reason = decision.reason or ""
        key = reason[1:reason.index("]")] if reason.startswith("[") and "]" in reason else pos.strategy.name
        auto = next((a for a in armed_automations(pos.strategy) if a.key == key), None)
        if auto is None or auto.kind not in ("close_on_price", "trailing_stop") or _params(auto).fraction >= 1:
            return
        state_key = f"automation:{pos.name}:{auto.key}"
        try:
            state = dict(self.repo.get_state(state_key) or {})
            state.update(armed=False, fired_block=int(data.block_number))
            reading = data.oracles.get(_params(auto).asset)
            if auto.kind == "trailing_stop" and reading is not None:  # the trail restarts from here
                state.update(peak_answer=int(reading.answer), peak_round=int(reading.round_id),
                             peak_usd=int(reading.answer) / 10**reading.decimals, armed=True)
            self.repo.set_state(state_key, state)
            log.info("event=automation_fired position=%s key=%s block=%d fraction=%s", pos.name, auto.key,
                     int(data.block_number), _params(auto).fraction)
        except Exception as exc:
            log.warning("event=automation_state_not_stored position=%s key=%s error=%r", pos.name, auto.key,
                        str(exc)[:200])

    def _rounds_between(self, name: str, feed: str, after_round: int, last_round: int,
                        block: int) -> list[tuple[int, int, int]]:
        """The feed's rounds ``after_round + 1 .. last_round`` (empty when the reader cannot read them)."""
        client_of = getattr(self.reader, "client", None)
        if client_of is None:
            return []
        from manager.watchers.tick import read_round_answers

        try:
            chain = self.cfg.protocol(self.cfg.position(name).protocol).chain
            return read_round_answers(client_of(chain), feed, after_round, last_round, block)
        except Exception as exc:  # NOTE: the current round still counts; the gap is logged
            log.warning("event=oracle_rounds_unread position=%s feed=%s rounds=%d..%d error=%r", name, feed,
                        after_round + 1, last_round, " ".join(str(exc).split())[:200])
            return []

    @staticmethod
    def _choose_path(pos: ManagedPosition, snap: Any, data: Any) -> Any:
        """``execution.planner.choose_path`` for a managed lending position (None: nothing to choose)."""
        if pos.mode != "manage" or pos.plan_context is None or not hasattr(pos.plan_context, "atomic"):
            return None
        from manager.execution.planner import choose_path

        return choose_path(pos.plan_context, snap, (getattr(data, "atomic", None) or {}).get(pos.name))

    def _emit_executed(self, name: str, plan_id: str, block: int, now_s: float, *, post_health: float | None,
                       fields: dict[str, Any] | None = None) -> None:
        with self._state_lock:
            ctx = self._sent_context.pop(plan_id, None)
        action, before, steps, notional = (ctx[:4] if ctx else ((fields or {}).get("action", "action"),
                                                                 (fields or {}).get("health_before"),
                                                                 (fields or {}).get("steps", 0),
                                                                 (fields or {}).get("notional_usd", 0.0)))
        summary = f"{action} HF {_fmt(before)} -> {_fmt(post_health)} (${notional or 0:,.0f}, {steps} tx)"
        all_fields = {**(fields or {}), "action": action, "health_before": before, "post_health": post_health,
                      "steps": steps, "notional_usd": round(float(notional or 0.0), 2)}
        self.alerting.emit("action_executed", plan_id, position=name, summary=summary, block_number=block,
                           now_s=now_s, fields=all_fields)

    # --- tracking: settle what was sent (before each tick, and between ticks) ---------------------------
    def executors(self) -> list[Any]:
        """The distinct executors (one per signer) of the managed positions."""
        seen: dict[int, Any] = {}
        for pos in self.positions.values():
            if pos.executor is not None:
                seen.setdefault(id(pos.executor), pos.executor)
        return list(seen.values())

    def track_pending(self) -> int:
        """Settle sent transactions now, unless a tick is running (it does so itself). Returns the plans settled.

        The scheduler's ``track`` job calls this between ticks, so a confirmation is recorded and alerted
        even when no new block arrives."""
        if not self._act_lock.acquire(blocking=False):
            return 0
        try:
            return self._track(self.clock())
        finally:
            self._act_lock.release()

    def _track(self, now_s: float) -> int:
        trackers = [ex for ex in self.executors() if callable(getattr(ex, "track", None))]
        if not trackers:
            self._settle_pending()
            return 0
        try:
            # NOTE: one query (two with nothing pending); nothing sent is waiting: nothing to do
            if not self._pending_transactions() and not self._released_transactions():
                return 0
        except Exception as exc:
            log.warning("event=pending_query_failed error_type=%s error=%r", type(exc).__name__, str(exc)[:200])
        reports: list[Any] = []

        def one(ex: Any) -> Any:
            try:
                return ex.track()
            except StopError:
                raise
            except Exception as exc:
                log.warning("event=track_failed executor=%r error_type=%s error=%r", ex, type(exc).__name__,
                            " ".join(str(exc).split())[:200])
                return None

        if len(trackers) == 1:
            reports = [one(trackers[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(self.max_signer_threads, len(trackers)),
                                    thread_name_prefix="posman-track") as pool:
                reports = list(pool.map(one, trackers))
        settled = 0
        for ex, rep in zip(trackers, reports, strict=True):
            for plan_id, (status, reason) in (getattr(rep, "finished", None) or {}).items():
                settled += 1
                self._plan_settled(ex, plan_id, status, reason, now_s)
        return settled

    def _plan_settled(self, ex: Any, plan_id: str, status: str, reason: str, now_s: float) -> None:
        row = self.repo.get_plan(plan_id)
        name = row.position if row is not None else None
        pos = self.positions.get(name) if name else None
        if pos is None or name is None:  # a cancel / nonce-gap fill: no position of ours to alert for
            return
        txs = self.repo.transactions_for(plan_id)
        block = max((t.block_included or 0 for t in txs), default=0) or None
        log.info("event=plan_settled position=%s plan_id=%s status=%s block=%s reason=%r", name, plan_id, status,
                 block, reason)
        if status == "confirmed":
            post = None
            if pos.post_check is not None:
                try:
                    post = float(pos.post_check(ex.w3))
                except Exception as exc:  # the alert goes out without the number
                    log.warning("event=post_check_failed position=%s error=%r", name, str(exc)[:200])
            with self._state_lock:
                self._last_unsuccessful.pop(name, None)
            self._emit_executed(name, plan_id, block or 0, now_s, post_health=post)
        else:
            with self._state_lock:
                self._sent_context.pop(plan_id, None)
            self.alerting.emit("action_failed", plan_id, position=name, error=reason or status, block_number=block,
                               now_s=now_s, fields={"status": status})

    def _native_price_usd(self, data: Any, snap: Any) -> float | None:
        """USD price of the native token this tick: its oracle reading (if fresh), else the lending
        snapshot's reserve of the same symbol (Aave oracle, same block); ``None`` when neither is there."""
        reading = (getattr(data, "oracles", None) or {}).get(self.native_symbol)
        if reading is not None and not reading.stale and reading.answer > 0:
            return reading.answer / 10**reading.decimals
        for r in (getattr(snap, "reserves", None) or {}).values():
            if getattr(r, "symbol", None) == self.native_symbol and r.price_base > 0:
                return r.price_base / snap.base_unit
        return None

    @staticmethod
    def _expected_loss_avoided_usd(decision: SizingDecision, snap: Any) -> float | None:
        """The loss the decision avoids (``fees.expected_loss_avoided_usd``; ``None``: no fee budget)."""
        from manager.execution.fees import (
            expected_loss_avoided_usd,
            lending_debt_and_bonus,
            lending_liquidation_loss_usd,
        )

        debt_bonus = lending_debt_and_bonus(snap)
        if debt_bonus is None:
            return None
        debt_usd, bonus_bps = debt_bonus
        return expected_loss_avoided_usd(action=decision.action, health_before=decision.health_before,
                                         debt_usd=debt_usd, liquidation_bonus_bps=bonus_bps,
                                         liquidation_loss_usd=lending_liquidation_loss_usd(snap))

    @staticmethod
    def _target_band(decision: SizingDecision) -> tuple[float, float] | None:
        """The band the fork replay's post-state health must land in before anything real is sent.

        Lending deleverage/boost: the sizing core's projected health -0.5%, and for a boost no more than
        the health before (a boost must not end riskier than planned nor be a no-op in disguise). The
        sizing core values swaps at their guaranteed minimum, so the real outcome lands at or above it.
        """
        projected = decision.projected_health
        if projected is None or not math.isfinite(projected):
            return None
        if decision.action in ("deleverage", "repay_from_wallet", "add_collateral"):
            return (max(1.0, projected * 0.995), 1e9)
        if decision.action == "boost" and decision.health_before is not None and math.isfinite(decision.health_before):
            return (max(1.0, projected * 0.995), decision.health_before)
        return None

    @staticmethod
    def _min_post_health(decision: SizingDecision) -> float | None:
        """The health the fork replay must reach: better than before for a deleverage, safe for a boost."""
        from manager.execution.fees import RISK_REDUCING_ACTIONS

        before = decision.health_before
        if decision.action in RISK_REDUCING_ACTIONS and before is not None and math.isfinite(before):
            return max(1.0, before)
        if decision.action == "boost" and decision.target_health is not None:
            return max(1.01, decision.target_health - 0.05)
        if decision.action == "collateral_switch" and decision.target_health is not None:
            return decision.target_health  # the switch's floor (the executor checks it on chain too)
        return None

    # --- stuck transactions ----------------------------------------------------------------------
    PENDING_WAIT_BLOCKS = 5  # a pending step older than this (seen pending this many blocks) no longer blocks

    def _pending_of(self, name: str, block: int) -> list[str]:
        """Hashes of stored pending transactions of ``name``'s plans seen pending for fewer than
        ``PENDING_WAIT_BLOCKS`` blocks (after this tick's reconcile): the position waits for them."""
        if self._pending_by_position[0] != block:  # NOTE: one scan of the stored transactions per tick
            by_position: dict[str, list[str]] = {}
            try:
                positions: dict[str, str | None] = {}  # plan id -> position (one read per plan)
                for row in self._pending_transactions():
                    first = self._pending_first_seen.get(row.tx_hash, block)
                    if block - first >= self.PENDING_WAIT_BLOCKS:
                        continue
                    if row.plan_id not in positions:
                        plan = self.repo.get_plan(row.plan_id)
                        positions[row.plan_id] = plan.position if plan is not None else None
                    owner = positions[row.plan_id]
                    if owner is not None:
                        by_position.setdefault(owner, []).append(row.tx_hash)
            except Exception as exc:  # a record that cannot be read must not block protection
                log.warning("event=pending_unreadable position=%s error=%r", name, str(exc)[:200])
            self._pending_by_position = (block, by_position)
        return list(self._pending_by_position[1].get(name, []))

    def _settle_pending(self) -> None:
        """Stored transactions still pending (a restart, a slow inclusion): reconcile them with the chain
        before deciding, so an interrupted plan is settled and never resent."""
        if self._reconcile is None or not self._pending_transactions():
            return
        try:
            self._reconcile()
        except StopError:
            raise
        except Exception as exc:
            log.warning("event=reconcile_failed error_type=%s error=%r", type(exc).__name__,
                        " ".join(str(exc).split())[:200])

    def _check_pending(self, block: int, now_s: float) -> None:
        from manager.alerts import PendingTx

        pending = []
        rows = self._pending_transactions()
        live = set()
        for row in rows:
            live.add(row.tx_hash)
            first = self._pending_first_seen.setdefault(row.tx_hash, block)
            plan = self.repo.get_plan(row.plan_id)
            pending.append(PendingTx(tx_hash=row.tx_hash, plan_id=row.plan_id, sent_block=first,
                                     position=plan.position if plan else None, nonce=row.nonce))
        for tx_hash in list(self._pending_first_seen):
            if tx_hash not in live:
                del self._pending_first_seen[tx_hash]
        self.alerting.emit("evaluate_pending_txs", pending, block_number=block, now_s=now_s)


def _params(auto: Any) -> Any:
    """An automation's validated config (its own ``StrategyConfig`` subclass: ``asset``, ``fraction``...)."""
    return auto.config
