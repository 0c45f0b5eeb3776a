"""Crash safety: the executor process is SIGKILLed right after broadcast (or right after storing the
signed tx, before broadcast); on restart the reconciler settles the stored tx with the chain, the record
is complete, and executing the same plan again sends nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from manager.devnet.anvil import ROOT
from manager.execution.reconcile import track_pending
from manager.execution.signer import Signer
from manager.execution.store import ExecutionStore

from .conftest import KEY_ENV
from .helpers import RECIPIENT, make_executor, transfer_plan

pytestmark = pytest.mark.chain

AMOUNT = 2 * 10**18


def _run_child(anvil, db_url, token, account, plan_id, block, mode) -> subprocess.CompletedProcess:
    env = dict(os.environ, **{KEY_ENV: account.key.hex()})
    proc = subprocess.run(
        [sys.executable, "-m", "tests.execution.crash_child", anvil.url, db_url, token.address, plan_id,
         str(block), str(AMOUNT), mode, account.address],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr[-3000:]
    assert f"killing self after {mode}" in proc.stdout
    # the child's own logs hold no key either
    key_hex = account.key.hex().removeprefix("0x").lower()
    assert key_hex not in (proc.stdout + proc.stderr).lower()
    return proc


@pytest.mark.parametrize("automine", [True, False], ids=["mined-before-restart", "pending-at-restart"])
def test_killed_after_broadcast_is_not_sent_again(w3, anvil, token, account, repo, db_path, automine, monkeypatch):
    db_url = f"sqlite:///{db_path}"
    nonce0 = w3.eth.get_transaction_count(account.address)
    before = token.functions.balanceOf(RECIPIENT).call()
    block = w3.eth.block_number
    plan_id = f"plan-crash-{'mined' if automine else 'pending'}"
    if not automine:
        anvil.call("evm_setAutomine", [False])
    _run_child(anvil, db_url, token, account, plan_id, block, "after_broadcast")

    # what the dead process left on disk: intent + signed tx, stored before the broadcast
    (row,) = repo.transactions_for(plan_id)
    assert row.status == "pending" and row.nonce == nonce0
    assert repo.get_plan(plan_id).status == "submitted"

    # restart
    monkeypatch.setenv(KEY_ENV, account.key.hex())
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=account.address)
    executor = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)
    report = executor.recover()
    if automine:
        assert report.included == [row.tx_hash] and report.plans == {plan_id: "confirmed"}
    else:
        assert report.still_pending == [row.tx_hash] and report.rebroadcast == []  # the node still has it
        assert report.plans == {plan_id: "submitted"}
        # the same plan resubmitted while its tx is in flight: nothing new is signed or sent
        again = executor.execute(transfer_plan(account.address, token.address, block, AMOUNT, plan_id=plan_id))
        assert again.already_known and again.status == "submitted"
        assert w3.eth.get_transaction_count(account.address, "pending") == nonce0 + 1
        anvil.call("evm_mine")
        report = track_pending(w3, ExecutionStore(repo), sender=account.address, timeout_s=10)
        assert report.plans == {plan_id: "confirmed"}

    (row,) = repo.transactions_for(plan_id)
    assert row.status == "included" and row.block_included is not None and row.gas_used > 0
    assert repo.get_plan(plan_id).status == "confirmed"
    # re-executing the same plan (same decision, same block) sends nothing
    again = executor.execute(transfer_plan(account.address, token.address, block, AMOUNT, plan_id=plan_id))
    assert again.already_known and again.status == "confirmed"
    assert w3.eth.get_transaction_count(account.address) == nonce0 + 1
    assert token.functions.balanceOf(RECIPIENT).call() == before + AMOUNT


def test_killed_after_store_before_broadcast_rebroadcasts_the_same_bytes(w3, anvil, token, account, repo, db_path,
                                                                        monkeypatch):
    db_url = f"sqlite:///{db_path}"
    nonce0 = w3.eth.get_transaction_count(account.address)
    before = token.functions.balanceOf(RECIPIENT).call()
    block = w3.eth.block_number
    _run_child(anvil, db_url, token, account, "plan-crash-stored", block, "after_store")
    (row,) = repo.transactions_for("plan-crash-stored")
    assert row.status == "pending"
    assert w3.eth.get_transaction_count(account.address, "pending") == nonce0  # never broadcast

    monkeypatch.setenv(KEY_ENV, account.key.hex())
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=account.address)
    executor = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)
    report = executor.recover()
    assert report.rebroadcast == [row.tx_hash]  # the stored signed bytes, not a new signature
    report = track_pending(w3, ExecutionStore(repo), sender=account.address, timeout_s=10)
    assert report.plans == {"plan-crash-stored": "confirmed"}
    (row,) = repo.transactions_for("plan-crash-stored")
    assert row.status == "included"
    assert w3.eth.get_transaction_count(account.address) == nonce0 + 1
    assert token.functions.balanceOf(RECIPIENT).call() == before + AMOUNT
