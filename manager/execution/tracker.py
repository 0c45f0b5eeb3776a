"""Tracking beside the tick: settle the transactions an executor sent without waiting for them.

``Executor.execute(plan, wait=False)`` signs, stores and broadcasts every step and returns at once;
``Tracker.track()`` (through ``Executor.track()``, called by the runtime before each tick and from a
scheduler job between ticks) does one pass over the signer's stored pending transactions:

1. **settle** every step group (``reconcile.reconcile_transactions``): a receipt -> included/reverted;
   a lost transaction (the node knows none of its hashes) is re-broadcast from its stored bytes after the
   plan's preconditions and a fresh simulation hold, else released (its nonce is filled in 3.);
2. **replace** a group still pending ``timeout_blocks`` after it was sent: replace-by-fee (same nonce,
   both fee fields +12.5 %, ``fees.bump_fees``); if its plan has expired meanwhile
   (``valid_until_block`` / ``max_block_age_blocks`` past the decision's block) it is **cancelled**
   instead (a zero-value self-transfer with the same nonce and bumped fees): never mined stale;
3. **fill nonce gaps**: when the account's mined nonce ``L`` is below our lowest pending nonce and the
   node holds no transaction at ``L`` (its pending count equals ``L``), our later transactions can never
   be mined; each missing nonce - and the nonce of every released transaction of ours not yet mined - gets
   a zero-value self-transfer (simulated, stored, then broadcast);
4. **settle plans** of this signer (``reconcile.reconcile_plans``): all steps included -> confirmed, a
   revert -> reverted, a step dropped/never sent -> failed (the next tick re-plans from fresh reads).

Cancels and gap fills are stored as plans of their own (``cancel-...`` / ``nonce-gap-...``) with their
signed transaction written *before* the broadcast, like every other transaction. A cancel never shares a
plan id with the step it replaces, so its inclusion can never confirm that step.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from manager.errors import NeverSubmitError, SkipTickError
from manager.execution.fees import Urgency, bump_fees, quote_fees
from manager.execution.reconcile import (
    ReconcileReport,
    decode_signed_tx,
    reconcile_plans,
    reconcile_transactions,
)
from manager.execution.simulate import simulate_step
from manager.execution.submit import BroadcastRejected, latest_base_fee_wei
from manager.execution.types import FeeQuote, Plan, Preconditions, PreparedTx, TxStep
from manager.persistence import PlanStatus, TransactionRow, TxStatus

if TYPE_CHECKING:
    from manager.execution.executor import Executor

log = logging.getLogger("posman.execution.tracker")

SELF_TRANSFER_GAS = 21_000
_FINAL = {PlanStatus.CONFIRMED.value, PlanStatus.FAILED.value, PlanStatus.REVERTED.value}


@dataclass
class _Sent:
    """One step group we broadcast and track (all its transactions share ``nonce``)."""

    step: TxStep
    quote: FeeQuote
    urgency: Urgency
    sent_block: int


@dataclass
class TrackReport:
    """What one tracking pass did. ``finished``: plan id -> (final status, reason) of plans settled now."""

    finished: dict[str, tuple[str, str]] = field(default_factory=dict)
    still_pending: int = 0
    replaced: list[str] = field(default_factory=list)  # new tx hashes of replace-by-fee
    cancelled: list[str] = field(default_factory=list)  # plan ids whose pending tx was cancelled (expired)
    gap_filled: list[int] = field(default_factory=list)  # nonces filled with a self-transfer
    reconcile: ReconcileReport | None = None

    def summary(self) -> str:
        return (f"finished={len(self.finished)} pending={self.still_pending} replaced={len(self.replaced)} "
                f"cancelled={len(self.cancelled)} gap_filled={self.gap_filled or '-'}")


def plan_expired(plan_block: int | None, pre: Preconditions, head: int, step_index: int = 0) -> str | None:
    """Why a plan decided at ``plan_block`` must not be mined any more at ``head`` (``None``: still valid).

    ``max_block_age_blocks`` bounds when a plan may *start* (its first step); the later steps of a plan that
    has started only need ``valid_until_block`` (sized by the planner to finish): cancelling them half-way
    would leave the position between two states (see ``manager.execution.planner``)."""
    if pre.valid_until_block is not None and head > pre.valid_until_block:
        return f"head {head} is past valid_until_block {pre.valid_until_block}"
    if step_index == 0 and plan_block is not None and head - plan_block > pre.max_block_age_blocks:
        return f"decided at block {plan_block}, head is {head} (max age {pre.max_block_age_blocks} blocks)"
    return None


class Tracker:
    """Settles one executor's sent transactions (see the module docstring). Called with the plan lock held."""

    def __init__(self, executor: Executor) -> None:
        self.ex = executor
        self._sent: dict[tuple[str, int, int], _Sent] = {}

    # --- called by the executor when it broadcast a step without waiting ------------------------
    def sent(self, prepared: PreparedTx, step: TxStep, quote: FeeQuote, urgency: Urgency, sent_block: int) -> None:
        self._sent[(prepared.plan_id, prepared.step_index, prepared.nonce)] = _Sent(step, quote, urgency, sent_block)

    # --- one pass --------------------------------------------------------------------------------
    def track(self) -> TrackReport:
        ex = self.ex
        w3, store, address = ex.w3, ex.store, ex.signer.address
        report = TrackReport()
        pending_rows = store.pending_transactions(address)
        plan_ids = {r.plan_id for r in pending_rows}
        # NOTE: released transactions (e.g. refused at start-up by ``recover``) keep a pass going: their nonces
        # are filled below, and until then their plan's repays count as maybe mined (``execution.leftovers``)
        if not pending_rows and not store.released_transactions(address):
            self._sent.clear()
            return report
        by_hash = {r.tx_hash: r for r in pending_rows}
        report.reconcile = reconcile_transactions(w3, store, sender=address, rebroadcast=True)
        # lost: ours, not re-broadcast (the node knows none of its hashes): dropped, or released (refused a
        # re-broadcast: expired / re-simulation failed / behind such a gap) - now or in an earlier pass while
        # its nonce is still unmined. Its nonce is filled below, so no copy of it can be mined later.
        lost = [by_hash[h] for h in (*report.reconcile.dropped, *report.reconcile.released) if h in by_hash]
        seen = {r.tx_hash for r in lost}
        lost += [r for r in store.released_transactions(address) if r.tx_hash not in seen]
        head = int(w3.eth.block_number)
        groups: dict[tuple[str, int, int], list[TransactionRow]] = defaultdict(list)
        for row in store.pending_transactions(address):
            groups[(row.plan_id, row.step_index, row.nonce)].append(row)
        for key, rows in sorted(groups.items(), key=lambda kv: kv[0][2]):
            sent = self._sent.setdefault(key, self._adopt(rows, head))
            if head < sent.sent_block + ex.submitter.timeout_blocks:
                continue
            plan_row = store.get_plan(key[0])
            why = plan_expired(plan_row.block_number if plan_row else None,
                               store.preconditions_for(key[0]) or Preconditions(), head, key[1])
            if why is not None and not key[0].startswith(("cancel-", "nonce-gap-")):
                if self._cancel(key, rows, sent, head, why):
                    report.cancelled.append(key[0])
            else:
                new_hash = self._bump(key, rows, sent, head)
                if new_hash:
                    report.replaced.append(new_hash)
        report.gap_filled = self._fill_gaps(head, lost)
        for key in [k for k in self._sent if k not in groups]:
            del self._sent[key]
        plans = reconcile_plans(store, ReconcileReport(), plan_ids=plan_ids)
        for plan_id, status in plans.plans.items():
            if status in _FINAL:
                plan_row = store.get_plan(plan_id)
                report.finished[plan_id] = (status, (plan_row.error or plan_row.refusal_reason or "")
                                            if plan_row else "")
        report.still_pending = len(store.pending_transactions(address))
        if report.finished or report.replaced or report.cancelled or report.gap_filled:
            log.info("event=tracked signer=%s head=%d %s", address, head, report.summary())
        return report

    # --- helpers ---------------------------------------------------------------------------------
    def _adopt(self, rows: list[TransactionRow], head: int) -> _Sent:
        """A pending group sent by an earlier process (or by ``wait=True``): track it from now on."""
        best = max(rows, key=lambda r: (r.max_fee_per_gas_wei or 0, r.id or 0))
        quote = FeeQuote(max_fee_per_gas_wei=best.max_fee_per_gas_wei or 0,
                         max_priority_fee_per_gas_wei=best.max_priority_fee_per_gas_wei or 0,
                         base_fee_wei=0, urgency="normal")
        tx = decode_signed_tx(best.raw_tx_hex)
        step = TxStep(to=tx["to"] or self.ex.signer.address, data=tx["data"], value_wei=tx["value"],
                      label=f"stored tx {best.tx_hash}")
        return _Sent(step, quote, "normal", head)

    def _replacement(self, plan_id: str, step_index: int, step: TxStep, nonce: int, gas_limit: int,
                     fees: FeeQuote) -> PreparedTx | None:
        ex = self.ex
        prepared = ex.submitter.prepare(plan_id=plan_id, step_index=step_index, step=step, nonce=nonce,
                                        gas_limit=gas_limit, fees=fees)
        ex.store.record_signed(prepared)  # stored before broadcast, like the original
        try:
            ex.submitter.broadcast(prepared.raw_tx_hex, prepared.tx_hash)
        except BroadcastRejected as exc:
            ex.store.mark_tx(prepared.tx_hash, TxStatus.DROPPED)
            log.warning("event=replacement_rejected plan_id=%s nonce=%d reason=%r", plan_id, nonce, str(exc))
            return None
        return prepared

    def _bump(self, key: tuple[str, int, int], rows: list[TransactionRow], sent: _Sent, head: int) -> str | None:
        ex = self.ex
        bumped = bump_fees(sent.quote, latest_base_fee_wei(ex.w3), sent.urgency, ex.fee_policy)
        if bumped is None:
            sent.sent_block = head
            return None
        gas_limit = max(int(decode_signed_tx(r.raw_tx_hex)["gas"]) for r in rows)
        prepared = self._replacement(key[0], key[1], sent.step, key[2], gas_limit, bumped)
        sent.sent_block = head
        if prepared is None:
            return None
        sent.quote = bumped
        log.info("event=rbf plan_id=%s step=%d nonce=%d new=%s max_fee_wei=%d prio_wei=%d", key[0], key[1], key[2],
                 prepared.tx_hash, bumped.max_fee_per_gas_wei, bumped.max_priority_fee_per_gas_wei)
        return prepared.tx_hash

    def _self_transfer_plan(self, plan_id: str, position: str, head: int, label: str) -> tuple[Plan, TxStep] | None:
        """A stored, simulated zero-value self-transfer plan (``None`` when the simulation fails)."""
        ex = self.ex
        step = TxStep(to=ex.signer.address, label=label, kind="transfer")
        try:
            simulate_step(ex.w3, step, ex.signer.address, where="0")
        except (NeverSubmitError, SkipTickError) as exc:
            log.error("event=self_transfer_refused plan_id=%s reason=%r", plan_id, str(exc))
            return None
        plan = Plan(plan_id=plan_id, position=position, kind="cancel", account=ex.signer.address, block_number=head,
                    steps=(step,), preconditions=Preconditions(max_block_age_blocks=1_000_000))
        _row, created = ex.store.create_plan(plan)
        if created:
            ex.store.set_plan_status(plan_id, PlanStatus.SIMULATED)
            ex.store.set_plan_status(plan_id, PlanStatus.SUBMITTED)
        return plan, step

    def _cancel(self, key: tuple[str, int, int], rows: list[TransactionRow], sent: _Sent, head: int,
                why: str) -> bool:
        """Replace an expired pending step with a self-transfer of the same nonce (fees bumped)."""
        ex = self.ex
        plan_id, step_index, nonce = key
        bumped = bump_fees(sent.quote, latest_base_fee_wei(ex.w3), "high", ex.fee_policy)
        if bumped is None:
            sent.sent_block = head
            return False
        digest = hashlib.sha256(plan_id.encode()).hexdigest()[:16]
        cancel_id = f"cancel-{nonce}-{digest}-{step_index}"
        if ex.store.get_plan(cancel_id) is not None:
            return False  # cancelled already: the cancel is tracked (and bumped) as its own group
        made = self._self_transfer_plan(cancel_id, self._position_of(plan_id), head,
                                        f"cancel expired step {step_index} of {plan_id}")
        if made is None:
            return False
        _plan, step = made
        prepared = self._replacement(_plan.plan_id, 0, step, nonce, SELF_TRANSFER_GAS, bumped)
        sent.sent_block = head
        if prepared is None:
            return False
        self._sent[(_plan.plan_id, 0, nonce)] = _Sent(step, bumped, "high", head)
        log.warning("event=tx_cancelled plan_id=%s step=%d nonce=%d cancel_tx=%s reason=%r", plan_id, step_index,
                    nonce, prepared.tx_hash, f"plan expired: {why}")
        return True

    def _position_of(self, plan_id: str) -> str:
        row = self.ex.store.get_plan(plan_id)
        return row.position if row is not None else "unknown"

    def _fill_gaps(self, head: int, lost: list[TransactionRow]) -> list[int]:
        """Self-transfers for every nonce from the mined one up to our lowest pending transaction, and over
        every transaction of ours dropped in this pass (lost, not re-broadcast): a copy of it that another
        node still holds can then never be mined, and our later nonces are not stuck behind the gap."""
        ex = self.ex
        address = ex.signer.address
        ours = {r.nonce for r in ex.store.pending_transactions(address)}
        mined = int(ex.w3.eth.get_transaction_count(address, "latest"))
        lost_by_nonce: dict[int, TransactionRow] = {}
        for row in lost:
            if row.nonce >= mined and (row.nonce not in lost_by_nonce or (row.max_fee_per_gas_wei or 0)
                                       > (lost_by_nonce[row.nonce].max_fee_per_gas_wei or 0)):
                lost_by_nonce[row.nonce] = row
        upper = max([min(ours)] if ours else [mined]) if ours else mined
        if lost_by_nonce:
            upper = max(upper, max(lost_by_nonce) + 1)
        targets = [n for n in range(mined, upper) if n not in ours]
        if not targets:
            return []
        filled: list[int] = []
        base_fee = latest_base_fee_wei(ex.w3)
        fresh = quote_fees(base_fee, "high", ex.fee_policy)
        for nonce in targets:
            quote = fresh
            lost_row = lost_by_nonce.get(nonce)
            if lost_row is not None:  # outbid any copy of the lost transaction still out there
                previous = FeeQuote(max_fee_per_gas_wei=lost_row.max_fee_per_gas_wei or 0,
                                    max_priority_fee_per_gas_wei=lost_row.max_priority_fee_per_gas_wei or 0,
                                    base_fee_wei=base_fee, urgency="high")
                bumped = bump_fees(previous, base_fee, "high", ex.fee_policy)
                if bumped is not None and bumped.max_fee_per_gas_wei > quote.max_fee_per_gas_wei:
                    quote = bumped
            made = self._self_transfer_plan(f"nonce-gap-{address.lower()[2:14]}-{nonce}-{head}", "(nonce gap)", head,
                                            f"fill nonce gap {nonce}")
            if made is None:
                break
            plan, step = made
            prepared = self._replacement(plan.plan_id, 0, step, nonce, SELF_TRANSFER_GAS, quote)
            if prepared is None:
                break
            self._sent[(plan.plan_id, 0, nonce)] = _Sent(step, quote, "high", head)
            filled.append(nonce)
            log.warning("event=nonce_gap_filled sender=%s nonce=%d tx_hash=%s mined_nonce=%d lost=%s", address,
                        nonce, prepared.tx_hash, mined, lost_row is not None)
        if filled or lost_by_nonce:
            ex.nonces.resync()
        return filled


__all__ = ["TrackReport", "Tracker", "plan_expired"]
