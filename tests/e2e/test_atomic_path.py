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


def test_without_executor_the_direct_path_says_why(net, tmp_path):
    h = Harness(net, tmp_path, (CAROL,), open_positions=False, executors=False)
    try:
        report = h.tick()
    finally:
        h.close()
    out = report.positions["carol-cdp"]
    assert "path: direct (no executor contract configured for the signer)" in out.decision.reason
    assert out.status in ("submitted", "confirmed"), (out.status, out.reason)
