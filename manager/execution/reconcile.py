"""Reconcile stored plans and transactions with the chain after a restart (or at any quiet moment).

For every stored ``pending`` transaction group (one plan step: all its replacements share one nonce):

- a receipt for one of its hashes -> that one ``included``/``reverted``, the others ``replaced``;
- the account's mined nonce is past it but no receipt of ours is visible -> keep tracking by hash; after
  ``CONFIRM_BLOCKS`` blocks with none of ours found -> ``dropped`` (used by another tx; ``submit.settle``);
- still unmined and the node knows one of the hashes -> keep tracking;
- still unmined and the node knows none -> check the plan again before anything is sent: its
  preconditions (``valid_until_block``; for the first step also ``max_block_age_blocks`` past the
  decision's block, against the head now) and a fresh simulation of the decoded stored transaction
  (``eth_call`` + gas estimate of its to/data/value from its sender at the latest block, which must fit
  its gas limit). If all hold, re-broadcast the *stored signed bytes* (same hash, same nonce: at most one
  of them can ever be mined) and keep tracking; otherwise the step's transactions are ``released`` (never
  ``dropped``: a broadcast still in flight may yet be mined) and the plan ``failed`` with the reason (``expired: ...`` / ``re-simulation: ...``), one log line
  ``event=rebroadcast_refused``. Their nonce is then free for the next plan, whose transaction takes it
  and so guarantees the stored bytes can never be mined later.

A transaction is ``dropped`` only when its nonce is used by another transaction (``submit.settle``):
``released`` ones are re-checked on every reconcile (included if mined after all, dropped once the nonce is
taken by another transaction).

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
from typing import Any, cast

from manager.errors import SimulationFailed
from manager.execution.simulate import simulate_step
from manager.execution.store import ExecutionStore
from manager.execution.submit import BroadcastRejected, settle
from manager.execution.types import Preconditions, TxStep
from manager.persistence import PlanStatus, TransactionRow, TxStatus

log = logging.getLogger("posman.execution.reconcile")


@dataclass
class ReconcileReport:
    """What reconciliation found (tx hashes / plan ids)."""

    included: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # not re-broadcast; nonce free; re-checked
    still_pending: list[str] = field(default_factory=list)
    rebroadcast: list[str] = field(default_factory=list)
    not_rebroadcast: dict[str, str] = field(default_factory=dict)  # plan_id -> why its stored tx was not sent
    plans: dict[str, str] = field(default_factory=dict)  # plan_id -> status after reconciliation

    def summary(self) -> str:
        return (
            f"included={len(self.included)} reverted={len(self.reverted)} dropped={len(self.dropped)} "
            f"released={len(self.released)} "
            f"pending={len(self.still_pending)} rebroadcast={len(self.rebroadcast)} "
            f"not_rebroadcast={len(self.not_rebroadcast)} plans={len(self.plans)}"
        )


def _node_knows(w3: Any, tx_hash: str) -> bool:
    from web3.exceptions import TransactionNotFound

    try:
        return w3.eth.get_transaction(tx_hash) is not None
    except TransactionNotFound:
        return False


def decode_signed_tx(raw_tx_hex: str) -> dict[str, Any]:
    """The call of a stored signed transaction: ``from`` (recovered), ``to``, ``data``, ``value``, ``gas``, ``nonce``.

    Legacy, EIP-2930 (type 1) and EIP-1559 (type 2) envelopes.
    """
    import rlp
    from eth_account import Account
    from eth_utils import to_checksum_address

    raw = bytes.fromhex(raw_tx_hex.removeprefix("0x"))
    if raw and raw[0] == 2:
        fields = rlp.decode(raw[1:])
        nonce, gas, to, value, data = fields[1], fields[4], fields[5], fields[6], fields[7]
    elif raw and raw[0] == 1:
        fields = rlp.decode(raw[1:])
        nonce, gas, to, value, data = fields[1], fields[3], fields[4], fields[5], fields[6]
    else:
        fields = rlp.decode(raw)
        nonce, gas, to, value, data = fields[0], fields[2], fields[3], fields[4], fields[5]
    as_int = lambda b: int.from_bytes(b, "big")  # noqa: E731
    return {
        "from": Account.recover_transaction(raw),
        "to": to_checksum_address(to) if to else None,
        "data": "0x" + bytes(data).hex(),
        "value": as_int(value),
        "gas": as_int(gas),
        "nonce": as_int(nonce),
    }


def rebroadcast_refusal(w3: Any, store: ExecutionStore, rows: list[TransactionRow], head: int) -> str | None:
    """Why the stored transactions ``rows`` (one step) must not be re-broadcast now, or ``None`` if they may.

    Checks the plan's preconditions against ``head`` and simulates the decoded stored transaction at the
    latest block (see the module docstring). A plan stored without preconditions gets the defaults.
    """
    row = rows[0]
    plan = store.get_plan(row.plan_id)
    pre = store.preconditions_for(row.plan_id) or Preconditions()
    if pre.valid_until_block is not None and head > pre.valid_until_block:
        return f"expired: head {head} is past valid_until_block {pre.valid_until_block}"
    if plan is not None and row.step_index == 0 and head - plan.block_number > pre.max_block_age_blocks:
        return (f"expired: decided at block {plan.block_number}, head is {head} "
                f"(max age {pre.max_block_age_blocks} blocks)")
    best = max(rows, key=lambda r: (r.max_fee_per_gas_wei or 0, r.id or 0))
    tx = decode_signed_tx(best.raw_tx_hex)
    if tx["to"] is None:
        return "re-simulation: a contract creation is never re-broadcast"
    step = TxStep(to=tx["to"], data=tx["data"], value_wei=tx["value"], label=f"stored tx {best.tx_hash}")
    try:
        sim = simulate_step(w3, step, tx["from"], where=f"{row.step_index}@rebroadcast")
    except SimulationFailed as exc:
        return f"re-simulation: {exc}"
    if sim.gas_estimate > tx["gas"]:
        return f"re-simulation: needs {sim.gas_estimate} gas, the stored tx has a limit of {tx['gas']}"
    return None


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
    blocked: dict[str, int] = {}  # sender -> lowest nonce whose stored tx was not re-broadcast
    for (plan_id, step_index, nonce), rows in groups.items():
        # all transactions of the step (replaced/dropped siblings too: one of them may be the mined one)
        siblings = [t for t in store.transactions_for(plan_id) if t.step_index == step_index and t.nonce == nonce]
        hashes = [t.tx_hash for t in sorted(siblings, key=lambda t: t.id or 0)]
        account = rows[0].sender or sender
        status, _receipt, mined = settle(w3, store, cast(str, account), hashes, nonce)
        if status == "included":
            report.included.append(mined)  # type: ignore[arg-type]
        elif status == "reverted":
            report.reverted.append(mined)  # type: ignore[arg-type]
        elif status == "dropped":
            report.dropped.extend(hashes)
        elif status == "unconfirmed":  # our nonce is used: one of ours may be mined; never re-broadcast
            report.still_pending.extend(r.tx_hash for r in rows)
        else:
            known = [r.tx_hash for r in rows if _node_knows(w3, r.tx_hash)]
            if not known and rebroadcast:
                key = (account or "").lower()
                head = int(w3.eth.block_number)
                if key in blocked and blocked[key] < nonce:
                    refusal: str | None = f"nonce {blocked[key]} of this account was not re-broadcast (a gap)"
                else:
                    refusal = rebroadcast_refusal(w3, store, rows, head)
                if refusal is None:
                    sent = _rebroadcast(w3, rows)
                    if sent is not None:
                        report.rebroadcast.append(sent)
                    report.still_pending.extend(r.tx_hash for r in rows)
                else:
                    blocked[key] = min(nonce, blocked.get(key, nonce))
                    # NOTE: not "dropped": a broadcast still in flight may yet be mined. Released: the nonce is
                    # free for the next plan, and the row is re-checked until that nonce is used.
                    for r in rows:
                        store.mark_tx(r.tx_hash, TxStatus.RELEASED)
                    report.released.extend(r.tx_hash for r in rows)
                    report.not_rebroadcast[plan_id] = f"step {step_index} not re-broadcast: {refusal}"
                    status = "not_rebroadcast"
                    log.warning("event=rebroadcast_refused plan_id=%s step=%d nonce=%d head=%d hashes=%s reason=%r",
                                plan_id, step_index, nonce, head, ",".join(r.tx_hash for r in rows), refusal)
            else:
                report.still_pending.extend(r.tx_hash for r in rows)
        log.info("event=reconcile_tx plan_id=%s step=%d nonce=%d status=%s", plan_id, step_index, nonce, status)
    _settle_released(w3, store, sender, report)
    return report


def _settle_released(w3: Any, store: ExecutionStore, sender: str | None, report: ReconcileReport) -> None:
    """Re-check released transactions: mined after all -> included/reverted; nonce taken by another -> dropped."""
    groups: dict[tuple[str, int, int], list[TransactionRow]] = defaultdict(list)
    for row in store.released_transactions(sender):
        groups[(row.plan_id, row.step_index, row.nonce)].append(row)
    for (plan_id, step_index, nonce), rows in groups.items():
        hashes = [r.tx_hash for r in sorted(rows, key=lambda t: t.id or 0)]
        status, _receipt, mined = settle(w3, store, cast(str, rows[0].sender or sender), hashes, nonce)
        if status in ("included", "reverted"):
            (report.included if status == "included" else report.reverted).append(mined)  # type: ignore[arg-type]
            log.warning("event=released_tx_mined plan_id=%s step=%d nonce=%d tx_hash=%s status=%s",
                        plan_id, step_index, nonce, mined, status)
        elif status == "dropped":
            report.dropped.extend(hashes)


def reconcile_plans(store: ExecutionStore, report: ReconcileReport | None = None, *,
                    plan_ids: set[str] | None = None) -> ReconcileReport:
    """Settle every open plan (or only those in ``plan_ids``) from its stored transactions (see the module
    docstring)."""
    report = report or ReconcileReport()
    for plan in store.open_plans():
        if plan_ids is not None and plan.plan_id not in plan_ids:
            continue
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
            if plan.plan_id in report.not_rebroadcast:
                reason = f"{report.not_rebroadcast[plan.plan_id]}; {done} of {n_steps} steps included"
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
