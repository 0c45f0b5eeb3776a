"""``posman plan``: the tick without an executor. The decisions come from ``Runtime.decide`` (the tick's own decision
stage, ``manager.runtime.loop``) at one block, so a plan shows exactly what the next tick would do there: every
skip and its reason (untrusted oracle, a pending transaction, paused, in flight, watch mode), the strategy's
cooldown and the daily cap (the day's usage read from the run's database), the path (atomic or direct) and the
plan each position that must act would send. Nothing is signed or sent, and nothing is written:

- the run's database (``[storage] url``, the dry run's with ``[runtime] dry_run``) is opened **read-only**
  (``PreviewRepository``: reads pass through, the decision stage's records are dropped); before the first
  ``posman run`` an ``EmptyRepository`` stands in (no last action, nothing paused, nothing used today);
- alerts are evaluated by nobody (``SilentEngine``): ``posman plan`` never notifies;
- each managed position with a signer gets its plan context (``plan_contexts``: the addresses, router kind and
  executor contract ``posman run`` wires at start-up, from the config and read-only calls; no key is loaded)
  and ``NoSend`` in place of an executor: its ``execute`` raises, and the decision stage never calls it.

What a running manager knows and a one-shot ``posman plan`` does not: the health and price histories of earlier
ticks (strategies that use them see a fresh start, as after a restart), the last refused plan held in memory
(not re-sent unchanged), and transactions the tick's tracking would settle first (a plan still open in the
database shows ``in_flight``).

A position's price automations are listed with their distance to firing and what each would do at its trigger
price (``manager.runtime.automation_view``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from manager.errors import PosmanError
from manager.runtime.loop import Alerting, ManagedPosition, PositionOutcome, Runtime, TickDecisions
from strategies.api import LoadedStrategy, StrategyContext, armed_automations


class PreviewSendError(PosmanError):
    """Something tried to send from ``posman plan`` (a bug: the decision stage never sends)."""


class NoSend:
    """Stands where a managed position's ``Executor`` is in a run: the position acts (it is planned) but
    nothing can be signed or sent."""

    def execute(self, plan: Any, **_kw: Any) -> Any:
        raise PreviewSendError(f"posman plan never sends (plan {getattr(plan, 'plan_id', '?')})")


class SilentEngine:
    """The alert engine of a preview: every rule answers "nothing to send"."""

    def __getattr__(self, name: str) -> Callable[..., list[Any]]:
        return lambda *a, **k: []


# The repository reads the decision stage makes (``Runtime``, ``execution.leftovers``, ``ExecutionStore``).
_READS = frozenset({"last_processed_block", "get_state", "is_paused", "paused_positions", "open_plans",
                    "pending_transactions", "get_plan", "transactions_for", "actions_for", "daily_usage",
                    "latest_snapshot"})
# What the decision stage records in a run; dropped by a preview.
_WRITES = frozenset({"record_snapshot", "record_decision", "set_state", "set_last_processed_block"})


class PreviewRepository:
    """The run's ``Repository`` for reading only: the decision stage's reads pass through, its records are
    dropped (``_WRITES``), anything else is refused (a new write must be listed, never made by a preview)."""

    def __init__(self, repo: Any, clock: Callable[[], float] = time.time) -> None:
        self._repo = repo
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        if name in _READS:
            return getattr(self._repo, name)
        if name in _WRITES:
            return lambda *a, **k: None
        raise AttributeError(f"posman plan does not write to the database ({name})")


class EmptyRepository:
    """The answers of a database before the first ``posman run``: no last action, nothing paused, open, pending
    or used today."""

    def last_processed_block(self) -> int | None:
        return None

    def get_state(self, key: str, default: Any = None) -> Any:
        return default

    def is_paused(self, position: str) -> bool:
        return False

    def paused_positions(self) -> dict[str, dict[str, Any]]:
        return {}

    def daily_usage(self, day: Any, *, counter: str = "notional_usd") -> float:
        return 0.0

    def get_plan(self, plan_id: str) -> Any:
        return None

    def latest_snapshot(self, position: str) -> Any:
        return None

    def open_plans(self) -> list[Any]:
        return []

    def pending_transactions(self, **_kw: Any) -> list[Any]:
        return []

    def transactions_for(self, plan_id: str) -> list[Any]:
        return []

    def actions_for(self, position: str, **_kw: Any) -> list[Any]:
        return []


def open_run_repository(cfg: Any, clock: Callable[[], float] = time.time) -> tuple[PreviewRepository, Any]:
    """(``PreviewRepository`` over the run's database opened read-only, the ``Database`` to dispose or ``None``).
    Before the first ``posman run`` (no database yet) an ``EmptyRepository`` stands in; nothing is created."""
    from manager.persistence import Database, Repository
    from manager.persistence.db import MissingDatabaseError

    try:
        db = Database.open_read_only(cfg.storage.url_for(cfg.runtime.dry_run))
    except MissingDatabaseError:
        return PreviewRepository(EmptyRepository(), clock), None
    return PreviewRepository(Repository(db, clock=clock), clock), db


def plan_contexts(cfg: Any, client_of: Callable[[str], Any]) -> dict[str, Any]:
    """position -> the plan context ``posman run`` gives a managed position with a signer (no key loaded): the
    same adapter wiring as ``runtime.lifecycle.build_manager`` (``lifecycle.wire_positions``)."""
    from manager.runtime.lifecycle import wire_positions

    return {name: wired.plan_context for name, wired in wire_positions(cfg, client_of).items()}


def preview_runtime(cfg: Any, reader: Any, bound: Mapping[str, LoadedStrategy], peers: Mapping[str, list[str]], *,
                    repo: Any, contexts: Mapping[str, Any], clock: Callable[[], float] = time.time) -> Runtime:
    """A ``Runtime`` that can decide but not act: read-only ``repo``, silent alerts, ``NoSend`` executors."""
    from manager.execution.store import ExecutionStore

    positions = []
    for pos in cfg.positions:
        mp = ManagedPosition(name=pos.name, mode=pos.mode, strategy=bound[pos.name], peers=list(peers[pos.name]))
        if pos.name in contexts:
            mp.plan_context, mp.executor = contexts[pos.name], NoSend()
        positions.append(mp)
    store = ExecutionStore(repo, clock=clock)
    runtime = Runtime(cfg, reader=reader, repo=repo, positions=positions, alerting=Alerting(SilentEngine(), None),
                      clock=clock, used_today_usd=store.used_today_usd,
                      pending_transactions=lambda: list(repo.pending_transactions()))
    runtime.keep_contexts = True
    return runtime


def preview(runtime: Runtime, tick: Any, *, now_s: float, managed_only: bool = True) -> list[dict[str, Any]]:
    """One row per position (managed ones only unless ``managed_only=False``) of ``runtime.decide`` at ``tick``."""
    decided = runtime.decide(tick, now_s)
    plans = {item.pos.name: plan for item, plan in decided.planned}
    rows: list[dict[str, Any]] = []
    for pos in runtime.cfg.positions:
        if managed_only and pos.mode != "manage":
            continue
        outcome = decided.report.positions.get(pos.name) or PositionOutcome(pos.name, status="error",
                                                                            reason="not decided")
        rows.append(_row(runtime, pos, outcome, plans.get(pos.name), decided))
    return rows


# why a position that decided to act does not act this tick, by its status (``skipped`` / ``refused`` say it in
# their reason)
_SKIPS = {"paused": "paused (posman resume {name} lifts it)", "in_flight": "plan {plan_id} sent earlier is in flight",
          "watch": "watch mode (or no signer): decisions are only logged"}


def _row(runtime: Runtime, pos: Any, outcome: PositionOutcome, plan: Any, decided: TickDecisions) -> dict[str, Any]:
    row: dict[str, Any] = {"position": pos.name, "mode": pos.mode, "strategy": pos.strategy,
                           "block": decided.block_number, "health": _num(outcome.health),
                           "action": outcome.action if outcome.status != "error" else "error",
                           "status": outcome.status, "reason": outcome.reason}
    decision = outcome.decision
    if decision is not None:
        row.update(target_health=_num(decision.target_health), projected_health=_num(decision.projected_health),
                   binding=decision.binding_constraint, feasible=decision.feasible,
                   notional_usd=round(decision.notional_usd, 2),
                   steps=[{"kind": s.kind, "symbol": s.symbol, "amount_wei": str(s.amount_wei),
                           "symbol_out": s.symbol_out} for s in decision.steps])
    skip = _SKIPS.get(outcome.status)
    if skip is not None:  # decided, but the tick does not act on it
        row["skip"] = skip.format(name=pos.name, plan_id=outcome.plan_id)
    if outcome.path:
        row["path"] = outcome.path
    if plan is not None:
        row["plan"] = {"plan_id": plan.plan_id, "kind": plan.kind, "notional_usd": round(plan.notional_usd, 2),
                       "calls": [{"label": s.label, "to": s.to, "selector": s.selector} for s in plan.steps]}
    if outcome.plan_id is not None:
        row["plan_id"] = outcome.plan_id
    strategy = runtime.positions[pos.name].strategy
    ctx = decided.contexts.get(pos.name)
    if ctx is not None and armed_automations(strategy):  # issue 16: each automation now and at its trigger price
        row["automations"] = _automations(strategy, decided.views[pos.name].snapshot, ctx)
    return row


def _automations(strategy: LoadedStrategy, snap: Any, ctx: StrategyContext) -> list[dict[str, Any]]:
    from manager.runtime.automation_view import armed_rows, at_trigger

    out = []
    for r in armed_rows(strategy, ctx):
        if snap is not None and r.get("level_usd") is not None and r.get("asset"):
            r["at_trigger"] = at_trigger(strategy, r["key"], snap, ctx, float(r["level_usd"]), str(r["asset"]))
        out.append(r)
    return out


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 6)
