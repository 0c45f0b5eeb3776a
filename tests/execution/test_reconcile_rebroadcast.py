"""Restart re-broadcast on a real anvil: a stored signed transaction that was never broadcast is sent again
only if its plan is still valid and a fresh simulation of the decoded transaction passes; otherwise its
step is released (not dropped: a broadcast in flight may yet be mined), the plan fails with the reason, and the
next plan takes the nonce; the released transaction is dropped only once another transaction used its nonce."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from manager.execution.executor import ExecutorHooks
from manager.execution.reconcile import decode_signed_tx, track_pending
from manager.execution.store import ExecutionStore
from manager.execution.types import Preconditions

from .helpers import RECIPIENT, make_executor, transfer_plan

pytestmark = pytest.mark.chain

AMOUNT = 2 * 10**18


class Crash(BaseException):
    """Stands for the process dying right after the signed transaction was stored (before broadcast)."""


def _crash_after_store(w3, signer, repo, token, anvil, plan):
    def die(prepared):
        raise Crash(prepared.tx_hash)

    first = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url,
                          hooks=ExecutorHooks(after_store=die))
    with pytest.raises(Crash):
        first.execute(plan)
    (row,) = repo.transactions_for(plan.plan_id)
    assert row.status == "pending"
    return row


def _restart(w3, signer, repo, token, anvil):
    return make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)


def _zero_balance(anvil, token, holder: str) -> None:
    """Empty ``holder``'s token balance without using its nonce (``_balances`` is storage slot 0)."""
    slot = keccak(bytes.fromhex(holder[2:].lower().rjust(64, "0")) + (0).to_bytes(32, "big"))
    anvil.call("anvil_setStorageAt", [token.address, "0x" + slot.hex(), "0x" + "00" * 32])
    assert token.functions.balanceOf(holder).call() == 0


def test_decode_signed_tx_gives_back_the_call(w3, signer, repo, token, anvil, account):
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, AMOUNT)
    row = _crash_after_store(w3, signer, repo, token, anvil, plan)
    tx = decode_signed_tx(row.raw_tx_hex)
    assert tx["from"] == account.address and tx["to"] == token.address
    assert tx["data"] == plan.steps[0].data and tx["value"] == 0 and tx["nonce"] == row.nonce and tx["gas"] > 21_000


def test_stored_tx_that_would_now_revert_is_not_rebroadcast(w3, signer, repo, token, anvil, account):
    nonce0 = w3.eth.get_transaction_count(account.address)
    before = token.functions.balanceOf(RECIPIENT).call()
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, AMOUNT)
    row = _crash_after_store(w3, signer, repo, token, anvil, plan)
    _zero_balance(anvil, token, account.address)  # the state changed while the process was down

    report = _restart(w3, signer, repo, token, anvil).recover()
    assert report.rebroadcast == [] and report.released == [row.tx_hash] and report.dropped == []
    assert "re-simulation" in report.not_rebroadcast[plan.plan_id]
    assert w3.eth.get_transaction_count(account.address, "pending") == nonce0  # nothing was sent
    (row,) = repo.transactions_for(plan.plan_id)
    assert row.status == "released"
    stored = repo.get_plan(plan.plan_id)
    assert stored.status == "failed" and "not re-broadcast: re-simulation" in stored.error
    assert "exceeds balance" in stored.error
    assert token.functions.balanceOf(RECIPIENT).call() == before


@pytest.mark.parametrize("expiry", ["valid_until_block", "max_block_age"])
def test_expired_plan_is_not_rebroadcast_and_the_nonce_goes_to_the_next_plan(w3, signer, repo, token, anvil,
                                                                              account, expiry):
    nonce0 = w3.eth.get_transaction_count(account.address)
    before = token.functions.balanceOf(RECIPIENT).call()
    block = w3.eth.block_number
    pre = (Preconditions(max_block_age_blocks=50, valid_until_block=block + 2) if expiry == "valid_until_block"
           else Preconditions(max_block_age_blocks=2))
    plan = transfer_plan(account.address, token.address, block, AMOUNT, preconditions=pre)
    row = _crash_after_store(w3, signer, repo, token, anvil, plan)
    anvil.call("anvil_mine", [hex(5)])  # the process was down for 5 blocks

    executor = _restart(w3, signer, repo, token, anvil)
    report = executor.recover()
    assert report.rebroadcast == [] and report.released == [row.tx_hash] and report.dropped == []
    assert report.not_rebroadcast[plan.plan_id].startswith("step 0 not re-broadcast: expired")
    assert w3.eth.get_transaction_count(account.address, "pending") == nonce0
    stored = repo.get_plan(plan.plan_id)
    assert stored.status == "failed" and "expired" in stored.error
    assert report.plans == {plan.plan_id: "failed"}

    # the next plan (a fresh decision) takes the nonce: the stored bytes can never be mined afterwards
    fresh = executor.execute(transfer_plan(account.address, token.address, w3.eth.block_number, AMOUNT))
    assert fresh.status == "confirmed", fresh.reason
    assert fresh.steps[0].nonce == nonce0 and fresh.steps[0].tx_hash != row.tx_hash
    assert token.functions.balanceOf(RECIPIENT).call() == before + AMOUNT
    # only now, its nonce used by another transaction (and confirm_blocks later), is the stored one dropped
    assert repo.transactions_for(plan.plan_id)[0].status == "released"
    for _ in range(5):
        anvil.call("anvil_mine", [hex(1)])
        executor.recover()
    assert repo.transactions_for(plan.plan_id)[0].status == "dropped"


def test_released_tx_delivered_late_is_recorded_included(w3, signer, repo, token, anvil, account):
    """Regression (issue 15): a broadcast delivered after the restart's reconcile was marked "dropped" although
    it was mined 0.3 s later; the database kept saying "dropped"."""
    block = w3.eth.block_number
    plan = transfer_plan(account.address, token.address, block, AMOUNT,
                         preconditions=Preconditions(max_block_age_blocks=50, valid_until_block=block + 2))
    row = _crash_after_store(w3, signer, repo, token, anvil, plan)
    anvil.call("anvil_mine", [hex(5)])
    executor = _restart(w3, signer, repo, token, anvil)
    assert executor.recover().released == [row.tx_hash]
    w3.eth.send_raw_transaction(row.raw_tx_hex)  # the first broadcast arrives late, and is mined
    anvil.call("anvil_mine", [hex(1)])
    report = executor.recover()
    assert report.included == [row.tx_hash]
    (after,) = repo.transactions_for(plan.plan_id)
    assert after.status == "included" and after.block_included is not None


def test_still_valid_stored_tx_is_rebroadcast(w3, signer, repo, token, anvil, account):
    nonce0 = w3.eth.get_transaction_count(account.address)
    before = token.functions.balanceOf(RECIPIENT).call()
    block = w3.eth.block_number
    plan = transfer_plan(account.address, token.address, block, AMOUNT,
                         preconditions=Preconditions(max_block_age_blocks=10, valid_until_block=block + 10))
    row = _crash_after_store(w3, signer, repo, token, anvil, plan)
    anvil.call("anvil_mine", [hex(2)])

    report = _restart(w3, signer, repo, token, anvil).recover()
    assert report.rebroadcast == [row.tx_hash] and report.not_rebroadcast == {}
    report = track_pending(w3, ExecutionStore(repo), sender=account.address, timeout_s=10)
    assert report.plans == {plan.plan_id: "confirmed"}
    assert w3.eth.get_transaction_count(account.address) == nonce0 + 1
    assert token.functions.balanceOf(RECIPIENT).call() == before + AMOUNT
