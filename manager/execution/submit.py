"""Submission: sign a step's transaction, store it, broadcast, wait for inclusion, replace-by-fee.

``Submitter.prepare`` builds and signs an EIP-1559 transaction (no storage, no broadcast).
``Submitter.broadcast`` sends raw bytes and classifies the node's answer: accepted, already known,
nonce already used, or rejected (nothing in flight).
``Submitter.wait`` polls for a receipt of *any* transaction of the step (all share one nonce): after
``timeout_blocks`` blocks without inclusion it signs a replacement with the same nonce and both fee
fields raised >= 12.5 % (``fees.bump_fees``), stores it, then broadcasts it. A receipt with status 0 is
a revert. When the nonce is used but none of our receipts is visible the step stays ``unconfirmed``
(re-checked by hash, never replaced); it is ``dropped`` only after ``CONFIRM_BLOCKS`` blocks with none of
our hashes found (the nonce went to a transaction that is not ours). When no
block arrives within ``max_wait_s`` or bumps are exhausted the step stays ``pending`` for the
reconciler (nothing is ever re-signed with another nonce).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from manager.errors import RetryableError
from manager.execution.fees import FeePolicy, Urgency, bump_fees
from manager.execution.signer import Signer
from manager.execution.store import ExecutionStore
from manager.execution.types import FeeQuote, PreparedTx, StepOutcome, TxStep
from manager.persistence import TxStatus

log = logging.getLogger("posman.execution.submit")


class BroadcastRejected(RetryableError):
    """The node refused the transaction outright (it is not in flight); the step can be retried later."""


_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "alreadyknown")
_NONCE_USED = ("nonce too low", "nonce is too low", "oldnonce")
# blocks past the first sight of our nonce used (with none of our hashes found) before a step is "dropped"
CONFIRM_BLOCKS = 3


def _rpc_message(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    if isinstance(arg, dict):
        arg = arg.get("message", "")
    return " ".join(str(arg or exc).split())


def receipt_or_none(w3: Any, tx_hash: str) -> Any | None:
    """The receipt of ``tx_hash``, or ``None`` while it is not mined."""
    from web3.exceptions import TransactionNotFound

    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return None


def latest_base_fee_wei(w3: Any) -> int:
    """The latest block's ``baseFeePerGas`` (0 on a chain without EIP-1559)."""
    return int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)


def transaction_block_or_none(w3: Any, tx_hash: str) -> int | None:
    """The block number the node reports ``tx_hash`` mined in (``eth_getTransactionByHash``), else ``None``."""
    from web3.exceptions import TransactionNotFound

    try:
        tx = w3.eth.get_transaction(tx_hash)
    except TransactionNotFound:
        return None
    block = tx.get("blockNumber") if tx is not None else None
    return None if block is None else int(block)


