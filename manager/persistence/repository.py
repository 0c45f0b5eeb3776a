"""Repository: every read and write the runtime makes to the database, one unit of work per call.

Each write commits before the method returns (crash safety: what the method reported done is on disk).
Methods return detached rows; mutate the database only through these methods.

Idempotency: ``create_plan`` returns the existing plan when its ``plan_id`` is already stored, and
``record_snapshot``/``record_decision``/``record_tx`` return the stored row on a repeat of the same
(position, block) / (position, block, decision) / tx hash, so replaying a tick after a crash is harmless.

Status changes follow ``PLAN_TRANSITIONS``/``TX_TRANSITIONS``; anything else raises
``InvalidTransitionError`` (a ``NeverSubmitError``: the caller must not broadcast on top of it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import and_, delete, exists, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from manager.domain import WAD, SizingDecision
from manager.errors import NeverSubmitError, PosmanError
from manager.persistence.db import Database
from manager.persistence.models import (
    AlertRow,
    DecisionRow,
    PlanRow,
    PlanStatus,
    RuntimeStateRow,
    SnapshotRow,
    TransactionRow,
    TxStatus,
)

log = logging.getLogger("posman.persistence")

T = TypeVar("T")

# A plan is simulated before it is sent or dry-run; refused/dry_run/confirmed/failed/reverted are final.
PLAN_TRANSITIONS: dict[PlanStatus, frozenset[PlanStatus]] = {
    PlanStatus.CREATED: frozenset({PlanStatus.SIMULATED, PlanStatus.REFUSED, PlanStatus.FAILED}),
    PlanStatus.SIMULATED: frozenset(
        {PlanStatus.SUBMITTED, PlanStatus.DRY_RUN, PlanStatus.REFUSED, PlanStatus.FAILED}
    ),
    PlanStatus.SUBMITTED: frozenset({PlanStatus.CONFIRMED, PlanStatus.FAILED, PlanStatus.REVERTED}),
    PlanStatus.REFUSED: frozenset(),
    PlanStatus.DRY_RUN: frozenset(),
    PlanStatus.CONFIRMED: frozenset(),
    PlanStatus.FAILED: frozenset(),
    PlanStatus.REVERTED: frozenset(),
}

# NOTE: included/reverted -> pending is a reorg; dropped -> pending/included is a transaction that was
# evicted from our node's mempool and then seen again (or mined anyway).
TX_TRANSITIONS: dict[TxStatus, frozenset[TxStatus]] = {
    TxStatus.PENDING: frozenset({TxStatus.INCLUDED, TxStatus.REVERTED, TxStatus.REPLACED, TxStatus.DROPPED,
                                 TxStatus.RELEASED}),
    TxStatus.RELEASED: frozenset({TxStatus.INCLUDED, TxStatus.REVERTED, TxStatus.REPLACED, TxStatus.DROPPED}),
    TxStatus.INCLUDED: frozenset({TxStatus.PENDING}),
    TxStatus.REVERTED: frozenset({TxStatus.PENDING}),
    TxStatus.DROPPED: frozenset({TxStatus.PENDING, TxStatus.INCLUDED, TxStatus.REVERTED, TxStatus.REPLACED}),
    TxStatus.REPLACED: frozenset(),
}

LAST_PROCESSED_BLOCK_KEY = "last_processed_block"
DAILY_USAGE_PREFIX = "daily_usage"
PAUSED_PREFIX = "paused"
# A signed transaction is never shorter than this; a 32-byte value is what a private key looks like.
MIN_SIGNED_TX_BYTES = 80


class RecordError(PosmanError):
    """A value given to the repository is invalid (names the field, the value and what is allowed)."""


class NotFoundError(PosmanError):
    """The plan, transaction or alert asked for is not stored."""


class InvalidTransitionError(NeverSubmitError):
    """A status change not allowed by the life cycle (e.g. ``confirmed -> submitted``)."""


class PlanConflictError(NeverSubmitError):
    """A ``plan_id`` is already stored for a different position or block."""


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces); pydantic models are dumped in JSON mode first."""
    return json.dumps(_jsonable(value), sort_keys=True, separators=(",", ":"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def decision_digest(decision: SizingDecision) -> str:
    """sha256 hex of the decision's canonical JSON."""
    return hashlib.sha256(canonical_json(decision).encode()).hexdigest()


def derive_plan_id(decision: SizingDecision, block_number: int) -> str:
    """The idempotency key of the plan that carries out ``decision`` decided at ``block_number``.

    The same decision at the same block always gives the same id, so a restart that re-plans the tick
    finds the plan it already created (and its transactions) instead of sending a second one.
    """
    _check_int("block_number", block_number)
    payload = f"{decision_digest(decision)}:{block_number}".encode()
    return f"plan-{decision.position}-{block_number}-{hashlib.sha256(payload).hexdigest()[:16]}"


def _enum(enum_type: type[T], field: str, value: Any) -> T:
    try:
        return enum_type(value)  # type: ignore[call-arg]
    except ValueError:
        allowed = ", ".join(m.value for m in enum_type)  # type: ignore[attr-defined]
        raise RecordError(
            f"{field}={value!r} is not valid; allowed: {allowed}", field=field, value=value
        ) from None


def _check_int(field: str, value: Any, *, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` if it is an int (not a bool) in ``[minimum, maximum]``, else ``RecordError``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise RecordError(f"{field}={value!r} must be an integer {allowed}", field=field, value=value)
    return value


def _check_transition(
    what: str, old: PlanStatus | TxStatus, new: PlanStatus | TxStatus, allowed: frozenset[Any], **context: Any
) -> None:
    """Raise ``InvalidTransitionError`` unless ``old -> new`` is in ``allowed`` (the table row of ``old``)."""
    if new not in allowed:
        listed = ", ".join(sorted(s.value for s in allowed)) or "none (final)"
        raise InvalidTransitionError(
            f"{what}: status {old.value} -> {new.value} is not allowed; from {old.value}: {listed}",
            old=old.value,
            new=new.value,
            **context,
        )


def _check_text(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"{field}={value!r} must be a non-empty string", field=field, value=value)
    return value


def _check_finite(field: str, value: Any, *, minimum: float | None = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{field}={value!r} must be a number", field=field, value=value) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise RecordError(f"{field}={value!r} must be finite", field=field, value=value)
    if minimum is not None and number < minimum:
        raise RecordError(f"{field}={value!r} must be >= {minimum}", field=field, value=value)
    return number


def _check_tx_hash(field: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise RecordError(
            f"{field}={value!r} must be a 0x-prefixed 32-byte hex hash", field=field, value=value
        )
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise RecordError(f"{field}={value!r} is not hex", field=field, value=value) from None
    return value.lower()


def _check_raw_tx(value: Any) -> str:
    text = value[2:] if isinstance(value, str) and value.startswith("0x") else value
    try:
        raw = bytes.fromhex(text) if isinstance(text, str) else b""
    except ValueError:
        raise RecordError("raw_tx_hex is not hex", field="raw_tx_hex") from None
    if len(raw) < MIN_SIGNED_TX_BYTES:
        # NOTE: the value is deliberately not echoed: a short hex string here may be a private key.
        raise RecordError(
            f"raw_tx_hex is {len(raw)} bytes, a signed transaction is at least {MIN_SIGNED_TX_BYTES}; "
            "refusing to store it (only signed transactions are stored, never keys)",
            field="raw_tx_hex",
        )
    return "0x" + raw.hex()


def _day_key(day: dt.date | str, counter: str) -> str:
    if isinstance(day, dt.datetime):
        raise RecordError(f"day={day!r} must be a date (UTC day), not a datetime", field="day", value=day)
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day)
        except ValueError:
            raise RecordError(f"day={day!r} must be an ISO date YYYY-MM-DD", field="day", value=day) from None
    _check_text("counter", counter)
    return f"{DAILY_USAGE_PREFIX}:{counter}:{day.isoformat()}"


# ------------------------------------------------------------------------------------------------
# repository
# ------------------------------------------------------------------------------------------------
class Repository:
    """All database access of the runtime. ``clock`` returns unix seconds (inject a fake in tests)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock
        self._local = threading.local()  # the open ``batch()`` session of this thread, if any

    @property
    def clock(self) -> Callable[[], float]:
        """The clock this repository stamps rows with (unix seconds)."""
        return self._clock

    def _run(self, work: Callable[[Session], T]) -> T:
        session = getattr(self._local, "session", None)
        if session is not None:  # inside ``batch()``: part of its one transaction
            result = work(session)
            session.flush()
            return result
        with self.db.unit_of_work() as session:
            return work(session)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Every repository call of this thread inside the block is one database transaction: all of it
        is committed at the end (one disk sync), or none of it on an exception. Nested: joins the outer."""
        if getattr(self._local, "session", None) is not None:
            yield
            return
        with self.db.unit_of_work() as session:
            self._local.session = session
            try:
                yield
            finally:
                self._local.session = None

    # --- snapshots -----------------------------------------------------------------------------
    def record_snapshot(
        self,
        *,
        position: str,
        protocol: str,
        account: str,
        block_number: int,
        block_timestamp: int,
        health_factor_wad: int,
        collateral_usd: float,
        debt_usd: float,
        ltv_bps: int,
        liquidation_threshold_bps: int,
        oracle_fresh: bool = True,
    ) -> SnapshotRow:
        """Store a position's health at ``block_number``; a repeat for the same block returns the stored row."""
        _check_text("position", position)
        _check_int("block_number", block_number)
        _check_int("block_timestamp", block_timestamp)
        _check_int("health_factor_wad", health_factor_wad)
        _check_int("ltv_bps", ltv_bps, maximum=10_000)
        _check_int("liquidation_threshold_bps", liquidation_threshold_bps, maximum=10_000)
        row = SnapshotRow(
            position=position,
            protocol=protocol,
            account=account,
            block_number=block_number,
            block_timestamp=block_timestamp,
            health_factor=health_factor_wad / WAD,
            health_factor_wad=health_factor_wad,
            collateral_usd=_check_finite("collateral_usd", collateral_usd),
            debt_usd=_check_finite("debt_usd", debt_usd),
            ltv_bps=ltv_bps,
            liquidation_threshold_bps=liquidation_threshold_bps,
            oracle_fresh=bool(oracle_fresh),
            created_at_s=self._clock(),
        )
        existing = self._insert_or_get(
            row,
            lambda s: s.exec(
                select(SnapshotRow).where(
                    SnapshotRow.position == position, SnapshotRow.block_number == block_number
                )
            ).first(),
        )
        return existing

    def record_lending_snapshot(
        self,
        snapshot: Any,
        *,
        health_factor_wad: int | None = None,
        collateral_usd: float | None = None,
        debt_usd: float | None = None,
    ) -> SnapshotRow:
        """Store a lending snapshot (a ``PositionSnapshot`` with a ``reported`` account view, e.g. Aave's); values
        not given come from ``snapshot.reported`` (the protocol's own view at the same block)."""
        reported = snapshot.reported
        if reported is None and None in (health_factor_wad, collateral_usd, debt_usd):
            raise RecordError(
                f"snapshot of {snapshot.name or snapshot.account} at block {snapshot.block_number} has no "
                "reported account data; pass health_factor_wad, collateral_usd and debt_usd",
                field="reported",
            )
        hf_wad = health_factor_wad if health_factor_wad is not None else reported.health_factor_wad  # type: ignore[union-attr]
        if collateral_usd is None:
            collateral_usd = reported.total_collateral_base / snapshot.base_unit  # type: ignore[union-attr]
        if debt_usd is None:
            debt_usd = reported.total_debt_base / snapshot.base_unit  # type: ignore[union-attr]
        return self.record_snapshot(
            position=snapshot.name or snapshot.account,
            protocol=snapshot.protocol,
            account=snapshot.account,
            block_number=snapshot.block_number,
            block_timestamp=snapshot.block_timestamp,
            health_factor_wad=hf_wad,
            collateral_usd=collateral_usd,
            debt_usd=debt_usd,
            ltv_bps=reported.ltv_bps if reported else 0,
            liquidation_threshold_bps=reported.current_liquidation_threshold_bps if reported else 0,
            oracle_fresh=snapshot.oracle_fresh,
        )

    def health_series(
        self, position: str, *, limit: int = 500, since_block: int | None = None
    ) -> list[SnapshotRow]:
        """The latest ``limit`` snapshots of ``position`` (from ``since_block`` on), oldest first."""
        _check_int("limit", limit, minimum=1)

        def work(session: Session) -> list[SnapshotRow]:
            query = select(SnapshotRow).where(SnapshotRow.position == position)
            if since_block is not None:
                query = query.where(SnapshotRow.block_number >= since_block)
            rows = session.exec(query.order_by(col(SnapshotRow.block_number).desc()).limit(limit)).all()
            return list(reversed(rows))

        return self._run(work)

    def snapshot_near(self, position: str, block_number: int, *, after: bool) -> SnapshotRow | None:
        """The last snapshot of ``position`` at or before ``block_number`` (``after=False``), or the first one
        strictly after it (``after=True``): the health before and after an action at that block."""

        def work(session: Session) -> SnapshotRow | None:
            query = select(SnapshotRow).where(SnapshotRow.position == position)
            if after:
                query = query.where(SnapshotRow.block_number > block_number).order_by(col(SnapshotRow.block_number))
            else:
                query = query.where(SnapshotRow.block_number <= block_number).order_by(
                    col(SnapshotRow.block_number).desc()
                )
            return session.exec(query.limit(1)).first()

        return self._run(work)

    def latest_snapshot(self, position: str) -> SnapshotRow | None:
        """The most recent snapshot of ``position``, if any."""
        series = self.health_series(position, limit=1)
        return series[0] if series else None

    def compact_snapshots(self, *, head_block: int, older_than_blocks: int, keep_every_n_blocks: int) -> int:
        """Thin health history older than ``head_block - older_than_blocks``; returns rows deleted.

        Old snapshots are grouped per position into buckets of ``keep_every_n_blocks`` blocks; each bucket
        keeps its *lowest* health factor (the danger peaks survive thinning). Snapshots at a block where a
        decision was recorded for the position are kept too. Decisions, plans, transactions and alerts
        are never touched. Idempotent: running it twice deletes nothing more.
        """
        _check_int("head_block", head_block)
        _check_int("older_than_blocks", older_than_blocks)
        _check_int("keep_every_n_blocks", keep_every_n_blocks, minimum=1)
        cutoff = head_block - older_than_blocks
        bucket = col(SnapshotRow.block_number) // keep_every_n_blocks  # SQL integer division
        ranked = (
            select(
                col(SnapshotRow.id).label("id"),
                func.row_number()
                .over(
                    partition_by=(col(SnapshotRow.position), bucket),
                    order_by=(col(SnapshotRow.health_factor).asc(), col(SnapshotRow.block_number).asc()),
                )
                .label("rank"),
            )
            .where(col(SnapshotRow.block_number) < cutoff)
            .subquery()
        )
        keepers = select(ranked.c.id).where(ranked.c.rank == 1)
        has_decision = exists().where(
            and_(
                col(DecisionRow.position) == col(SnapshotRow.position),
                col(DecisionRow.block_number) == col(SnapshotRow.block_number),
            )
        )
        statement = (
            delete(SnapshotRow)
            .where(col(SnapshotRow.block_number) < cutoff)
            .where(col(SnapshotRow.id).not_in(keepers))
            .where(~has_decision)
        )

        def work(session: Session) -> int:
            return int(session.exec(statement).rowcount or 0)  # type: ignore[call-overload]

        deleted = self._run(work)
        log.info(
            "event=snapshots_compacted head_block=%d cutoff_block=%d bucket_blocks=%d deleted=%d",
            head_block,
            cutoff,
            keep_every_n_blocks,
            deleted,
        )
        return deleted

    # --- decisions -----------------------------------------------------------------------------
    def record_decision(self, decision: SizingDecision, *, block_number: int | None = None) -> DecisionRow:
        """Store a sizing decision (the whole value as JSON); a repeat returns the stored row."""
        block = block_number if block_number is not None else decision.block_number
        if block is None:
            raise RecordError(
                f"decision for {decision.position!r} has no block_number; pass block_number",
                field="block_number",
            )
        _check_int("block_number", block)
        digest = decision_digest(decision)
        row = DecisionRow(
            position=decision.position,
            block_number=block,
            action=decision.action,
            binding_constraint=decision.binding_constraint,
            reason=decision.reason,
            feasible=decision.feasible,
            health_before=decision.health_before,
            projected_health=decision.projected_health,
            notional_usd=decision.notional_usd,
            digest=digest,
            decision_json=decision.model_dump(mode="json"),
            created_at_s=self._clock(),
        )
        return self._insert_or_get(
            row,
            lambda s: s.exec(
                select(DecisionRow).where(
                    DecisionRow.position == decision.position,
                    DecisionRow.block_number == block,
                    DecisionRow.digest == digest,
                )
            ).first(),
        )

    def decisions_for(self, position: str, *, limit: int = 100) -> list[DecisionRow]:
        """The latest ``limit`` decisions of ``position``, newest first."""
        return self._run(
            lambda s: list(
                s.exec(
                    select(DecisionRow)
                    .where(DecisionRow.position == position)
                    .order_by(col(DecisionRow.block_number).desc(), col(DecisionRow.id).desc())
                    .limit(limit)
                ).all()
            )
        )

    def decisions_by_id(self, ids: Iterable[int]) -> dict[int, DecisionRow]:
        """The stored decisions with these ids (a plan's ``decision_id``), by id."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self._run(
            lambda s: list(s.exec(select(DecisionRow).where(col(DecisionRow.id).in_(wanted))).all())
        )
        return {r.id: r for r in rows if r.id is not None}

    # --- plans ---------------------------------------------------------------------------------
    def create_plan(
        self,
        plan_id: str,
        *,
        position: str,
        block_number: int,
        steps: Sequence[Any],
        action: str = "none",
        decision_id: int | None = None,
    ) -> tuple[PlanRow, bool]:
        """Store a new plan in status ``created``; returns ``(plan, created)``.

        When ``plan_id`` is already stored the existing plan is returned with ``created=False`` (whatever
        its status now): the caller resumes it instead of building a second one. A stored plan with the
        same id but another position or block raises ``PlanConflictError``.
        """
        _check_text("plan_id", plan_id)
        _check_text("position", position)
        _check_int("block_number", block_number)
        now_s = self._clock()
        row = PlanRow(
            plan_id=plan_id,
            position=position,
            action=action,
            block_number=block_number,
            decision_id=decision_id,
            status=PlanStatus.CREATED.value,
            steps_json=_jsonable(list(steps)),
            created_at_s=now_s,
            updated_at_s=now_s,
        )
        try:
            self._run(lambda s: s.add(row))
        except IntegrityError:
            existing = self.get_plan(plan_id)
            if existing is None:  # the conflict was something else (e.g. unknown decision_id)
                raise
            if existing.position != position or existing.block_number != block_number:
                raise PlanConflictError(
                    f"plan_id {plan_id} is stored for position {existing.position!r} at block "
                    f"{existing.block_number}, not {position!r} at block {block_number}",
                    plan_id=plan_id,
                ) from None
            log.info("event=plan_exists plan_id=%s status=%s", plan_id, existing.status)
            return existing, False
        log.info(
            "event=plan_created plan_id=%s position=%s block=%d steps=%d",
            plan_id,
            position,
            block_number,
            len(steps),
        )
        return row, True

    def get_plan(self, plan_id: str) -> PlanRow | None:
        """The stored plan with this id, if any."""
        return self._run(lambda s: s.exec(select(PlanRow).where(PlanRow.plan_id == plan_id)).first())

    def update_plan_status(
        self,
        plan_id: str,
        status: PlanStatus | str,
        *,
        refusal_reason: str | None = None,
        error: str | None = None,
    ) -> PlanRow:
        """Move a plan to ``status`` (see ``PLAN_TRANSITIONS``); repeating the current status is a no-op."""
        new = _enum(PlanStatus, "status", status)
        if new is PlanStatus.REFUSED and not refusal_reason:
            raise RecordError("status=refused needs a refusal_reason", field="refusal_reason")

        def work(session: Session) -> PlanRow:
            plan = session.exec(select(PlanRow).where(PlanRow.plan_id == plan_id).with_for_update()).first()
            if plan is None:
                raise NotFoundError(f"plan_id {plan_id} is not stored", plan_id=plan_id)
            old = PlanStatus(plan.status)
            if old is new:
                return plan
            _check_transition(f"plan {plan_id}", old, new, PLAN_TRANSITIONS[old], plan_id=plan_id)
            plan.status = new.value
            if refusal_reason is not None:
                plan.refusal_reason = refusal_reason
            if error is not None:
                plan.error = error
            plan.updated_at_s = self._clock()
            session.add(plan)
            return plan

        plan = self._run(work)
        log.info("event=plan_status plan_id=%s status=%s", plan_id, plan.status)
        return plan

    def actions_for(self, position: str, *, limit: int = 100, include_refused: bool = True) -> list[PlanRow]:
        """Plans of ``position`` (what the manager did or refused to do), newest first."""

        def work(session: Session) -> list[PlanRow]:
            query = select(PlanRow).where(PlanRow.position == position)
            if not include_refused:
                query = query.where(PlanRow.status != PlanStatus.REFUSED.value)
            query = query.order_by(col(PlanRow.created_at_s).desc(), col(PlanRow.id).desc()).limit(limit)
            return list(session.exec(query).all())

        return self._run(work)

    def open_plans(self) -> list[PlanRow]:
        """Plans not in a final status (created, simulated, submitted): what a restart must resume."""
        open_statuses = [s.value for s, nxt in PLAN_TRANSITIONS.items() if nxt]
        return self._run(
            lambda s: list(
                s.exec(
                    select(PlanRow).where(col(PlanRow.status).in_(open_statuses)).order_by(col(PlanRow.id))
                ).all()
            )
        )

    # --- transactions --------------------------------------------------------------------------
    def record_tx(
        self,
        *,
        plan_id: str,
        step_index: int,
        nonce: int,
        tx_hash: str,
        raw_tx_hex: str,
        max_fee_per_gas_wei: int | None = None,
        max_priority_fee_per_gas_wei: int | None = None,
        sender: str | None = None,
    ) -> TransactionRow:
        """Store a signed transaction as ``pending`` *before* it is broadcast; a repeat returns the stored row."""
        _check_int("step_index", step_index)
        _check_int("nonce", nonce)
        tx_hash = _check_tx_hash("tx_hash", tx_hash)
        raw = _check_raw_tx(raw_tx_hex)
        for name, fee in (
            ("max_fee_per_gas_wei", max_fee_per_gas_wei),
            ("max_priority_fee_per_gas_wei", max_priority_fee_per_gas_wei),
        ):
            if fee is not None:
                _check_int(name, fee)
        if self.get_plan(plan_id) is None:
            raise NotFoundError(f"plan_id {plan_id} is not stored; create the plan first", plan_id=plan_id)
        now_s = self._clock()
        row = TransactionRow(
            plan_id=plan_id,
            step_index=step_index,
            sender=sender,
            nonce=nonce,
            tx_hash=tx_hash,
            raw_tx_hex=raw,
            max_fee_per_gas_wei=max_fee_per_gas_wei,
            max_priority_fee_per_gas_wei=max_priority_fee_per_gas_wei,
            status=TxStatus.PENDING.value,
            created_at_s=now_s,
            updated_at_s=now_s,
        )
        stored = self._insert_or_get(
            row, lambda s: s.exec(select(TransactionRow).where(TransactionRow.tx_hash == tx_hash)).first()
        )
        log.info(
            "event=tx_recorded plan_id=%s step=%d nonce=%d tx_hash=%s", plan_id, step_index, nonce, tx_hash
        )
        return stored

    def update_tx(
        self,
        tx_hash: str,
        *,
        status: TxStatus | str,
        block_included: int | None = None,
        gas_used: int | None = None,
        replaced_by: str | None = None,
    ) -> TransactionRow:
        """Move a transaction to ``status`` (see ``TX_TRANSITIONS``) and record receipt facts."""
        tx_hash = _check_tx_hash("tx_hash", tx_hash)
        new = _enum(TxStatus, "status", status)
        if new is TxStatus.REPLACED:
            if replaced_by is None:
                raise RecordError(
                    "status=replaced needs replaced_by (the replacing tx hash)", field="replaced_by"
                )
            replaced_by = _check_tx_hash("replaced_by", replaced_by)
        if new in (TxStatus.INCLUDED, TxStatus.REVERTED) and block_included is None:
            raise RecordError(f"status={new.value} needs block_included", field="block_included")
        if block_included is not None:
            _check_int("block_included", block_included)
        if gas_used is not None:
            _check_int("gas_used", gas_used)

        def work(session: Session) -> TransactionRow:
            tx = session.exec(
                select(TransactionRow).where(TransactionRow.tx_hash == tx_hash).with_for_update()
            ).first()
            if tx is None:
                raise NotFoundError(f"tx_hash {tx_hash} is not stored", tx_hash=tx_hash)
            old = TxStatus(tx.status)
            if old is not new:
                _check_transition(f"tx {tx_hash}", old, new, TX_TRANSITIONS[old], tx_hash=tx_hash)
            tx.status = new.value
            if new is TxStatus.PENDING:  # reorged out or seen again: forget the old receipt
                tx.block_included = None
                tx.gas_used = None
            if block_included is not None:
                tx.block_included = block_included
            if gas_used is not None:
                tx.gas_used = gas_used
            if replaced_by is not None:
                tx.replaced_by = replaced_by
            tx.updated_at_s = self._clock()
            session.add(tx)
            return tx

        tx = self._run(work)
        log.info("event=tx_status tx_hash=%s status=%s block=%s", tx_hash, tx.status, tx.block_included)
        return tx

    def pending_transactions(self, *, sender: str | None = None,
                             status: TxStatus = TxStatus.PENDING) -> list[TransactionRow]:
        """Transactions still ``pending`` (or ``status``; optionally of one sender), by nonce then age."""

        def work(session: Session) -> list[TransactionRow]:
            query = select(TransactionRow).where(TransactionRow.status == status.value)
            if sender is not None:
                query = query.where(TransactionRow.sender == sender)
            return list(session.exec(query.order_by(col(TransactionRow.nonce), col(TransactionRow.id))).all())

        return self._run(work)

    def transactions_for(self, plan_id: str) -> list[TransactionRow]:
        """All transactions of a plan, by step then age."""
        return self._run(
            lambda s: list(
                s.exec(
                    select(TransactionRow)
                    .where(TransactionRow.plan_id == plan_id)
                    .order_by(col(TransactionRow.step_index), col(TransactionRow.id))
                ).all()
            )
        )

    # --- alerts --------------------------------------------------------------------------------
    def upsert_alert(
        self,
        episode_key: str,
        *,
        kind: str,
        severity: str,
        message: str,
        position: str | None = None,
        title: str = "",
        block_number: int | None = None,
        now_s: float | None = None,
    ) -> tuple[AlertRow, bool]:
        """Open the episode ``episode_key`` or update its open row; returns ``(row, created)``."""
        _check_text("episode_key", episode_key)
        now = self._clock() if now_s is None else now_s

        def work(session: Session) -> tuple[AlertRow, bool]:
            row = self._open_alert(session, episode_key)
            created = row is None
            if row is None:
                row = AlertRow(
                    episode_key=episode_key, kind=kind, severity=severity, message=message, first_seen_s=now
                )
            row.kind, row.severity, row.message, row.title = kind, severity, message, title
            row.position = position
            if block_number is not None:
                row.block_number = block_number
            session.add(row)
            return row, created

        return self._run(work)

    def record_alert_sent(
        self, episode_key: str, *, channels: Iterable[str], now_s: float | None = None
    ) -> AlertRow:
        """Note one (re-)notification of the open episode and which channels accepted it."""
        now = self._clock() if now_s is None else now_s

        def work(session: Session) -> AlertRow:
            row = self._open_alert(session, episode_key)
            if row is None:
                raise NotFoundError(f"no open alert episode {episode_key!r}", episode_key=episode_key)
            row.sent_count += 1
            row.last_sent_s = now
            row.channels_delivered = sorted(set(row.channels_delivered) | set(channels))
            session.add(row)
            return row

        return self._run(work)

    def resolve_alert(self, episode_key: str, *, now_s: float | None = None) -> AlertRow | None:
        """Close the open episode (``None`` when none is open)."""
        now = self._clock() if now_s is None else now_s

        def work(session: Session) -> AlertRow | None:
            row = self._open_alert(session, episode_key)
            if row is not None:
                row.resolved_at_s = now
                session.add(row)
            return row

        return self._run(work)

    def get_open_alert(self, episode_key: str) -> AlertRow | None:
        """The open episode with this key, if any."""
        return self._run(lambda s: self._open_alert(s, episode_key))

    def alert_seen(self, episode_key: str) -> bool:
        """Whether any episode (open or resolved) with this key was ever stored (one-shot de-duplication)."""
        return (
            self._run(
                lambda s: s.exec(
                    select(AlertRow.id).where(AlertRow.episode_key == episode_key).limit(1)
                ).first()
            )
            is not None
        )

    def open_alerts(self) -> list[AlertRow]:
        """All open episodes (the alert engine loads these on start so it does not re-send them)."""
        return self._run(
            lambda s: list(
                s.exec(
                    select(AlertRow).where(col(AlertRow.resolved_at_s).is_(None)).order_by(col(AlertRow.id))
                ).all()
            )
        )

    def alerts_for(self, position: str, *, limit: int = 100) -> list[AlertRow]:
        """Alert episodes of ``position`` (open and resolved), newest first."""
        return self._run(
            lambda s: list(
                s.exec(
                    select(AlertRow)
                    .where(AlertRow.position == position)
                    .order_by(col(AlertRow.first_seen_s).desc(), col(AlertRow.id).desc())
                    .limit(limit)
                ).all()
            )
        )

    def alerts(
        self, *, since_s: float | None = None, position: str | None = None, limit: int = 500
    ) -> list[AlertRow]:
        """Alert episodes (open and resolved) first seen at or after ``since_s`` or still open then, of
        ``position`` when given, newest first."""
        _check_int("limit", limit, minimum=1)

        def work(session: Session) -> list[AlertRow]:
            query = select(AlertRow)
            if since_s is not None:
                query = query.where(
                    (col(AlertRow.first_seen_s) >= since_s)
                    | col(AlertRow.resolved_at_s).is_(None)
                    | (col(AlertRow.resolved_at_s) >= since_s)
                )
            if position is not None:
                query = query.where(AlertRow.position == position)
            query = query.order_by(col(AlertRow.first_seen_s).desc(), col(AlertRow.id).desc()).limit(limit)
            return list(session.exec(query).all())

        return self._run(work)

    def alerts_between(self, position: str, start_s: float, end_s: float) -> list[AlertRow]:
        """Episodes of ``position`` open at some time in ``[start_s, end_s]`` (the alerts of an action's episode),
        oldest first."""

        def work(session: Session) -> list[AlertRow]:
            query = (
                select(AlertRow)
                .where(AlertRow.position == position, col(AlertRow.first_seen_s) <= end_s)
                .where(col(AlertRow.resolved_at_s).is_(None) | (col(AlertRow.resolved_at_s) >= start_s))
                .order_by(col(AlertRow.first_seen_s), col(AlertRow.id))
            )
            return list(session.exec(query).all())

        return self._run(work)

    @staticmethod
    def _open_alert(session: Session, episode_key: str) -> AlertRow | None:
        return session.exec(
            select(AlertRow).where(AlertRow.episode_key == episode_key, col(AlertRow.resolved_at_s).is_(None))
        ).first()

    # --- runtime state -------------------------------------------------------------------------
    def get_state(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key`` (``default`` when absent)."""
        row = self._run(lambda s: s.get(RuntimeStateRow, key))
        return default if row is None else row.value_json

    def set_state(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable ``value`` under ``key`` (replaces any previous value)."""
        _check_text("key", key)
        canonical_json(value)  # fail here, with a clear type error, rather than inside the driver

        self._run(lambda s: self._put_state(s, s.get(RuntimeStateRow, key, with_for_update=True), key, value))

    def last_processed_block(self) -> int | None:
        """The last block the runtime finished a tick for (``None`` before the first tick)."""
        value = self.get_state(LAST_PROCESSED_BLOCK_KEY)
        return None if value is None else int(value)

    def set_last_processed_block(self, block_number: int) -> None:
        """Record that the tick at ``block_number`` is done."""
        self.set_state(LAST_PROCESSED_BLOCK_KEY, _check_int("block_number", block_number))

    # --- pause / resume (``posman pause NAME``; the runtime checks it per position per tick) -------
    def pause_position(self, position: str, *, reason: str = "") -> dict[str, Any]:
        """Mark ``position`` paused: a running manager still watches and alerts it but takes no action."""
        _check_text("position", position)
        value = {"since_s": self._clock(), "reason": reason}
        self.set_state(f"{PAUSED_PREFIX}:{position}", value)
        log.info("event=position_paused position=%s reason=%r", position, reason)
        return value

    def resume_position(self, position: str) -> bool:
        """Clear the pause of ``position``; returns whether it was paused."""
        key = f"{PAUSED_PREFIX}:{position}"

        def work(session: Session) -> bool:
            row = session.get(RuntimeStateRow, key, with_for_update=True)
            if row is None:
                return False
            session.delete(row)
            return True

        was = self._run(work)
        log.info("event=position_resumed position=%s was_paused=%s", position, was)
        return was

    def is_paused(self, position: str) -> bool:
        """Whether ``posman pause`` holds ``position`` (read by the runtime every tick)."""
        return self.get_state(f"{PAUSED_PREFIX}:{position}") is not None

    def paused_positions(self) -> dict[str, dict[str, Any]]:
        """Every paused position -> ``{"since_s", "reason"}``."""
        prefix = f"{PAUSED_PREFIX}:"
        rows = self._run(
            lambda s: list(s.exec(select(RuntimeStateRow).where(col(RuntimeStateRow.key).startswith(prefix))).all())
        )
        return {r.key[len(prefix):]: dict(r.value_json or {}) for r in rows}

    def daily_usage(self, day: dt.date | str, *, counter: str = "notional_usd") -> float:
        """How much of a daily cap ``counter`` was used on ``day`` (UTC date; 0.0 when nothing)."""
        return float(self.get_state(_day_key(day, counter), 0.0))

    def add_daily_usage(self, day: dt.date | str, amount: float, *, counter: str = "notional_usd") -> float:
        """Add ``amount`` (>= 0) to ``counter`` for ``day`` in one transaction; returns the new total."""
        key = _day_key(day, counter)
        amount = _check_finite("amount", amount)

        def work(session: Session) -> float:
            row = session.get(RuntimeStateRow, key, with_for_update=True)
            total = (0.0 if row is None else float(row.value_json)) + amount
            self._put_state(session, row, key, total)
            return total

        total = self._run(work)
        log.info("event=daily_usage key=%s added=%s total=%s", key, amount, total)
        return total

    # --- internals -----------------------------------------------------------------------------
    def _put_state(self, session: Session, row: RuntimeStateRow | None, key: str, value: Any) -> None:
        """Write ``value`` under ``key``; ``row`` is the stored row the caller read and locked (None: new)."""
        now_s = self._clock()
        if row is None:
            row = RuntimeStateRow(key=key, value_json=value, updated_at_s=now_s)
        row.value_json = value
        row.updated_at_s = now_s
        session.add(row)

    def _insert_or_get(self, row: T, lookup: Callable[[Session], T | None]) -> T:
        """Insert ``row``; on a unique conflict return the stored row found by ``lookup``."""
        try:
            self._run(lambda s: s.add(row))
            return row
        except IntegrityError:
            existing = self._run(lookup)
            if existing is None:
                raise
            return existing


__all__ = [
    "DAILY_USAGE_PREFIX",
    "LAST_PROCESSED_BLOCK_KEY",
    "PAUSED_PREFIX",
    "PLAN_TRANSITIONS",
    "TX_TRANSITIONS",
    "InvalidTransitionError",
    "NotFoundError",
    "PlanConflictError",
    "RecordError",
    "Repository",
    "canonical_json",
    "decision_digest",
    "derive_plan_id",
]
