"""Replace-by-fee on a real anvil: automine off, the base fee spikes above the sent max fee, blocks pass
without inclusion, the submitter re-signs the same nonce with both fees up >= 12.5 % and it is included."""

from __future__ import annotations

import threading

import pytest

from manager.execution.executor import ExecutorHooks
from manager.execution.signer import Signer

from .conftest import KEY_ENV
from .helpers import RECIPIENT, make_executor, transfer_plan

pytestmark = pytest.mark.chain

GWEI = 10**9


class Miner:
    """Mines a block every ``interval_s`` until stopped (automine is off)."""

    def __init__(self, anvil, interval_s: float = 0.05) -> None:
        self.anvil, self.interval_s = anvil, interval_s
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            self.anvil.call("evm_mine")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)


def test_underpriced_tx_is_bumped_and_included(w3, repo, token, anvil, account, monkeypatch):
    monkeypatch.setenv(KEY_ENV, account.key.hex())
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=account.address)
    miner = Miner(anvil)

    def spike_base_fee_then_mine(prepared) -> None:
        # the tx is in the mempool with max fee ~2.8 gwei; the next blocks' base fee is far above it
        assert prepared.max_fee_per_gas_wei < 40 * GWEI
        anvil.call("anvil_setNextBlockBaseFeePerGas", [hex(50 * GWEI)])
        miner.start()

    executor = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url,
                             hooks=ExecutorHooks(after_broadcast=spike_base_fee_then_mine),
                             timeout_blocks=2, max_wait_s=20.0)
    nonce0 = w3.eth.get_transaction_count(account.address)
    before = token.functions.balanceOf(RECIPIENT).call()
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, 10**18)
    anvil.call("evm_setAutomine", [False])
    try:
        result = executor.execute(plan)
    finally:
        miner.stop()
    assert result.status == "confirmed", result.reason
    (step,) = result.steps
    assert step.status == "included" and step.replacements >= 1 and step.nonce == nonce0
    txs = repo.transactions_for(plan.plan_id)
    assert len(txs) == step.replacements + 1 and {t.nonce for t in txs} == {nonce0}
    original, *bumps = txs
    assert original.status == "replaced" and original.replaced_by == step.tx_hash
    assert bumps[-1].status == "included" and bumps[-1].tx_hash == step.tx_hash
    for old, new in zip(txs, bumps, strict=False):
        assert new.max_fee_per_gas_wei * 1000 >= old.max_fee_per_gas_wei * 1125
        assert new.max_priority_fee_per_gas_wei * 1000 >= old.max_priority_fee_per_gas_wei * 1125
    mined = w3.eth.get_transaction(step.tx_hash)
    assert mined["maxFeePerGas"] >= w3.eth.get_block(step.block_number)["baseFeePerGas"]
    # included exactly once
    assert w3.eth.get_transaction_count(account.address) == nonce0 + 1
    assert token.functions.balanceOf(RECIPIENT).call() == before + 10**18
