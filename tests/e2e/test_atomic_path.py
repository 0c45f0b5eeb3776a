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
