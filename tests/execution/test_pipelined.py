"""``execute(wait=False)`` and ``track()`` on a real anvil with mining switched off: several plans of one
signer take consecutive nonces without waiting for inclusion; a dropped nonce N never leaves N+1 stuck
(the gap is filled with a self-transfer); an expired pending transaction is cancelled, never mined stale."""

from __future__ import annotations

import pytest

from manager.execution.types import Preconditions
from manager.persistence import PlanStatus, TxStatus

from .helpers import RECIPIENT, make_executor, transfer_plan

pytestmark = pytest.mark.chain

UNIT = 10**18


@pytest.fixture
def executor(w3, signer, repo, token, anvil):
    return make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url, timeout_blocks=2)


def _no_mining(anvil):
    anvil.call("evm_setAutomine", [False])  # the conftest turns automine back on after the test


def test_plans_of_one_signer_take_consecutive_nonces_without_waiting(w3, executor, token, account, anvil, repo):
    _no_mining(anvil)
    nonce0 = w3.eth.get_transaction_count(account.address)
    head = w3.eth.block_number
    plans = [transfer_plan(account.address, token.address, head, UNIT, 2 * UNIT) for _ in range(3)]
    results = [executor.execute(p, wait=False) for p in plans]
    # nothing can be mined (mining is off): each call returned without a receipt
    assert [r.status for r in results] == ["submitted"] * 3, [r.reason for r in results]
    assert w3.eth.block_number == head
    assert [s.nonce for r in results for s in r.steps] == list(range(nonce0, nonce0 + 6))
    assert all(s.status == "pending" for r in results for s in r.steps)
    # every transaction was stored before its broadcast (the crash-safety rule)
    assert sorted(t.nonce for t in repo.pending_transactions()) == list(range(nonce0, nonce0 + 6))
    before = token.functions.balanceOf(RECIPIENT).call()
    anvil.call("evm_mine")
    report = executor.track()
    assert {pid: st for pid, (st, _why) in report.finished.items()} == {p.plan_id: "confirmed" for p in plans}
    blocks = {t.block_included for p in plans for t in repo.transactions_for(p.plan_id)}
    assert blocks == {head + 1}  # all six in the next block
    assert token.functions.balanceOf(RECIPIENT).call() == before + 9 * UNIT


def test_a_lost_nonce_that_is_still_valid_is_rebroadcast_and_the_next_one_follows(w3, executor, token, account,
                                                                                  anvil, repo):
    _no_mining(anvil)
    nonce0 = w3.eth.get_transaction_count(account.address)
    head = w3.eth.block_number
    p1 = transfer_plan(account.address, token.address, head, UNIT)
    p2 = transfer_plan(account.address, token.address, head, 5 * UNIT)
    r1, _r2 = executor.execute(p1, wait=False), executor.execute(p2, wait=False)
    anvil.call("anvil_dropTransaction", [r1.steps[0].tx_hash])  # the node forgot N; N+1 waits behind it
    report = executor.track()
    assert report.reconcile is not None and r1.steps[0].tx_hash in report.reconcile.rebroadcast
    assert report.gap_filled == []
    before = token.functions.balanceOf(RECIPIENT).call()
    anvil.call("evm_mine")
    executor.track()
    assert w3.eth.get_transaction_count(account.address, "latest") == nonce0 + 2
    assert repo.get_plan(p1.plan_id).status == repo.get_plan(p2.plan_id).status == PlanStatus.CONFIRMED.value
    assert token.functions.balanceOf(RECIPIENT).call() == before + 6 * UNIT


