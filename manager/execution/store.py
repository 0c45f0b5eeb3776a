"""The executor's view of persistence: a thin adapter over ``manager.persistence.Repository``.

Only signed transactions, plan steps (calldata, never keys) and statuses are written. Everything the
executor and the reconciler need goes through this class, so a gap in the repository API is filled
here (and reported) rather than by touching another module's tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from manager.execution.types import Plan, PreparedTx
from manager.persistence import PlanRow, PlanStatus, Repository, TransactionRow, TxStatus

DAILY_COUNTER = "executed_notional_usd"


class ExecutionStore:
    """Plans, transactions and daily cap usage for the executor."""

    def __init__(self, repo: Repository, *, clock: Callable[[], float] | None = None) -> None:
        self.repo = repo
        self._clock = clock or repo._clock  # type: ignore[attr-defined]

    # --- plans ---------------------------------------------------------------------------------
    def create_plan(self, plan: Plan) -> tuple[PlanRow, bool]:
        return self.repo.create_plan(
            plan.plan_id,
            position=plan.position,
            block_number=plan.block_number,
            steps=[s.model_dump(mode="json") for s in plan.steps],
            action=plan.kind,
        )

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

    def pending_nonces(self, sender: str) -> list[int]:
        return [t.nonce for t in self.repo.pending_transactions(sender=sender)]

    # --- daily usage (UTC day of the injected clock) -------------------------------------------
    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self._clock(), tz=dt.UTC).date()

    def used_today_usd(self) -> float:
        return self.repo.daily_usage(self._today(), counter=DAILY_COUNTER)

    def add_used_today_usd(self, amount_usd: float) -> float:
        return self.repo.add_daily_usage(self._today(), amount_usd, counter=DAILY_COUNTER)
