"""Executor on a real anvil: simulate -> fork replay -> sign -> store -> broadcast -> record; reverts
never broadcast; policy refusals stored; dry-run sends nothing; idempotent plan ids; one nonce owner."""

from __future__ import annotations

import threading

import pytest
from eth_account import Account

from manager.execution.types import Preconditions
from manager.persistence import PlanStatus

from .helpers import RECIPIENT, limits_for, make_executor, transfer_plan

pytestmark = pytest.mark.chain

TOKEN_UNIT = 10**18


@pytest.fixture
def executor(w3, signer, repo, token, anvil):
    return make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)


def test_plan_is_simulated_sent_and_fully_recorded(w3, executor, token, account, repo):
    before = token.functions.balanceOf(RECIPIENT).call()
    nonce0 = w3.eth.get_transaction_count(account.address)
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, 3 * TOKEN_UNIT, 4 * TOKEN_UNIT)
    result = executor.execute(plan)
    assert result.status == "confirmed", result.reason
    assert [s.status for s in result.steps] == ["included", "included"]
    assert [s.nonce for s in result.steps] == [nonce0, nonce0 + 1]
    assert token.functions.balanceOf(RECIPIENT).call() == before + 7 * TOKEN_UNIT
    stored = repo.get_plan(plan.plan_id)
    assert stored.status == PlanStatus.CONFIRMED.value and len(stored.steps_json) == 2
    txs = repo.transactions_for(plan.plan_id)
    assert [(t.step_index, t.status) for t in txs] == [(0, "included"), (1, "included")]
    for t, s in zip(txs, result.steps, strict=True):
        assert t.tx_hash == s.tx_hash and t.block_included == s.block_number and t.gas_used > 0
        assert Account.recover_transaction(t.raw_tx_hex) == account.address
        assert t.max_fee_per_gas_wei > 0 and t.sender == account.address
    assert repo.daily_usage(_today(repo), counter="executed_notional_usd") == pytest.approx(100.0)

    # the same plan id again: nothing is sent a second time
    again = executor.execute(plan)
    assert again.already_known and again.status == "confirmed"
    assert w3.eth.get_transaction_count(account.address) == nonce0 + 2


def _today(repo):
    import datetime as dt

    return dt.datetime.fromtimestamp(repo._clock(), tz=dt.UTC).date()


def test_a_step_that_would_revert_is_never_broadcast(w3, executor, token, account, repo):
    nonce0 = w3.eth.get_transaction_count(account.address)
    block0 = w3.eth.block_number
    too_much = token.functions.balanceOf(account.address).call() + 1
    plan = transfer_plan(account.address, token.address, block0, too_much)
    result = executor.execute(plan)
    assert result.status == "refused"
    assert result.reason == (f"simulation: step 0 (transfer {too_much}) would revert: "
                             "Error('ERC20: transfer amount exceeds balance')")
    assert w3.eth.get_transaction_count(account.address, "pending") == nonce0
    assert w3.eth.block_number == block0
    assert repo.transactions_for(plan.plan_id) == []
    assert repo.get_plan(plan.plan_id).refusal_reason == result.reason


def test_a_later_step_that_reverts_on_the_fork_stops_everything(w3, executor, token, account, repo):
    nonce0 = w3.eth.get_transaction_count(account.address)
    balance = token.functions.balanceOf(account.address).call()
    # each step alone is fine at the latest block; together the second overdraws: only the fork sees it
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, balance - TOKEN_UNIT, 2 * TOKEN_UNIT)
    result = executor.execute(plan)
    assert result.status == "refused"
    assert "step 1@fork (transfer" in result.reason and "exceeds balance" in result.reason
    assert w3.eth.get_transaction_count(account.address, "pending") == nonce0
    assert repo.transactions_for(plan.plan_id) == []


def test_policy_refusal_is_stored_with_its_reason(w3, signer, repo, token, anvil, account):
    executor = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url,
                             limits=limits_for(token.address, per_tx_usd=50.0))
    nonce0 = w3.eth.get_transaction_count(account.address)
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, TOKEN_UNIT, usd_each=60.0)
    result = executor.execute(plan)
    assert result.status == "refused"
    assert result.reason == f"policy: step 0 (transfer {TOKEN_UNIT}): $60.00 exceeds the per-transaction cap $50.00"
    assert repo.get_plan(plan.plan_id).status == "refused"
    assert w3.eth.get_transaction_count(account.address, "pending") == nonce0


def test_per_day_cap_accumulates_across_plans(w3, signer, repo, token, anvil, account):
    executor = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url,
                             limits=limits_for(token.address, per_day_usd=250.0))
    first = executor.execute(transfer_plan(account.address, token.address, w3.eth.block_number, TOKEN_UNIT,
                                           usd_each=100.0, notional_usd=150.0))
    assert first.status == "confirmed"
    second = executor.execute(transfer_plan(account.address, token.address, w3.eth.block_number, TOKEN_UNIT,
                                            usd_each=100.0, notional_usd=150.0))
    assert second.status == "refused" and "already used today exceeds the per-day cap $250.00" in second.reason


def test_stale_plan_is_not_sent(w3, executor, token, account, anvil):
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, TOKEN_UNIT,
                         preconditions=Preconditions(max_block_age_blocks=2))
    anvil.call("anvil_mine", [hex(3)])
    result = executor.execute(plan)
    assert result.status == "failed" and "plan is stale" in result.reason


def test_dry_run_does_everything_but_broadcast(w3, signer, repo, token, anvil, account):
    executor = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url, dry_run=True)
    nonce0 = w3.eth.get_transaction_count(account.address, "pending")
    block0 = w3.eth.block_number
    plan = transfer_plan(account.address, token.address, block0, 5 * TOKEN_UNIT)
    result = executor.execute(plan)
    assert result.status == "dry_run"
    assert w3.eth.block_number == block0 and w3.eth.get_transaction_count(account.address, "pending") == nonce0
    (tx,) = result.would_send
    assert (tx.nonce, tx.to, tx.data) == (nonce0, token.address, plan.steps[0].data)
    assert Account.recover_transaction(tx.raw_tx_hex) == account.address
    assert tx.gas_limit > 21_000 and tx.max_fee_per_gas_wei >= w3.eth.get_block("latest")["baseFeePerGas"]
    assert repo.transactions_for(plan.plan_id) == []  # nothing a reconciler could ever broadcast
    assert repo.get_plan(plan.plan_id).status == "dry_run"
    # the real broadcast of what dry-run returned is exactly what a live run would have done
    assert w3.eth.get_transaction_count(account.address) == nonce0


def test_concurrent_plans_get_distinct_gapless_nonces(w3, signer, repo, token, anvil, account):
    executor = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)
    nonce0 = w3.eth.get_transaction_count(account.address)
    block = w3.eth.block_number
    plans = [transfer_plan(account.address, token.address, block, TOKEN_UNIT, TOKEN_UNIT) for _ in range(4)]
    results = {}

    def run(p):
        results[p.plan_id] = executor.execute(p)

    threads = [threading.Thread(target=run, args=(p,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r.status == "confirmed" for r in results.values()), [r.reason for r in results.values()]
    nonces = sorted(s.nonce for r in results.values() for s in r.steps)
    assert nonces == list(range(nonce0, nonce0 + 8))
    # a plan's own steps stay consecutive: plans never interleave
    for r in results.values():
        assert r.steps[1].nonce == r.steps[0].nonce + 1
    assert w3.eth.get_transaction_count(account.address) == nonce0 + 8
