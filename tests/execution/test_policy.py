"""Policy: allow-list of (contract, selector), exact approvals, per-tx and per-day USD caps, slippage
against the oracle; each refusal is one line naming the rule."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from manager.errors import NeverSubmitError, PolicyViolation
from manager.execution.calls import selector_of
from manager.execution.policy import PolicyLimits, check_plan, selectors_from_abi
from manager.execution.types import Plan, TxStep
from manager.protocols.aave_v3 import encode as aave
from manager.protocols.uniswap_v3 import encode as uni

POOL = to_checksum_address("0x" + "a1" * 20)
ROUTER = to_checksum_address("0x" + "b2" * 20)
WETH = to_checksum_address("0x" + "c3" * 20)
USDC = to_checksum_address("0x" + "d4" * 20)
ME = to_checksum_address("0x" + "e5" * 20)
APPROVE = selector_of("approve(address,uint256)")

LIMITS = PolicyLimits(
    allowed_calls={
        POOL: selectors_from_abi("aave_v3/Pool", ["withdraw", "repay", "supply"]),
        ROUTER: selectors_from_abi("uniswap_v3/SwapRouter", ["exactInput", "exactOutput"]),
        WETH: frozenset({APPROVE}),
        USDC: frozenset({APPROVE}),
    },
    per_tx_usd=10_000,
    per_day_usd=25_000,
    max_slippage_bps=100,
)


def swap(slippage_bps: int = 50, usd: float = 3000.0) -> TxStep:
    return uni.exact_input(ROUTER, tokens=[WETH, USDC], fees_pips=[500], recipient=ME, amount_in_wei=10**18,
                           price_in_base=3000 * 10**8, price_out_base=10**8, decimals_in=18, decimals_out=6,
                           slippage_bps=slippage_bps, deadline_unix_s=1, usd_value=usd)


def plan(*steps: TxStep, notional: float = 3000.0) -> Plan:
    return Plan(plan_id="p1", position="pos", account=ME, block_number=1, steps=steps, notional_usd=notional)


def deleverage() -> Plan:
    return plan(
        aave.withdraw(POOL, WETH, 10**18, ME, usd_value=3000),
        aave.approve_for_pool(ROUTER, WETH, 10**18, usd_value=3000),
        swap(),
        aave.approve_for_pool(POOL, USDC, 2970 * 10**6, usd_value=2970),
        aave.repay(POOL, USDC, 2970 * 10**6, ME, usd_value=2970),
    )


def test_a_plan_within_limits_passes():
    check_plan(deleverage(), LIMITS, used_today_usd=1_000)


def _refusal(p: Plan, limits: PolicyLimits = LIMITS, used: float = 0.0) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as err:
        check_plan(p, limits, used_today_usd=used)
    assert isinstance(err.value, NeverSubmitError)
    assert "\n" not in str(err.value) and str(err.value).startswith("policy: ")
    return err.value


def test_contract_not_allow_listed():
    stranger = to_checksum_address("0x" + "99" * 20)
    err = _refusal(plan(aave.repay(stranger, USDC, 1, ME)))
    assert err.rule == "allow_list_contract" and f"contract {stranger} is not allow-listed" in str(err)


def test_selector_not_allow_listed():
    err = _refusal(plan(aave.borrow(POOL, USDC, 1, ME)))  # borrow is not in the allowed selectors
    assert err.rule == "allow_list_selector"
    assert f"function {selector_of('borrow(address,uint256,uint256,uint16,address)')} is not allow-listed" in str(err)


def test_unlimited_approval_refused_even_if_hand_built():
    data = "0x095ea7b3" + POOL[2:].lower().rjust(64, "0") + "f" * 64
    err = _refusal(plan(TxStep(to=USDC, data=data, label="sneaky approve", kind="call")))
    assert err.rule == "unlimited_approval"


def test_per_tx_cap():
    err = _refusal(plan(aave.repay(POOL, USDC, 1, ME, usd_value=10_000.01)))
    assert err.rule == "per_tx_cap" and "$10,000.01 exceeds the per-transaction cap $10,000.00" in str(err)


def test_per_day_cap_counts_what_was_used_today():
    err = _refusal(deleverage(), used=22_500.0)
    assert err.rule == "per_day_cap"
    assert "$3,000.00 plus $22,500.00 already used today exceeds the per-day cap $25,000.00" in str(err)


def test_slippage_above_max_refused():
    err = _refusal(plan(swap(slippage_bps=150)))
    assert err.rule == "slippage" and "slippage 150.0 bps vs oracle exceeds max 100 bps" in str(err)


def test_slippage_recomputed_from_bounds_not_trusted_from_label():
    loose = swap(slippage_bps=500)
    # a step that *claims* 50 bps but whose minimum out (calldata and bounds) is 5 % under the oracle
    forged = loose.model_copy(update={"swap": loose.swap.model_copy(update={"slippage_bps": 50})})
    err = _refusal(plan(forged))
    assert err.rule == "slippage" and "500.0 bps" in str(err)


def test_swap_without_bounds_refused():
    bare = swap().model_copy(update={"swap": None})
    assert _refusal(plan(bare)).rule == "slippage"


def test_native_value_refused_unless_allowed():
    step = aave.repay(POOL, USDC, 1, ME).model_copy(update={"value_wei": 1})
    assert _refusal(plan(step)).rule == "native_value"


def test_swap_calldata_must_match_its_bounds():
    honest = swap(slippage_bps=50)
    worse = swap(slippage_bps=90)
    # calldata of a 90 bps swap under the bounds of a 50 bps one: refused
    mixed = honest.model_copy(update={"data": worse.data})
    err = _refusal(plan(mixed))
    assert "differs from its oracle-derived bounds" in str(err)
    # a router swap labelled as a generic call is still a swap
    disguised = honest.model_copy(update={"kind": "call", "swap": None})
    assert _refusal(plan(disguised)).rule == "slippage"


def test_allow_list_keys_are_normalised():
    lower = PolicyLimits(allowed_calls={POOL.lower(): {s.upper().replace("0X", "0x") for s in LIMITS.allowed_calls[POOL]}},
                         per_tx_usd=10_000, per_day_usd=25_000, max_slippage_bps=100)
    check_plan(plan(aave.repay(POOL, USDC, 1, ME)), lower)
