"""Morpho Blue boost through the manager's real loop on the devnet (issue 13: one solver, Morpho gets boost).

manager4's seeded WETH/USDC position (10 WETH / 23,000 USDC, LLTV 0.915) is pushed above its upper band by a WETH
rally; ``cdp_health`` boosts it back to the target in ONE transaction to the signer's executor (Morpho's fee-free
flash loan of USDC -> swap to WETH -> ``supplyCollateral`` -> ``borrow`` for the owner -> repay the flash loan, the
owner's health checked on chain), sized by the one solver over Morpho's loan model. Without an executor the same
solver plans the direct rounds (borrow -> swap -> supplyCollateral), each step keeping the health above the floor.
The health is read from Morpho itself at every block, and each direct borrow's exact projected health is checked:
never below the lower band.
"""

from __future__ import annotations

import pytest

from tests.e2e.crash_harness import Harness, cdp

pytestmark = pytest.mark.chain

BAND = {"trigger_health": 1.15, "target_health": 1.3, "upper_health": 1.45, "cooldown_s": 0}


def _boosted(net, tmp_path, executors: bool):
    spec = cdp("morpho-weth", "manager4", protocol="morpho-WETH-USDC", **BAND)
    h = Harness(net, tmp_path, (spec,), open_positions=False, executors=executors)
    try:
        net.set_price("WETH", 3900)  # +30%: HF ~1.19 -> ~1.55 > upper 1.45
        before = h.health_at("morpho-weth")
        start = int(net.w3.eth.block_number)
        report = h.tick()
        out = report.positions["morpho-weth"]
        series = h.health_series("morpho-weth", start)
        sent = h.sent_txs(start).get("morpho-weth", [])
        after = h.health_at("morpho-weth")
    finally:
        h.close()
    return before, after, out, sent, series


def test_morpho_boost_is_one_transaction_to_target(net, tmp_path):
    before, after, out, sent, series = _boosted(net, tmp_path, executors=True)
    assert before > BAND["upper_health"], before
    d = out.decision
    assert d.action == "boost" and d.uses_flash_loan, d.reason
    assert "path: atomic" in d.reason and "Morpho Blue flash loan" in d.reason, d.reason
    assert out.status in ("submitted", "confirmed"), (out.status, out.reason)
    assert len(sent) == 1  # one transaction for the whole boost
    assert after == pytest.approx(BAND["target_health"], rel=0.005), (before, after)
    # the loan model's exact health at the swap's guaranteed minimum out; the pool delivered its quote (>= min)
    assert d.projected_health is not None and d.projected_health <= after < d.projected_health * 1.002
    assert all(hf >= BAND["trigger_health"] for _b, hf in series), series
    gas = sum(int(net.w3.eth.get_transaction_receipt(tx)["gasUsed"]) for _b, tx in sent)
    print(f"\nMorpho atomic boost: 1 transaction, {gas} gas, HF {before:.4f} -> {after:.4f}; {d.reason}")


def test_morpho_boost_without_executor_runs_direct_rounds(net, tmp_path):
    before, after, out, sent, series = _boosted(net, tmp_path, executors=False)
    d = out.decision
    assert d.action == "boost" and not d.uses_flash_loan, d.reason
    assert [s.kind for s in d.steps][:3] == ["borrow", "swap", "supply"], d.steps
    # every borrow lands before its supply: its exact projected health stays at or above the lower band
    assert all(s.projected_health is not None and s.projected_health >= BAND["trigger_health"]
               for s in d.steps if s.kind in ("borrow", "supply")), d.steps
    assert out.status in ("submitted", "confirmed"), (out.status, out.reason)
    assert before > BAND["upper_health"] > after >= BAND["trigger_health"], (before, after)
    if d.feasible:
        assert after == pytest.approx(BAND["target_health"], rel=0.005), (before, after)
    assert all(hf >= BAND["trigger_health"] for _b, hf in series), series
    gas = sum(int(net.w3.eth.get_transaction_receipt(tx)["gasUsed"]) for _b, tx in sent)
    print(f"\nMorpho direct boost: {len(sent)} transaction(s), {gas} gas, HF {before:.4f} -> {after:.4f}; "
          f"rounds {d.rounds}, lowest HF after a borrow "
          f"{min(s.projected_health or 0.0 for s in d.steps if s.kind == 'borrow'):.4f}")
