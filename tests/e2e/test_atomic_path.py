"""The atomic path through the manager's real loop on the devnet: a position below its trigger is brought to
its target in ONE transaction to the signer's executor (flash loan, repay first, withdraw, swap, repay flash),
and without an executor the direct path runs and the decision says why."""

from __future__ import annotations

import pytest

from tests.e2e.crash_harness import Harness, cdp

pytestmark = pytest.mark.chain

CAROL = cdp("carol-cdp", "carol")  # seeded: 20 WETH, 42,000 USDC, HF ~1.19 (< trigger 1.3)


def test_atomic_deleverage_is_one_transaction_to_target(net, tmp_path):
    h = Harness(net, tmp_path, (CAROL,), open_positions=False)
    try:
        before = h.health_at("carol-cdp")
        start = int(net.w3.eth.block_number)
        report = h.tick()
    finally:
        h.close()
    out = report.positions["carol-cdp"]
    assert out.status in ("submitted", "confirmed"), (out.status, out.reason)
    assert "path: atomic" in out.decision.reason and "Morpho Blue flash loan" in out.decision.reason, out.decision.reason
    sent = h.sent_txs(start)["carol-cdp"]
    assert len(sent) == 1  # one transaction for the whole protective action
    after = h.health_at("carol-cdp")
    assert before < 1.3 and after == pytest.approx(1.5, rel=0.005), (before, after)
    GAS["atomic"] = _gas(net, sent)
    print(f"\natomic path: 1 transaction, {GAS['atomic']} gas, HF {before:.4f} -> {after:.4f}")


GAS: dict[str, int] = {}


def _gas(net, txs) -> int:
    return sum(int(net.w3.eth.get_transaction_receipt(tx)["gasUsed"]) for _b, tx in txs)


def test_without_executor_the_direct_path_says_why(net, tmp_path):
    h = Harness(net, tmp_path, (CAROL,), open_positions=False, executors=False)
    start = int(net.w3.eth.block_number)
    try:
        report = h.tick()
        for _ in range(8):  # the direct loop: one transaction per step, settled tick after tick
            if abs(h.health_at("carol-cdp") / 1.5 - 1) <= 0.005:
                break
            h.tick()
    finally:
        h.close()
    out = report.positions["carol-cdp"]
    assert "path: direct (no executor contract configured for the signer)" in out.decision.reason
    assert out.status in ("submitted", "confirmed"), (out.status, out.reason)
    sent = h.sent_txs(start)["carol-cdp"]
    GAS["direct"], GAS["direct_txs"] = _gas(net, sent), len(sent)
    GAS["direct_ticks"] = len(h.records)
    print(f"\ndirect path: {len(sent)} transactions, {GAS['direct']} gas, {len(h.records)} ticks, "
          f"HF {h.health_at('carol-cdp'):.4f}")


def test_a_direct_plan_stopped_after_its_swap_is_finished_from_the_chain_state(net, tmp_path):
    """A direct plan mined its withdraw and swap, then stopped (failed before the repay): the USDC it got sits in
    the wallet beside the USDC carol borrowed. The next tick repays exactly those proceeds first (from the
    execution record, capped by the wallet) and leaves the borrowed USDC alone."""
    t = net.book["tokens"]
    carol = net.address("carol")
    pool = net.contract("aave_v3/Pool", net.book["aave"]["pool"])
    weth = net.contract("erc20/WETH9", t["WETH"])
    usdc = net.contract("erc20/MintableERC20", t["USDC"])
    router = net.contract("uniswap_v3/SwapRouter", net.book["uniswap"]["router"])
    borrowed = usdc.functions.balanceOf(carol).call()
    amount = 2 * 10**18
    r_withdraw = net.transact(pool.functions.withdraw(t["WETH"], amount, carol), sender=carol)
    r_approve = net.transact(weth.functions.approve(router.address, amount), sender=carol)
    r_swap = net.transact(router.functions.exactInputSingle((t["WETH"], t["USDC"], 500, carol, 2**40, amount, 0, 0)),
                          sender=carol)
    proceeds = usdc.functions.balanceOf(carol).call() - borrowed
    assert proceeds > 5_000 * 10**6
    h = Harness(net, tmp_path, (cdp("carol-cdp", "carol", use_wallet_funds="collateral"),), open_positions=False)
    try:
        repo = h.manager.repo
        # the shape the planner records (labels, an exact-input swap with its guaranteed minimum out)
        steps = [{"kind": "call", "label": "withdraw WETH", "token": t["WETH"], "amount_wei": amount},
                 {"kind": "approve", "label": "approve router WETH", "token": t["WETH"], "amount_wei": amount},
                 {"kind": "call", "label": "swap WETH -> USDC", "token": t["WETH"], "amount_wei": amount,
                  "swap": {"mode": "exact_in", "token_out": t["USDC"], "min_amount_out_wei": proceeds}},
                 {"kind": "approve", "label": "approve pool USDC", "token": t["USDC"], "amount_wei": proceeds},
                 {"kind": "call", "label": "repay USDC", "token": t["USDC"], "amount_wei": proceeds}]
        block = int(r_withdraw["blockNumber"]) - 1
        repo.create_plan("plan-carol-cdp-stopped", position="carol-cdp", block_number=block, steps=steps,
                         action="deleverage")
        for status in ("simulated", "submitted", "failed"):
            repo.update_plan_status("plan-carol-cdp-stopped", status, error="step 3 not sent: stopped after the swap; "
                                    "steps 0..2 were executed" if status == "failed" else None)
        for i, rc in enumerate((r_withdraw, r_approve, r_swap)):
            h_tx = rc["transactionHash"].hex()
            h_tx = h_tx if h_tx.startswith("0x") else "0x" + h_tx
            repo.record_tx(plan_id="plan-carol-cdp-stopped", step_index=i, nonce=i, tx_hash=h_tx, raw_tx_hex="0x02" + "00" * 100,
                           sender=carol)
            repo.update_tx(h_tx, status="included", block_included=int(rc["blockNumber"]))
        report = h.tick()
    finally:
        h.close()
    out = report.positions["carol-cdp"]
    d = out.decision
    assert "finishing a part-executed plan from the chain state" in d.reason, d.reason
    assert d.steps[0].kind == "repay" and d.steps[0].asset == t["USDC"] and d.steps[0].amount_wei == proceeds
    assert out.status in ("submitted", "confirmed"), (out.status, out.reason)
    assert usdc.functions.balanceOf(carol).call() >= borrowed  # the borrowed USDC was not spent
    assert h.health_at("carol-cdp") > 1.2


def test_atomic_boost_is_one_transaction_to_target(net, tmp_path):
    """alice (10 WETH / 12k USDC, HF ~2.07) above her upper band: one executor call borrows for her (credit
    delegation), buys WETH and supplies it, back to the target."""
    alice = cdp("alice-cdp", "alice", trigger_health=1.3, target_health=1.6, upper_health=1.9)
    h = Harness(net, tmp_path, (alice,), open_positions=False)
    try:
        before = h.health_at("alice-cdp")
        start = int(net.w3.eth.block_number)
        report = h.tick()
    finally:
        h.close()
    out = report.positions["alice-cdp"]
    assert out.decision.action == "boost" and out.decision.uses_flash_loan, out.decision.reason
    assert out.status in ("submitted", "confirmed"), (out.status, out.reason)
    assert len(h.sent_txs(start)["alice-cdp"]) == 1
    after = h.health_at("alice-cdp")
    assert before > 1.9 and after == pytest.approx(1.6, rel=0.005), (before, after)