def test_a_dropped_expired_nonce_is_filled_so_later_nonces_are_never_stuck(w3, executor, token, account, anvil,
                                                                            repo):
    _no_mining(anvil)
    nonce0 = w3.eth.get_transaction_count(account.address)
    head = w3.eth.block_number
    short = Preconditions(max_block_age_blocks=1)  # N's plan expires: its lost tx is never re-broadcast
    p1 = transfer_plan(account.address, token.address, head, UNIT, preconditions=short)
    p2 = transfer_plan(account.address, token.address, head, 5 * UNIT)
    r1, r2 = executor.execute(p1, wait=False), executor.execute(p2, wait=False)
    assert (r1.steps[0].nonce, r2.steps[0].nonce) == (nonce0, nonce0 + 1)
    anvil.call("anvil_dropTransaction", [r1.steps[0].tx_hash])
    before = token.functions.balanceOf(RECIPIENT).call()
    anvil.call("anvil_mine", [hex(3)])  # N is gone; anvil evicts N+1 (it could never be mined)
    assert w3.eth.get_transaction_count(account.address, "latest") == nonce0
    report = executor.track()
    # N expired (never sent again); N+1 lost behind it: both nonces get a self-transfer, so no copy of
    # either can be mined later, and both plans end failed (the next tick re-decides from fresh reads)
    assert report.gap_filled == [nonce0, nonce0 + 1]
    assert {pid: st for pid, (st, _) in report.finished.items()} == {p1.plan_id: "failed", p2.plan_id: "failed"}
    p3 = transfer_plan(account.address, token.address, w3.eth.block_number, 2 * UNIT)
    r3 = executor.execute(p3, wait=False)
    assert r3.steps[0].nonce == nonce0 + 2  # the next plan follows the fills at once
    anvil.call("evm_mine")
    executor.track()
    assert w3.eth.get_transaction_count(account.address, "latest") == nonce0 + 3
    assert repo.get_plan(p3.plan_id).status == PlanStatus.CONFIRMED.value
    assert token.functions.balanceOf(RECIPIENT).call() == before + 2 * UNIT  # nothing stale was mined


def test_an_expired_pending_transaction_is_cancelled_not_mined_stale(w3, executor, token, account, anvil, repo):
    _no_mining(anvil)
    nonce0 = w3.eth.get_transaction_count(account.address)
    head = w3.eth.block_number
    p1 = transfer_plan(account.address, token.address, head, UNIT, preconditions=Preconditions(max_block_age_blocks=1))
    r1 = executor.execute(p1, wait=False)
    before = token.functions.balanceOf(RECIPIENT).call()
    # the transaction sits in the mempool while blocks pass without it (it no longer fits a block)
    gas_limit = w3.eth.get_block("latest")["gasLimit"]
    anvil.call("evm_setBlockGasLimit", [hex(30_000)])
    anvil.call("anvil_mine", [hex(3)])
    assert w3.eth.get_transaction_count(account.address, "latest") == nonce0
    report = executor.track()
    assert report.cancelled == [p1.plan_id]
    anvil.call("evm_setBlockGasLimit", [hex(gas_limit)])
    anvil.call("evm_mine")
    for _ in range(4):  # the plan's own hash is never mined: it is dropped after CONFIRM_BLOCKS blocks
        executor.track()
        anvil.call("evm_mine")
    executor.track()
    assert w3.eth.get_transaction_count(account.address, "latest") == nonce0 + 1  # the cancel took the nonce
    assert token.functions.balanceOf(RECIPIENT).call() == before  # the stale transfer never happened
    assert repo.get_plan(p1.plan_id).status == PlanStatus.FAILED.value
    assert {t.status for t in repo.transactions_for(p1.plan_id)} == {TxStatus.DROPPED.value}
    assert r1.steps[0].nonce == nonce0


def test_a_crash_after_storing_a_pipelined_plan_sends_it_once_after_restart(w3, signer, token, account, anvil,
                                                                              repo):
    from manager.execution.executor import ExecutorHooks

    def crash(_tx):
        raise RuntimeError("process killed after the plan was stored, before its broadcast")

    nonce0 = w3.eth.get_transaction_count(account.address)
    crashing = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url,
                             hooks=ExecutorHooks(after_store=crash))
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, UNIT, 2 * UNIT)
    before = token.functions.balanceOf(RECIPIENT).call()
    with pytest.raises(RuntimeError, match="process killed"):
        crashing.execute(plan, wait=False)
    stored = repo.transactions_for(plan.plan_id)
    assert [(t.step_index, t.nonce, t.status) for t in stored] == [(0, nonce0, "pending"), (1, nonce0 + 1, "pending")]
    assert w3.eth.get_transaction_count(account.address) == nonce0  # nothing reached the network
    restarted = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)
    report = restarted.recover()  # re-broadcasts the stored bytes (same hashes): at most once each
    assert sorted(report.rebroadcast) == sorted(t.tx_hash for t in stored)
    restarted.track()
    assert repo.get_plan(plan.plan_id).status == PlanStatus.CONFIRMED.value
    assert token.functions.balanceOf(RECIPIENT).call() == before + 3 * UNIT
    assert w3.eth.get_transaction_count(account.address) == nonce0 + 2
