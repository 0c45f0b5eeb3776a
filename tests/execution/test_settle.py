"""``submit.settle``: a step whose nonce is used while no receipt of ours is visible stays ``unconfirmed``
(re-checked by hash) and is declared ``dropped`` only after ``confirm_blocks`` blocks with none of our hashes
found; a hash the node reports in a block is never dropped. Block-based, no sleeping."""

from __future__ import annotations

import time

import pytest
from web3.exceptions import TransactionNotFound

from manager.execution.executor import ExecutorHooks
from manager.execution.signer import Signer
from manager.execution.store import ExecutionStore
from manager.execution.submit import settle
from manager.execution.types import PreparedTx

from .conftest import KEY_ENV
from .helpers import RECIPIENT, make_executor, transfer_plan

SENDER = "0x00000000000000000000000000000000000000A1"
TOKEN = "0x00000000000000000000000000000000000000B2"
HASH = "0x" + "ab" * 32


class FakeEth:
    """The node view ``settle`` reads: account nonce, head, receipts and transactions by hash."""

    def __init__(self, nonce_used: bool = True) -> None:
        self.block_number = 100
        self.mined_nonce = 8 if nonce_used else 7
        self.receipts: dict[str, dict] = {}
        self.txs: dict[str, dict] = {}

    def get_transaction_count(self, _sender, _block="latest"):
        return self.mined_nonce

    def get_transaction_receipt(self, tx_hash):
        if tx_hash not in self.receipts:
            raise TransactionNotFound(tx_hash)
        return self.receipts[tx_hash]

    def get_transaction(self, tx_hash):
        if tx_hash not in self.txs:
            raise TransactionNotFound(tx_hash)
        return self.txs[tx_hash]


class FakeW3:
    def __init__(self, **kw) -> None:
        self.eth = FakeEth(**kw)


@pytest.fixture
def store(repo):
    store = ExecutionStore(repo)
    plan = transfer_plan(SENDER, TOKEN, 90, 10**18, plan_id="plan-settle")
    store.create_plan(plan)
    store.record_signed(PreparedTx(
        plan_id=plan.plan_id, step_index=0, label="t", sender=SENDER, to=TOKEN, data="0x", value_wei=0, nonce=7,
        gas_limit=100_000, max_fee_per_gas_wei=10, max_priority_fee_per_gas_wei=1, chain_id=1, tx_hash=HASH,
        raw_tx_hex="0x02" + "ee" * 100,
    ))
    return store


def test_used_nonce_without_our_receipt_is_dropped_only_after_confirm_blocks(store, repo):
    w3 = FakeW3()
    started = time.monotonic()
    for _ in range(3):  # heads 100, 101, 102: fewer than 3 blocks past the first observation
        assert settle(w3, store, SENDER, [HASH], 7, confirm_blocks=3) == ("unconfirmed", None, None)
        assert repo.transactions_for("plan-settle")[0].status == "pending"
        w3.eth.block_number += 1
    assert settle(w3, store, SENDER, [HASH], 7, confirm_blocks=3) == ("dropped", None, None)
    assert repo.transactions_for("plan-settle")[0].status == "dropped"
    assert time.monotonic() - started < 1.0  # no sleep-based retries


def test_used_nonce_on_a_still_head_is_never_dropped(store, repo):
    w3 = FakeW3()
    for _ in range(5):  # no block arrives: time alone never makes a transaction dropped
        assert settle(w3, store, SENDER, [HASH], 7)[0] == "unconfirmed"
    assert repo.transactions_for("plan-settle")[0].status == "pending"


def test_hash_known_in_a_block_is_never_dropped_and_included_once_the_receipt_shows(store, repo):
    w3 = FakeW3()
    w3.eth.txs[HASH] = {"hash": HASH, "blockNumber": 100}
    for _ in range(6):
        assert settle(w3, store, SENDER, [HASH], 7, confirm_blocks=3)[0] == "unconfirmed"
        w3.eth.block_number += 1
    w3.eth.receipts[HASH] = {"status": 1, "blockNumber": 100, "gasUsed": 50_000}
    status, _receipt, mined = settle(w3, store, SENDER, [HASH], 7, confirm_blocks=3)
    assert (status, mined) == ("included", HASH)
    row = repo.transactions_for("plan-settle")[0]
    assert row.status == "included" and row.block_included == 100


def test_receipt_late_after_the_nonce_moved_is_included_not_dropped(store, repo):
    w3 = FakeW3()
    assert settle(w3, store, SENDER, [HASH], 7)[0] == "unconfirmed"
    w3.eth.block_number += 1
    w3.eth.receipts[HASH] = {"status": 1, "blockNumber": 101, "gasUsed": 50_000}
    assert settle(w3, store, SENDER, [HASH], 7)[0] == "included"


def test_unused_nonce_is_pending(store):
    assert settle(FakeW3(nonce_used=False), store, SENDER, [HASH], 7) == ("pending", None, None)


class Crash(BaseException):
    pass


@pytest.mark.chain
def test_nonce_taken_by_another_tx_is_dropped_after_three_blocks(w3, anvil, token, account, repo, monkeypatch):
    """On anvil: the stored tx's nonce is used by a different transaction of the same key (not ours)."""
    monkeypatch.setenv(KEY_ENV, account.key.hex())
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=account.address)

    def die(prepared):
        raise Crash(prepared.tx_hash)

    plan = transfer_plan(account.address, token.address, w3.eth.block_number, 10**18)
    first = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url,
                          hooks=ExecutorHooks(after_store=die))
    with pytest.raises(Crash):
        first.execute(plan)
    (row,) = repo.transactions_for(plan.plan_id)
    other = account.sign_transaction({"type": 2, "chainId": w3.eth.chain_id, "nonce": row.nonce, "to": RECIPIENT,
                                      "value": 1, "gas": 21_000, "maxFeePerGas": 10**11,
                                      "maxPriorityFeePerGas": 10**9})
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(other.raw_transaction))

    executor = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)
    report = executor.recover()
    assert report.still_pending == [row.tx_hash] and report.rebroadcast == [] and report.dropped == []
    assert repo.get_plan(plan.plan_id).status == "submitted"
    anvil.call("anvil_mine", [hex(2)])
    assert executor.recover().dropped == []
    anvil.call("anvil_mine", [hex(1)])
    report = executor.recover()
    assert report.dropped == [row.tx_hash] and report.plans == {plan.plan_id: "failed"}
    assert repo.transactions_for(plan.plan_id)[0].status == "dropped"