def settle(w3: Any, store: ExecutionStore, sender: str, hashes: list[str], nonce: int, *,
           confirm_blocks: int = CONFIRM_BLOCKS) -> tuple[str, Any | None, str | None]:
    """Look once for a receipt of any of ``hashes`` (one step's transactions, all with ``nonce``).

    Returns ``("included"|"reverted", receipt, hash)``; ``("pending", None, None)`` while the nonce is
    unused; ``("unconfirmed", None, None)`` while the account's nonce is used but no receipt of ours is
    visible yet (keep re-checking by hash; never replace, never re-broadcast); and ``("dropped", None,
    None)`` only once the chain is ``confirm_blocks`` blocks past the first time that was observed and
    still none of ``hashes`` is found (by receipt or as a mined transaction): the nonce was used by a
    transaction that is not ours. Records the result: the mined one included/reverted, its siblings
    replaced (by it), or all of them dropped.
    """
    for tx_hash in reversed(hashes):
        receipt = receipt_or_none(w3, tx_hash)
        if receipt is None:
            continue
        status = TxStatus.INCLUDED if receipt["status"] == 1 else TxStatus.REVERTED
        store.mark_tx(tx_hash, status, block_included=int(receipt["blockNumber"]), gas_used=int(receipt["gasUsed"]))
        for other in hashes:
            if other != tx_hash:
                store.mark_tx(other, TxStatus.REPLACED, replaced_by=tx_hash)
        store.forget_nonce_used(sender, nonce)
        return status.value, receipt, tx_hash
    mined_nonce = int(w3.eth.get_transaction_count(sender, "latest"))
    if mined_nonce <= nonce:
        return "pending", None, None
    # NOTE: a node may report the account's nonce as used before the receipt of the including block is
    # served (seen on anvil with automine). Declaring our own mined transaction "dropped" would stop a
    # plan half-way, so the rule is block-based: a node that knows one of our hashes in a block has it
    # included (the receipt follows); otherwise "dropped" needs ``confirm_blocks`` blocks past the first
    # observation of the used nonce, with none of our hashes found in any of them.
    head = int(w3.eth.block_number)
    for tx_hash in hashes:
        block = transaction_block_or_none(w3, tx_hash)
        if block is not None:
            log.info("event=tx_mined_receipt_pending sender=%s nonce=%d tx_hash=%s block=%d head=%d",
                     sender, nonce, tx_hash, block, head)
            return "unconfirmed", None, None
    first_seen = store.nonce_used_first_seen(sender, nonce, head)
    if head < first_seen + confirm_blocks:
        log.info("event=tx_nonce_used_unseen sender=%s nonce=%d first_seen_block=%d head=%d confirm_blocks=%d",
                 sender, nonce, first_seen, head, confirm_blocks)
        return "unconfirmed", None, None
    for tx_hash in hashes:
        store.mark_tx(tx_hash, TxStatus.DROPPED)
    store.forget_nonce_used(sender, nonce)
    log.error("event=tx_nonce_used_by_other sender=%s nonce=%d hashes=%s first_seen_block=%d head=%d",
              sender, nonce, ",".join(hashes), first_seen, head)
    return "dropped", None, None


