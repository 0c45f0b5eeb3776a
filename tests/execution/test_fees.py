"""Fees: base-fee-aware max fee, priority escalation with urgency, caps waived only in an emergency,
the hard clamp always, RBF bumps of at least 12.5 % on both fields, and the fee budget."""

from __future__ import annotations

import pytest

from manager.errors import PolicyViolation
from manager.execution.fees import (
    GWEI,
    FeePolicy,
    bump_fees,
    check_fee_budget,
    quote_fees,
    urgency_for_health,
)

POLICY = FeePolicy(max_fee_gwei=100, max_priority_fee_gwei=3, hard_max_fee_gwei=500, hard_max_priority_fee_gwei=20,
                   base_priority_fee_gwei=0.5, emergency_health=1.05, high_health=1.10)


def test_max_fee_follows_base_fee_and_priority_escalates_with_urgency():
    base = 20 * GWEI
    quotes = {u: quote_fees(base, u, POLICY) for u in ("low", "normal", "high", "emergency")}
    tips = [quotes[u].max_priority_fee_per_gas_wei for u in ("low", "normal", "high", "emergency")]
    assert tips == sorted(tips) and len(set(tips)) == 4
    assert quotes["normal"].max_priority_fee_per_gas_wei == 1 * GWEI
    assert quotes["normal"].max_fee_per_gas_wei == 2 * base + 1 * GWEI
    assert all(q.max_fee_per_gas_wei >= base for q in quotes.values())
    assert quote_fees(40 * GWEI, "normal", POLICY).max_fee_per_gas_wei > quotes["normal"].max_fee_per_gas_wei


def test_normal_caps_apply_until_emergency_then_only_the_hard_clamp():
    base = 80 * GWEI  # 2x headroom = 160 gwei > the 100 gwei cap
    high = quote_fees(base, "high", POLICY)
    assert high.max_fee_per_gas_wei == 100 * GWEI and high.capped_by == "max_fee"
    assert high.max_priority_fee_per_gas_wei == 2 * GWEI  # 0.5 * 4 < cap 3
    emergency = quote_fees(base, "emergency", POLICY)
    assert emergency.max_fee_per_gas_wei == 3 * base + 10 * GWEI  # cap waived: 250 gwei
    assert emergency.max_priority_fee_per_gas_wei == 10 * GWEI  # 0.5 * 20 > normal cap 3, < clamp 20
    clamped = quote_fees(400 * GWEI, "emergency", POLICY)
    assert clamped.max_fee_per_gas_wei == 500 * GWEI and clamped.capped_by == "hard_clamp"
    assert clamped.max_priority_fee_per_gas_wei <= 20 * GWEI


def test_urgency_from_health():
    assert urgency_for_health(1.04, POLICY) == "emergency"
    assert urgency_for_health(1.07, POLICY) == "high"
    assert urgency_for_health(1.5, POLICY) == "normal"
    assert urgency_for_health(None, POLICY, "low") == "low"


def test_rbf_bump_raises_both_fields_by_at_least_12_5_percent():
    prev = quote_fees(10 * GWEI, "normal", POLICY)
    bumped = bump_fees(prev, 10 * GWEI, "normal", POLICY)
    assert bumped is not None
    assert bumped.max_fee_per_gas_wei * 1000 >= prev.max_fee_per_gas_wei * 1125
    assert bumped.max_priority_fee_per_gas_wei * 1000 >= prev.max_priority_fee_per_gas_wei * 1125
    # a base fee that rose meanwhile is covered by the fresh quote
    risen = bump_fees(prev, 60 * GWEI, "normal", POLICY)
    assert risen is not None and risen.max_fee_per_gas_wei >= 60 * GWEI


def test_rbf_bump_refused_at_the_cap_and_never_past_the_clamp():
    at_cap = quote_fees(80 * GWEI, "normal", POLICY)
    assert at_cap.max_fee_per_gas_wei == 100 * GWEI
    assert bump_fees(at_cap, 80 * GWEI, "normal", POLICY) is None
    at_clamp = quote_fees(400 * GWEI, "emergency", POLICY)
    assert bump_fees(at_clamp, 400 * GWEI, "emergency", POLICY) is None
    # a tiny previous tip (1 wei) still grows by >= 1 wei
    from manager.execution.types import FeeQuote

    tiny = FeeQuote(max_fee_per_gas_wei=8, max_priority_fee_per_gas_wei=1, base_fee_wei=7, urgency="low")
    b = bump_fees(tiny, 7, "low", POLICY)
    assert b is not None and b.max_priority_fee_per_gas_wei >= 2 and b.max_fee_per_gas_wei >= 9


def test_fee_budget_weighs_gas_against_loss_avoided():
    ok = check_fee_budget(total_gas=1_000_000, max_fee_per_gas_wei=50 * GWEI, native_price_usd=2000.0,
                          expected_loss_avoided_usd=1_000.0, urgency="normal", policy=POLICY)
    assert ok.gas_cost_usd == pytest.approx(100.0)
    with pytest.raises(PolicyViolation, match=r"fee budget: worst-case gas \$100.00 exceeds 25%"):
        check_fee_budget(total_gas=1_000_000, max_fee_per_gas_wei=50 * GWEI, native_price_usd=2000.0,
                         expected_loss_avoided_usd=300.0, urgency="normal", policy=POLICY)
    # in an emergency up to the whole loss avoided may go to gas
    check_fee_budget(total_gas=1_000_000, max_fee_per_gas_wei=50 * GWEI, native_price_usd=2000.0,
                     expected_loss_avoided_usd=300.0, urgency="emergency", policy=POLICY)


def test_policy_rejects_inconsistent_clamp():
    with pytest.raises(ValueError):
        FeePolicy(max_fee_gwei=100, hard_max_fee_gwei=50)
