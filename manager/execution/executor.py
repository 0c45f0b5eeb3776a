"""The executor: plan -> policy -> simulate -> fork replay -> sign -> store -> broadcast -> track -> record.

``Executor.execute(plan)`` is the only path from a plan to the network:

1. idempotency: the plan is stored under its ``plan_id``; a plan id seen before is never executed again
   (a submitted one is reconciled with the chain instead, a final one returns its stored result);
2. preconditions: the head is at most ``max_block_age_blocks`` past the decision's block and not past
   ``valid_until_block``;
3. policy (``policy.check_plan``): allow-list, exact approvals, per-tx/per-day USD caps, slippage;
4. simulation: the first step at the latest block, then the whole plan on an anvil fork of the RPC at
   that block; the fork's post-state health must land in the plan's band (a one-step plan calling posman's
   executor contract: one ``eth_simulateV1`` at that block instead of the fork, ``simulate.atomic_post_state``);
5. fees: EIP-1559 quote by urgency (emergency below ``emergency_health``), the fee budget;
6. per step, in order: simulate at the latest block (the previous step is mined by then), lease the
   nonce, sign, **the one dry-run branch**, store plan status + signed tx, broadcast, wait (RBF), record.

``execute(plan, wait=False)`` (what the runtime uses) never waits for a receipt: after the same checks
(policy, first step at the latest block, the whole plan on a fork at that block) every step is signed
with consecutive nonces (gas limit from the fork replay, the simulation of that step on the state the
earlier steps leave), stored, then broadcast, and the result is ``submitted``. Several plans of one
signer thus take nonces N, N+1, ... in one block. ``track()`` (called beside the tick) settles what was
sent: receipts, replace-by-fee of a transaction left out for ``timeout_blocks``, the re-broadcast or
drop of a lost one (``reconcile``), and a **nonce gap** (a nonce below our pending transactions that the
node has no transaction for: its transaction was dropped) is filled with a zero-value self-transfer so
the later nonces can be mined; a pending transaction above the gap whose plan has expired is cancelled
the same way (same nonce, fees +12.5 %) instead of being mined stale. When the fork replay could not run
(its fallback), later steps have no simulation to be signed ahead with: the plan then runs step by step as
with ``wait=True`` (each step simulated at the latest block after the one before is mined).

Dry run does everything except store-and-broadcast: it returns the transaction it would send now
(``would_send``); later steps depend on the first being mined and are shown by the fork replay.
A refused plan raises nothing: the result says ``refused`` with the one-line reason, and it is stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from manager.errors import NeverSubmitError, PolicyViolation, RetryableError, SimulationFailed, SkipTickError
from manager.execution.fees import FeePolicy, Urgency, check_fee_budget, quote_fees, urgency_for_health
from manager.execution.nonce import NonceManager
from manager.execution.policy import PolicyLimits, check_plan
from manager.execution.reconcile import ReconcileReport, reconcile, reconcile_plans, reconcile_transactions
from manager.execution.signer import Signer
from manager.execution.simulate import ForkReplay, PostCheck, atomic_post_state, fork_replay, simulate_step
from manager.execution.store import ExecutionStore
from manager.execution.submit import BroadcastRejected, Submitter, latest_base_fee_wei
from manager.execution.tracker import Tracker, TrackReport
from manager.execution.types import ExecutionResult, FeeQuote, Plan, PreparedTx, StepOutcome, TxStep
from manager.persistence import PlanStatus, TxStatus

log = logging.getLogger("posman.execution.executor")
_nullcontext = contextlib.nullcontext

_FINAL = {PlanStatus.REFUSED, PlanStatus.DRY_RUN, PlanStatus.CONFIRMED, PlanStatus.FAILED, PlanStatus.REVERTED}


class PlanStale(SkipTickError):
    """The head moved too far past the decision's block, or past the plan's ``valid_until_block``."""


@dataclass
class ExecutorHooks:
    """Test/ops hooks called with the prepared tx: after it is stored, and after it is broadcast."""

    after_store: Callable[[PreparedTx], None] | None = None
    after_broadcast: Callable[[PreparedTx], None] | None = None


class Executor:
    """Executes plans for one signer. Thread-safe: plans of the account run one at a time."""

    def __init__(
        self,
        w3: Any,
        signer: Signer,
        store: ExecutionStore,
        *,
        limits: PolicyLimits,
        fee_policy: FeePolicy,
        fork_rpc_url: str,
        dry_run: bool = False,
        chain_id: int | None = None,
        submitter: Submitter | None = None,
        nonces: NonceManager | None = None,
        hooks: ExecutorHooks | None = None,
        fork_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.w3 = w3
        self.signer = signer
        self.store = store
        self.limits = limits
        self.fee_policy = fee_policy
        self.fork_rpc_url = fork_rpc_url
        self._replay_note: str | None = None
        self.dry_run = dry_run
        self.chain_id = int(chain_id if chain_id is not None else w3.eth.chain_id)
        self.submitter = submitter or Submitter(w3, signer, store, fee_policy, chain_id=self.chain_id)
        self.nonces = nonces or NonceManager(w3, signer.address,
                                             stored_pending_nonces=lambda: store.pending_nonces(signer.address))
        self.hooks = hooks or ExecutorHooks()
        self._fork_factory = fork_factory
        self.tracking = Tracker(self)

    def __repr__(self) -> str:
        return f"Executor(signer={self.signer.address}, dry_run={self.dry_run})"

    # --- restart ------------------------------------------------------------------------------
    def recover(self) -> ReconcileReport:
        """Reconcile stored pending transactions and open plans with the chain (call at start-up)."""
        with self.nonces.plan_lock:
            report = reconcile(self.w3, self.store, sender=self.signer.address)
            self.nonces.resync()
            return report

    # --- main entry ---------------------------------------------------------------------------
    def execute(
        self,
        plan: Plan,
        *,
        post_check: PostCheck | None = None,
        native_price_usd: float | None = None,
        urgency: Urgency | None = None,
        wait: bool = True,
    ) -> ExecutionResult:
        """Carry out ``plan`` (see the module docstring). ``post_check(w3) -> health`` reads the position.

        ``wait=False``: send every step without waiting for inclusion (status ``submitted``; ``track()``
        settles it later)."""
        with self.nonces.plan_lock:
            _row, created = self.store.create_plan(plan)
            if not created:
                known = self._known_plan(plan)
                if known is not None:
                    return known
            try:
                quote, level, replay = self._prepare_plan(plan, post_check, native_price_usd, urgency)
            except (NeverSubmitError, SkipTickError, RetryableError) as exc:  # RPC faults fail this plan only
                return self._refuse(plan, exc)
            pipelined = not wait and not self.dry_run
            if pipelined and len(replay.simulations) < len(plan.steps) and replay.fallback_reason:
                # NOTE: without the fork replay the later steps have neither a simulation nor a gas limit:
                # they cannot be signed ahead. The plan runs step by step instead (each simulated at the
                # latest block once the one before is mined), the fallback the replay's reason names.
                log.warning("event=plan_sequential plan_id=%s steps=%d reason=%r", plan.plan_id, len(plan.steps),
                            "fork replay unavailable: steps sent one at a time")
                pipelined = False
            if pipelined:
                result = self._send_all(plan, quote, level, replay)  # "simulated" is stored with the sends
            else:
                self.store.set_plan_status(plan.plan_id, PlanStatus.SIMULATED)
                result = self._run_steps(plan, quote, level, replay.post_health, post_check=post_check)
            if self._replay_note:  # the fork could not run: say how the plan was checked instead
                result = result.model_copy(update={"reason": "; ".join(x for x in (result.reason, self._replay_note)
                                                                        if x)})
            return result

    # --- stages -------------------------------------------------------------------------------
    def _known_plan(self, plan: Plan) -> ExecutionResult | None:
        """The result of a plan id stored before, or ``None`` when nothing of it was ever sent."""
        row = self.store.get_plan(plan.plan_id)
        assert row is not None
        txs = self.store.transactions_for(plan.plan_id)
        status = PlanStatus(row.status)
        if status in (PlanStatus.CREATED, PlanStatus.SIMULATED) and not txs:
            return None  # stored but never sent: safe to carry on
        if status not in _FINAL:
            report = reconcile_transactions(self.w3, self.store, sender=self.signer.address)
            reconcile_plans(self.store, report)
            row = self.store.get_plan(plan.plan_id)
            assert row is not None
            txs = self.store.transactions_for(plan.plan_id)
        log.info("event=plan_already_known plan_id=%s status=%s txs=%d", plan.plan_id, row.status, len(txs))
        return ExecutionResult(
            plan_id=plan.plan_id,
            status=row.status,
            reason=row.refusal_reason or row.error or "",
            already_known=True,
            steps=tuple(
                StepOutcome(step_index=t.step_index, label=f"step {t.step_index}", status=t.status,
                            tx_hash=t.tx_hash, nonce=t.nonce, block_number=t.block_included, gas_used=t.gas_used)
                for t in txs
                if t.status != TxStatus.REPLACED.value
            ),
        )

    def _check_fresh(self, plan: Plan) -> int:
        head = int(self.w3.eth.block_number)
        pre = plan.preconditions
        if head - plan.block_number > pre.max_block_age_blocks:
            raise PlanStale(
                f"plan is stale: decided at block {plan.block_number}, head is {head} "
                f"(max age {pre.max_block_age_blocks} blocks)", head=head,
            )
        if pre.valid_until_block is not None and head > pre.valid_until_block:
            raise PlanStale(f"plan expired: head {head} is past valid_until_block {pre.valid_until_block}", head=head)
        return head

    def _prepare_plan(self, plan: Plan, post_check: PostCheck | None, native_price_usd: float | None,
                      urgency: Urgency | None) -> tuple[FeeQuote, Urgency, ForkReplay]:
        if plan.account != self.signer.address:
            raise PolicyViolation(f"policy: plan account {plan.account} is not the signer {self.signer.address}",
                                  rule="account")
        head = self._check_fresh(plan)
        check_plan(plan, self.limits, used_today_usd=self.store.used_today_usd())
        first = simulate_step(self.w3, plan.steps[0], self.signer.address, block_number=head, where="0")
        # NOTE: a one-step executor plan is its own whole plan: one eth_simulateV1 at the head (the action, then the
        # contract's healthOf on the state it leaves) replaces the fork; anything else is replayed on a fork
        replay = None
        if post_check is not None or not plan.preconditions.needs_post_check:
            replay = atomic_post_state(self.w3, head, plan.steps, self.signer.address,
                                       preconditions=plan.preconditions, first=first)
        if replay is None:
            replay = fork_replay(self.fork_rpc_url, head, plan.steps, self.signer.address,
                                 preconditions=plan.preconditions, post_check=post_check,
                                 **({"anvil_factory": self._fork_factory} if self._fork_factory else {}))
        self._replay_note = replay.fallback_reason
        level = urgency or urgency_for_health(plan.health_before, self.fee_policy)
        quote = quote_fees(latest_base_fee_wei(self.w3), level, self.fee_policy)
        if not quote.includable:
            raise PolicyViolation(
                f"fees: max fee {quote.max_fee_per_gas_wei} wei is capped below the base fee "
                f"{quote.base_fee_wei} wei ({quote.capped_by})", rule="max_fee",
            )
        if plan.expected_loss_avoided_usd is not None and native_price_usd is None:
            raise PolicyViolation("fee budget: the plan has an expected loss avoided but no native price was given",
                                  rule="fee_budget")
        budget = check_fee_budget(total_gas=replay.total_gas, max_fee_per_gas_wei=quote.max_fee_per_gas_wei,
                                  native_price_usd=native_price_usd or 0.0,
                                  expected_loss_avoided_usd=plan.expected_loss_avoided_usd, urgency=level,
                                  policy=self.fee_policy)
        log.info(
            "event=plan_simulated plan_id=%s kind=%s steps=%d head=%d fork_post_health=%s gas=%d "
            "max_fee_wei=%d prio_wei=%d urgency=%s gas_usd=%.2f",
            plan.plan_id, plan.kind, len(plan.steps), head, replay.post_health, replay.total_gas,
            quote.max_fee_per_gas_wei, quote.max_priority_fee_per_gas_wei, level, budget.gas_cost_usd,
        )
        return quote, level, replay

    def _refuse(self, plan: Plan, exc: Exception) -> ExecutionResult:
        reason = str(exc)
        status = PlanStatus.REFUSED if isinstance(exc, NeverSubmitError) else PlanStatus.FAILED
        self.store.set_plan_status(plan.plan_id, status, reason=reason)
        log.warning("event=plan_refused plan_id=%s status=%s reason=%r", plan.plan_id, status.value, reason)
        return ExecutionResult(plan_id=plan.plan_id, status=status.value, reason=reason)

    def _run_steps(self, plan: Plan, quote: FeeQuote, urgency: Urgency, fork_health: float | None, *,
                   post_check: PostCheck | None) -> ExecutionResult:
        outcomes: list[StepOutcome] = []
        would_send: list[PreparedTx] = []
        sent_any = False
        final, reason = PlanStatus.CONFIRMED, ""
        for i, step in enumerate(plan.steps):
            try:
                if i > 0:
                    self._check_fresh_for_step(plan)
                    quote = quote_fees(latest_base_fee_wei(self.w3), urgency, self.fee_policy)
                sim = simulate_step(self.w3, step, self.signer.address, where=str(i))
                outcome, prepared = self._send_step(plan, i, step, sim.gas_limit, quote, urgency, first=not sent_any)
            except (NeverSubmitError, SkipTickError, BroadcastRejected) as exc:
                if not sent_any:
                    return self._refuse(plan, exc)
                final, reason = PlanStatus.FAILED, f"step {i} not sent: {exc}; steps 0..{i - 1} were executed"
                break
            outcomes.append(outcome)
            if outcome.status == "dry_run":
                would_send.append(prepared)
                final = PlanStatus.DRY_RUN
                break
            sent_any = True
            if outcome.status != "included":
                final = {"reverted": PlanStatus.REVERTED, "pending": PlanStatus.SUBMITTED}.get(
                    outcome.status, PlanStatus.FAILED)
                reason = f"step {i} ({step.label}) {outcome.status}"
                break
        post_health = fork_health
        if final is PlanStatus.CONFIRMED and post_check is not None:
            post_health = float(post_check(self.w3))
        if final is not PlanStatus.SUBMITTED:
            self.store.set_plan_status(plan.plan_id, final, reason=reason or None)
        log.info(
            "event=plan_done plan_id=%s status=%s steps_done=%d/%d post_health=%s dry_run=%s reason=%r",
            plan.plan_id, final.value, len(outcomes), len(plan.steps), post_health, self.dry_run, reason,
        )
        return ExecutionResult(plan_id=plan.plan_id, status=final.value, reason=reason, steps=tuple(outcomes),
                               would_send=tuple(would_send), post_health=post_health)

    def _check_fresh_for_step(self, plan: Plan) -> None:
        until = plan.preconditions.valid_until_block
        if until is not None and int(self.w3.eth.block_number) > until:
            raise PlanStale(f"plan expired mid-way: head is past valid_until_block {until}")

    def _send_step(self, plan: Plan, i: int, step: TxStep, gas_limit: int, quote: FeeQuote, urgency: Urgency,
                   *, first: bool, wait: bool = True) -> tuple[StepOutcome, PreparedTx]:
        with self.nonces.lease() as lease:
            prepared = self.submitter.prepare(plan_id=plan.plan_id, step_index=i, step=step, nonce=lease.nonce,
                                              gas_limit=gas_limit, fees=quote)
            # ---- THE dry-run branch: everything above ran; nothing is stored as sent, nothing broadcast.
            if self.dry_run:
                log.info("event=dry_run plan_id=%s step=%d nonce=%d to=%s selector=%s tx_hash=%s",
                         plan.plan_id, i, prepared.nonce, step.to, step.selector, prepared.tx_hash)
                return StepOutcome(step_index=i, label=step.label, status="dry_run", tx_hash=prepared.tx_hash,
                                   nonce=prepared.nonce), prepared
            if first:
                self.store.set_plan_status(plan.plan_id, PlanStatus.SUBMITTED)
                self.store.add_used_today_usd(plan.daily_usd())
            self.store.record_signed(prepared)  # intent + signed tx on disk before the broadcast
            if self.hooks.after_store:
                self.hooks.after_store(prepared)
            start_block = int(self.w3.eth.block_number)
            try:
                self.submitter.broadcast(prepared.raw_tx_hex, prepared.tx_hash)
            except BroadcastRejected:
                self.store.mark_tx(prepared.tx_hash, TxStatus.DROPPED)
                raise
            lease.commit()
        log.info("event=step_sent plan_id=%s step=%d label=%r nonce=%d tx_hash=%s max_fee_wei=%d prio_wei=%d",
                 plan.plan_id, i, step.label, prepared.nonce, prepared.tx_hash, prepared.max_fee_per_gas_wei,
                 prepared.max_priority_fee_per_gas_wei)
        if self.hooks.after_broadcast:
            self.hooks.after_broadcast(prepared)
        if not wait:
            self.tracking.sent(prepared, step, quote, urgency, start_block)
            return StepOutcome(step_index=i, label=step.label, status="pending", tx_hash=prepared.tx_hash,
                               nonce=prepared.nonce), prepared
        return self.submitter.wait(prepared, step, quote, urgency, start_block=start_block), prepared

    def _send_all(self, plan: Plan, quote: FeeQuote, urgency: Urgency, replay: ForkReplay) -> ExecutionResult:
        """Sign every step with consecutive nonces, store them all in one database transaction, then
        broadcast them in order; never wait (``wait=False``).

        NOTE: step i > 0 cannot be simulated at the latest block (it needs the earlier steps mined); it was
        simulated by the fork replay on the state the earlier steps leave, which also gives its gas limit.
        Storing the whole plan before its first broadcast keeps the crash rule (every transaction is on
        disk before it can be on the network) at one disk sync per plan instead of one per step.
        """
        if len(replay.simulations) < len(plan.steps):
            return self._refuse(plan, SimulationFailed(
                f"fork replay simulated {len(replay.simulations)} of {len(plan.steps)} steps", step="fork"))
        outcomes: list[StepOutcome] = []
        reason = ""
        with self.nonces.lease_block(len(plan.steps)) as block:
            prepared = [self.submitter.prepare(plan_id=plan.plan_id, step_index=i, step=step, nonce=block.first + i,
                                               gas_limit=replay.simulations[i].gas_limit, fees=quote)
                        for i, step in enumerate(plan.steps)]
            start_block = int(self.w3.eth.block_number)
            batch = getattr(self.store.repo, "batch", None)
            with batch() if batch is not None else _nullcontext():
                self.store.set_plan_status(plan.plan_id, PlanStatus.SIMULATED)
                self.store.set_plan_status(plan.plan_id, PlanStatus.SUBMITTED)
                self.store.add_used_today_usd(plan.daily_usd())
                for tx in prepared:
                    self.store.record_signed(tx)  # intent + signed tx on disk before any broadcast
            for tx in prepared:
                if self.hooks.after_store:
                    self.hooks.after_store(tx)
            for i, (step, tx) in enumerate(zip(plan.steps, prepared, strict=True)):
                try:
                    self.submitter.broadcast(tx.raw_tx_hex, tx.tx_hash)
                except BroadcastRejected as exc:
                    # this step and the ones after it never left: their stored transactions are dropped and
                    # their nonces handed out again; the steps sent are tracked (the plan ends "failed")
                    for unsent in prepared[i:]:
                        self.store.mark_tx(unsent.tx_hash, TxStatus.DROPPED)
                    if i == 0:
                        self.store.set_plan_status(plan.plan_id, PlanStatus.FAILED, reason=str(exc))
                        log.warning("event=plan_refused plan_id=%s status=failed reason=%r", plan.plan_id, str(exc))
                        return ExecutionResult(plan_id=plan.plan_id, status=PlanStatus.FAILED.value, reason=str(exc))
                    reason = f"step {i} not sent: {exc}; steps 0..{i - 1} were sent"
                    log.warning("event=plan_partly_sent plan_id=%s reason=%r", plan.plan_id, reason)
                    break
                block.commit(tx.nonce)
                log.info("event=step_sent plan_id=%s step=%d label=%r nonce=%d tx_hash=%s max_fee_wei=%d prio_wei=%d",
                         plan.plan_id, i, step.label, tx.nonce, tx.tx_hash, tx.max_fee_per_gas_wei,
                         tx.max_priority_fee_per_gas_wei)
                if self.hooks.after_broadcast:
                    self.hooks.after_broadcast(tx)
                self.tracking.sent(tx, step, quote, urgency, start_block)
                outcomes.append(StepOutcome(step_index=i, label=step.label, status="pending", tx_hash=tx.tx_hash,
                                            nonce=tx.nonce))
        log.info("event=plan_sent plan_id=%s steps_sent=%d/%d nonces=%s", plan.plan_id, len(outcomes),
                 len(plan.steps), ",".join(str(o.nonce) for o in outcomes))
        return ExecutionResult(plan_id=plan.plan_id, status=PlanStatus.SUBMITTED.value, reason=reason,
                               steps=tuple(outcomes), post_health=replay.post_health)

    # --- tracking beside the tick --------------------------------------------------------------
    def track(self) -> TrackReport:
        """Settle this signer's sent transactions once (see the module docstring); never blocks on a block."""
        with self.nonces.plan_lock:
            return self.tracking.track()


__all__ = ["Executor", "ExecutorHooks", "PlanStale", "SimulationFailed", "TrackReport"]
