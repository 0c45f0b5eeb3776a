"""The executor's view of persistence: a thin adapter over ``manager.persistence.Repository``.

Only signed transactions, plan steps (calldata, never keys) and statuses are written. Everything the
executor and the reconciler need goes through this class, so a gap in the repository API is filled
here (and reported) rather than by touching another module's tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from manager.execution.types import Plan, Preconditions, PreparedTx
from manager.persistence import PlanRow, PlanStatus, Repository, TransactionRow, TxStatus

DAILY_COUNTER = "executed_notional_usd"
_PRECONDITIONS_PREFIX = "plan_preconditions:"


class ExecutionStore:
    """Plans, transactions and daily cap usage for the executor."""

    def __init__(self, repo: Repository, *, clock: Callable[[], float] | None = None) -> None:
        self.repo = repo
        self._clock = clock or repo._clock  # type: ignore[attr-defined]
        # (sender, nonce) -> the head block when the account's nonce was first seen used while none of
        # our receipts was visible (``submit.settle``); in memory: after a restart the count starts again.
        self._nonce_used_seen: dict[tuple[str, int], int] = {}

    # --- plans ---------------------------------------------------------------------------------
    def create_plan(self, plan: Plan) -> tuple[PlanRow, bool]:
        row, created = self.repo.create_plan(
            plan.plan_id,
            position=plan.position,
            block_number=plan.block_number,
            steps=[s.model_dump(mode="json") for s in plan.steps],
            action=plan.kind,
        )
        if created:
            # NOTE: the plans table has no preconditions column; the reconciler needs them to decide
            # whether a stored signed transaction may still be re-broadcast after a restart.
            self.repo.set_state(_PRECONDITIONS_PREFIX + plan.plan_id, plan.preconditions.model_dump(mode="json"))
        return row, created

    def preconditions_for(self, plan_id: str) -> Preconditions | None:
        """The stored preconditions of ``plan_id`` (``None`` for a plan stored without them)."""
        value = self.repo.get_state(_PRECONDITIONS_PREFIX + plan_id)
        if not isinstance(value, dict):
            return None
        band = value.get("target_band")
        return Preconditions(**{**value, "target_band": tuple(band) if band is not None else None})

    def get_plan(self, plan_id: str) -> PlanRow | None:
        return self.repo.get_plan(plan_id)

    def set_plan_status(self, plan_id: str, status: PlanStatus, *, reason: str | None = None) -> PlanRow:
        if status is PlanStatus.REFUSED:
            return self.repo.update_plan_status(plan_id, status, refusal_reason=reason or "refused")
        return self.repo.update_plan_status(plan_id, status, error=reason)

    def open_plans(self) -> list[PlanRow]:
        return self.repo.open_plans()

    # --- transactions --------------------------------------------------------------------------
    def record_signed(self, tx: PreparedTx) -> TransactionRow:
        """Store the signed transaction as pending; must be called *before* it is broadcast."""
        return self.repo.record_tx(
            plan_id=tx.plan_id,
            step_index=tx.step_index,
            nonce=tx.nonce,
            tx_hash=tx.tx_hash,
            raw_tx_hex=tx.raw_tx_hex,
            max_fee_per_gas_wei=tx.max_fee_per_gas_wei,
            max_priority_fee_per_gas_wei=tx.max_priority_fee_per_gas_wei,
            sender=tx.sender,
        )

    def mark_tx(self, tx_hash: str, status: TxStatus, **facts: Any) -> TransactionRow:
        return self.repo.update_tx(tx_hash, status=status, **facts)

    def transactions_for(self, plan_id: str) -> list[TransactionRow]:
        return self.repo.transactions_for(plan_id)

    def pending_transactions(self, sender: str | None = None) -> list[TransactionRow]:
        return self.repo.pending_transactions(sender=sender)

    def released_transactions(self, sender: str | None = None) -> list[TransactionRow]:
        """Transactions not re-broadcast whose nonce was released (``TxStatus.RELEASED``): still re-checked."""
        return self.repo.pending_transactions(sender=sender, status=TxStatus.RELEASED)

    def pending_nonces(self, sender: str) -> list[int]:
        return [t.nonce for t in self.repo.pending_transactions(sender=sender)]

    def nonce_used_first_seen(self, sender: str, nonce: int, head: int) -> int:
        """The block at which ``sender``'s ``nonce`` was first seen used with no receipt of ours (now: ``head``)."""
        return self._nonce_used_seen.setdefault((sender.lower(), nonce), head)

    def forget_nonce_used(self, sender: str, nonce: int) -> None:
        self._nonce_used_seen.pop((sender.lower(), nonce), None)

    # --- daily usage (UTC day of the injected clock) -------------------------------------------
    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self._clock(), tz=dt.UTC).date()

    def used_today_usd(self) -> float:
        return self.repo.daily_usage(self._today(), counter=DAILY_COUNTER)

    def add_used_today_usd(self, amount_usd: float) -> float:
        return self.repo.add_daily_usage(self._today(), amount_usd, counter=DAILY_COUNTER)