class Submitter:
    """Signs, broadcasts and tracks the transactions of one account."""

    def __init__(
        self,
        w3: Any,
        signer: Signer,
        store: ExecutionStore,
        fee_policy: FeePolicy,
        *,
        chain_id: int,
        timeout_blocks: int = 3,
        confirm_blocks: int = CONFIRM_BLOCKS,
        max_replacements: int = 5,
        max_wait_s: float = 600.0,
        poll_interval_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.w3 = w3
        self.signer = signer
        self.store = store
        self.fee_policy = fee_policy
        self.chain_id = chain_id
        self.timeout_blocks = timeout_blocks
        self.confirm_blocks = confirm_blocks
        self.max_replacements = max_replacements
        self.max_wait_s = max_wait_s
        self.poll_interval_s = poll_interval_s
        self._sleep = sleep

    # --- build ---------------------------------------------------------------------------------
    def prepare(self, *, plan_id: str, step_index: int, step: TxStep, nonce: int, gas_limit: int,
                fees: FeeQuote) -> PreparedTx:
        """Sign the step's transaction (EIP-1559, type 2)."""
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": step.to,
            "value": step.value_wei,
            "data": step.data,
            "gas": gas_limit,
            "maxFeePerGas": fees.max_fee_per_gas_wei,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas_wei,
        }
        raw, tx_hash = self.signer.sign_transaction(tx)
        return PreparedTx(
            plan_id=plan_id, step_index=step_index, label=step.label, sender=self.signer.address, to=step.to,
            data=step.data, value_wei=step.value_wei, nonce=nonce, gas_limit=gas_limit,
            max_fee_per_gas_wei=fees.max_fee_per_gas_wei,
            max_priority_fee_per_gas_wei=fees.max_priority_fee_per_gas_wei,
            chain_id=self.chain_id, tx_hash=tx_hash, raw_tx_hex="0x" + raw.hex(),
        )

    # --- broadcast -----------------------------------------------------------------------------
    def broadcast(self, raw_tx_hex: str, tx_hash: str) -> str:
        """Send raw bytes. Returns ``sent`` | ``known`` | ``nonce_used``; raises ``BroadcastRejected``.

        Connection failures are *not* rejections: the node may have the transaction, so they return
        ``unknown`` and the caller keeps tracking (re-sending the same bytes is harmless).
        """
        from requests.exceptions import RequestException
        from web3.exceptions import Web3RPCError

        try:
            self.w3.eth.send_raw_transaction(raw_tx_hex)
            outcome = "sent"
        except Web3RPCError as exc:
            message = _rpc_message(exc).lower()
            if any(k in message for k in _ALREADY_KNOWN):
                outcome = "known"
            elif any(k in message for k in _NONCE_USED):
                outcome = "nonce_used"
            else:
                raise BroadcastRejected(f"broadcast of {tx_hash} rejected: {_rpc_message(exc)}",
                                        tx_hash=tx_hash) from None
        except (RequestException, OSError, TimeoutError) as exc:
            log.warning("event=broadcast_unknown tx_hash=%s error=%s", tx_hash, type(exc).__name__)
            outcome = "unknown"
        log.info("event=broadcast tx_hash=%s outcome=%s", tx_hash, outcome)
        return outcome

    # --- track ---------------------------------------------------------------------------------
    def settle(self, hashes: list[str], nonce: int) -> tuple[str, Any | None, str | None]:
        """One look for a receipt of any of ``hashes`` (see ``settle``)."""
        return settle(self.w3, self.store, self.signer.address, hashes, nonce, confirm_blocks=self.confirm_blocks)

    def wait(self, first: PreparedTx, step: TxStep, fees: FeeQuote, urgency: Urgency, *,
             start_block: int | None = None) -> StepOutcome:
        """Wait for ``first`` (or a replacement of it) to be mined; replace-by-fee on timeout."""
        hashes = [first.tx_hash]
        current, quote = first, fees
        replacements = 0
        sent_block = start_block if start_block is not None else int(self.w3.eth.block_number)
        deadline = time.monotonic() + self.max_wait_s
        while True:
            status, receipt, mined_hash = self.settle(hashes, first.nonce)
            if status not in ("pending", "unconfirmed"):
                outcome = StepOutcome(
                    step_index=first.step_index, label=first.label, status=status, tx_hash=mined_hash,
                    nonce=first.nonce, block_number=int(receipt["blockNumber"]) if receipt else None,
                    gas_used=int(receipt["gasUsed"]) if receipt else None, replacements=replacements,
                )
                log.info("event=step_settled plan_id=%s step=%d status=%s tx_hash=%s block=%s replacements=%d",
                         first.plan_id, first.step_index, status, mined_hash, outcome.block_number, replacements)
                return outcome
            head = int(self.w3.eth.block_number)
            if time.monotonic() > deadline:
                log.warning("event=step_not_included plan_id=%s step=%d nonce=%d head=%d",
                            first.plan_id, first.step_index, first.nonce, head)
                return StepOutcome(step_index=first.step_index, label=first.label, status="pending",
                                   tx_hash=current.tx_hash, nonce=first.nonce, replacements=replacements)
            # NOTE: "unconfirmed" = our nonce is used: a replacement could never be mined, so never bump then.
            if (status == "pending" and head >= sent_block + self.timeout_blocks
                    and replacements < self.max_replacements):
                bumped = bump_fees(quote, latest_base_fee_wei(self.w3), urgency, self.fee_policy)
                if bumped is not None:
                    replacement = self.prepare(plan_id=first.plan_id, step_index=first.step_index, step=step,
                                               nonce=first.nonce, gas_limit=first.gas_limit, fees=bumped)
                    self.store.record_signed(replacement)  # stored before broadcast, like the original
                    try:
                        self.broadcast(replacement.raw_tx_hex, replacement.tx_hash)
                        hashes.append(replacement.tx_hash)
                        current, quote = replacement, bumped
                        replacements += 1
                        log.info(
                            "event=rbf plan_id=%s step=%d nonce=%d old=%s new=%s max_fee_wei=%d prio_wei=%d",
                            first.plan_id, first.step_index, first.nonce, hashes[-2], replacement.tx_hash,
                            bumped.max_fee_per_gas_wei, bumped.max_priority_fee_per_gas_wei,
                        )
                    except BroadcastRejected as exc:
                        self.store.mark_tx(replacement.tx_hash, TxStatus.DROPPED)
                        log.warning("event=rbf_rejected plan_id=%s step=%d reason=%r", first.plan_id,
                                    first.step_index, str(exc))
                sent_block = head
            self._sleep(self.poll_interval_s)
