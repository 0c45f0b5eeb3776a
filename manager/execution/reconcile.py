"""Reconcile stored plans and transactions with the chain after a restart (or at any quiet moment).

For every stored ``pending`` transaction group (one plan step: all its replacements share one nonce):

- a receipt for one of its hashes -> that one ``included``/``reverted``, the others ``replaced``;
- the account's mined nonce is past it but none of ours was mined -> ``dropped`` (used by another tx);
- still unmined and the node knows one of the hashes -> keep tracking;
- still unmined and the node knows none -> re-broadcast the *stored signed bytes* (same hash, same
  nonce: at most one of them can ever be mined), keep tracking.

Nothing is ever re-signed here, and no new nonce is ever used for a step that has a stored transaction.
Then every open plan is settled from its transactions: all steps included -> ``confirmed``; a revert
-> ``reverted``; a step still pending -> stays ``submitted``; otherwise ``failed`` (interrupted: the
remaining steps were never sent; the next tick re-plans from fresh state).

Run it before the executor starts (``Executor.recover`` holds the plan lock while it runs).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from manager.execution.store import ExecutionStore
from manager.execution.submit import BroadcastRejected, settle
from manager.persistence import PlanStatus, TransactionRow, TxStatus

log = logging.getLogger("posman.execution.reconcile")


@dataclass
class ReconcileReport:
    """What reconciliation found (tx hashes / plan ids)."""

    included: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    still_pending: list[str] = field(default_factory=list)
    rebroadcast: list[str] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)  # plan_id -> status after reconciliation

    def summary(self) -> str:
        return (
            f"included={len(self.included)} reverted={len(self.reverted)} dropped={len(self.dropped)} "
            f"pending={len(self.still_pending)} rebroadcast={len(self.rebroadcast)} plans={len(self.plans)}"
        )


def _node_knows(w3: Any, tx_hash: str) -> bool:
    from web3.exceptions import TransactionNotFound

    try:
        return w3.eth.get_transaction(tx_hash) is not None
    except TransactionNotFound:
        return False


def _rebroadcast(w3: Any, rows: list[TransactionRow]) -> str | None:
    """Send the stored signed bytes again, highest fee first; returns the hash the node took, if any."""
    from requests.exceptions import RequestException
    from web3.exceptions import Web3RPCError

    for row in sorted(rows, key=lambda r: (r.max_fee_per_gas_wei or 0, r.id or 0), reverse=True):
        try:
            w3.eth.send_raw_transaction(row.raw_tx_hex)
            return row.tx_hash
        except Web3RPCError as exc:
            message = str(exc.args[0] if exc.args else exc).lower()
            if "already known" in message or "known transaction" in message:
                return row.tx_hash
            log.info("event=rebroadcast_refused tx_hash=%s reason=%r", row.tx_hash, " ".join(message.split())[:200])
        except (RequestException, OSError, TimeoutError):
            return None
    return None


def reconcile_transactions(w3: Any, store: ExecutionStore, *, sender: str | None = None,
                           rebroadcast: bool = True, report: ReconcileReport | None = None) -> ReconcileReport:
    """Settle every stored pending transaction group against the chain (see the module docstring)."""
    report = report or ReconcileReport()
    groups: dict[tuple[str, int, int], list[TransactionRow]] = defaultdict(list)
    for row in store.pending_transactions(sender):
        groups[(row.plan_id, row.step_index, row.nonce)].append(row)
    for (plan_id, step_index, nonce), rows in groups.items():
        # all transactions of the step (replaced/dropped siblings too: one of them may be the mined one)
        siblings = [t for t in store.transactions_for(plan_id) if t.step_index == step_index and t.nonce == nonce]
        hashes = [t.tx_hash for t in sorted(siblings, key=lambda t: t.id or 0)]
        account = rows[0].sender or sender
        status, _receipt, mined = settle(w3, store, account, hashes, nonce)
        if status == "included":
            report.included.append(mined)  # type: ignore[arg-type]
        elif status == "reverted":
            report.reverted.append(mined)  # type: ignore[arg-type]
        elif status == "dropped":
            report.dropped.extend(hashes)
        else:
            known = [r.tx_hash for r in rows if _node_knows(w3, r.tx_hash)]
            if not known and rebroadcast:
                sent = _rebroadcast(w3, rows)
                if sent is not None:
                    report.rebroadcast.append(sent)
            report.still_pending.extend(r.tx_hash for r in rows)
        log.info("event=reconcile_tx plan_id=%s step=%d nonce=%d status=%s", plan_id, step_index, nonce, status)
    return report


def reconcile_plans(store: ExecutionStore, report: ReconcileReport | None = None) -> ReconcileReport:
    """Settle every open plan from its stored transactions (see the module docstring)."""
    report = report or ReconcileReport()
    for plan in store.open_plans():
        txs = store.transactions_for(plan.plan_id)
        n_steps = len(plan.steps_json)
        by_step: dict[int, set[str]] = defaultdict(set)
        for t in txs:
            by_step[t.step_index].add(t.status)
        status = PlanStatus(plan.status)
        if any(TxStatus.PENDING.value in s for s in by_step.values()):
            if status is not PlanStatus.SUBMITTED:
                # NOTE: a signed tx may be out although the plan status did not reach "submitted"
                if status is PlanStatus.CREATED:
                    store.set_plan_status(plan.plan_id, PlanStatus.SIMULATED)
                store.set_plan_status(plan.plan_id, PlanStatus.SUBMITTED)
            new, reason = PlanStatus.SUBMITTED, None
        elif any(TxStatus.REVERTED.value in s for s in by_step.values()):
            new, reason = PlanStatus.REVERTED, "a step reverted on chain"
        elif n_steps and all(TxStatus.INCLUDED.value in by_step.get(i, set()) for i in range(n_steps)):
            new, reason = PlanStatus.CONFIRMED, None
        else:
            done = sum(1 for i in range(n_steps) if TxStatus.INCLUDED.value in by_step.get(i, set()))
            new = PlanStatus.FAILED
            reason = (
                f"interrupted: {done} of {n_steps} steps included, the rest never sent; the next tick re-plans"
            )
            if status is PlanStatus.CREATED and not txs:
                reason = "interrupted before anything was sent; the next tick re-plans"
        if new is not status:
            if status is PlanStatus.CREATED and new in (PlanStatus.CONFIRMED, PlanStatus.REVERTED):
                store.set_plan_status(plan.plan_id, PlanStatus.SIMULATED)
                status = PlanStatus.SIMULATED
            if status is PlanStatus.SIMULATED and new in (PlanStatus.CONFIRMED, PlanStatus.REVERTED):
                store.set_plan_status(plan.plan_id, PlanStatus.SUBMITTED)
            store.set_plan_status(plan.plan_id, new, reason=reason)
        report.plans[plan.plan_id] = new.value
        log.info("event=reconcile_plan plan_id=%s status=%s reason=%r", plan.plan_id, new.value, reason or "")
    return report


def reconcile(w3: Any, store: ExecutionStore, *, sender: str | None = None, rebroadcast: bool = True) -> ReconcileReport:
    """Transactions first, then plans. Returns what was found; logs one summary line."""
    report = reconcile_transactions(w3, store, sender=sender, rebroadcast=rebroadcast)
    reconcile_plans(store, report)
    log.info("event=reconcile_done %s", report.summary())
    return report


def track_pending(w3: Any, store: ExecutionStore, *, sender: str | None = None, timeout_s: float = 60.0,
                  poll_interval_s: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> ReconcileReport:
    """Reconcile repeatedly until nothing is pending or ``timeout_s`` passes (no re-signing, no RBF)."""
    deadline = time.monotonic() + timeout_s
    while True:
        report = reconcile(w3, store, sender=sender, rebroadcast=True)
        if not report.still_pending or time.monotonic() > deadline:
            return report
        sleep(poll_interval_s)


__all__ = ["BroadcastRejected", "ReconcileReport", "reconcile", "reconcile_plans", "reconcile_transactions",
           "track_pending"]
