"""``planner.choose_path``: the atomic path when the signer has an executor, granted, and a lender can lend the whole
debt (Morpho Blue first: free; else Aave at the pool's premium), the direct path otherwise - and the reason says
which and why. ``build_plan`` turns an atomic decision into ONE executor call whose legs carry the sizing core's
minimum outs, and refuses a flash-loan decision without the atomic path."""

from __future__ import annotations

import pytest
from eth_abi import decode

from manager.domain import AtomicReads
from manager.execution.planner import AtomicSetup, UnplannableDecision, build_plan, choose_path
from manager.protocols.aave_v3.atomic import plan_atomic_deleverage
from manager.protocols.aave_v3.plan import PlanContext
from manager.sizing.caps import SizingLimits
from tests.sizing.builders import USDC, WETH, a1, cpmm_curve

EXECUTOR = "0x00000000000000000000000000000000000e0ec0"
POOL = "0x0000000000000000000000000000000000a0a0e0"
MORPHO = "0x000000000000000000000000000000000000b1e0"
ROUTER = "0x0000000000000000000000000000000000005a77"


def ctx(atomic: bool = True, min_debt_usd: float = 0.0) -> PlanContext:
    setup = AtomicSetup(executor=EXECUTOR, aave_pool=POOL, morpho=MORPHO, min_debt_usd=min_debt_usd) if atomic else None
    return PlanContext(pool=POOL, router=ROUTER, account="0x00000000000000000000000000000000000000aa",
                       max_slippage_bps=100, fees_pips={("WETH", "USDC"): 500}, atomic=setup)


def reads(**kw) -> AtomicReads:
    base = dict(executor=EXECUTOR, block_number=100, aave_pool=POOL, aave_premium_bps=9,
                aave_flash_enabled={USDC.lower(): True}, aave_available_wei={USDC.lower(): 10**15},
                morpho=MORPHO, morpho_balance_wei={USDC.lower(): 10**15},
                withdraw_allowance_wei={WETH.lower(): 10**30})
    base.update(kw)
    return AtomicReads(**base)


def test_morpho_first_when_it_holds_the_whole_debt():
    c = choose_path(ctx(), a1(), reads())
    assert c.atomic and c.flash_kind == "morpho" and c.premium_bps == 0 and c.lender == MORPHO
    assert c.why.startswith("path: atomic (Morpho Blue flash loan, free")


def test_aave_at_the_pools_premium_when_morpho_is_short():
    c = choose_path(ctx(), a1(debt_usdc=10_000), reads(morpho_balance_wei={USDC.lower(): 5 * 10**9}))
    assert c.atomic and c.flash_kind == "aave" and c.premium_bps == 9 and c.lender == POOL
    assert "premium 9 bps read from the pool" in c.why and "Morpho Blue holds only 5000000000" in c.why


@pytest.mark.parametrize("kw,setup,why", [
    ({}, {"atomic": False}, "no executor contract configured"),
    ({"withdraw_allowance_wei": {}}, {}, "aToken allowance 0 < collateral"),
    ({"morpho_balance_wei": {}, "aave_flash_enabled": {USDC.lower(): False}}, {}, "no flash liquidity"),
    ({"morpho_balance_wei": {}, "aave_available_wei": {USDC.lower(): 1}}, {}, "no flash liquidity"),
    ({}, {"min_debt_usd": 50_000.0}, "gas dominates"),
])
def test_direct_path_and_why(kw, setup, why):
    c = choose_path(ctx(**setup), a1(), reads(**kw))
    assert not c.atomic and c.why.startswith("path: direct (") and why in c.why, c.why


def test_no_reads_this_tick_is_direct():
    c = choose_path(ctx(), a1(), None)
    assert not c.atomic and "not read" in c.why


def test_atomic_plan_is_one_executor_call_with_the_sizing_min_outs():
    snap = a1(weth_price_base=1300 * 10**8)
    curve = cpmm_curve(WETH, USDC, 2000e18, 2_600_000e6, fee_pips=500, n=60, max_fraction=0.3)
    d = plan_atomic_deleverage(snap, 1.5, premium_bps=0, depth={(WETH, USDC): curve},
                               limits=SizingLimits(max_slippage_bps=100, min_action_usd=0))
    choice = choose_path(ctx(), snap, reads())
    plan = build_plan(d, snap, ctx(), path=choice)
    assert len(plan.steps) == 1
    step = plan.steps[0]
    assert step.to.lower() == EXECUTOR.lower() and step.kind == "call"
    legs = step.inner
    swap = next(s for s in d.steps if s.kind == "swap")
    assert len(legs) == 1 and legs[0].swap.min_amount_out_wei == swap.min_amount_out_wei
    assert legs[0].swap.within_slippage(100)
    # the calldata carries the flash amount (= the repay, first) and the withdraw of the decision
    from manager.atomic.encode import _PLAN

    (plan_tuple,) = decode([_PLAN], bytes.fromhex(step.data[10:]))
    flash = next(s for s in d.steps if s.kind == "flash_loan")
    withdraw = next(s for s in d.steps if s.kind == "withdraw")
    assert plan_tuple[7] == flash.amount_wei and plan_tuple[8] == withdraw.amount_wei
    assert plan_tuple[10] >= int(d.health_before * 10**18)  # the on-chain floor: never worse than before


def test_flash_decision_without_the_atomic_path_is_refused():
    snap = a1(weth_price_base=1300 * 10**8)
    d = plan_atomic_deleverage(snap, 1.5, premium_bps=0, limits=SizingLimits(min_action_usd=0))
    with pytest.raises(UnplannableDecision, match="needs the atomic path"):
        build_plan(d, snap, ctx(atomic=False), path=choose_path(ctx(atomic=False), snap, None))


def test_cdp_health_repays_the_stranded_proceeds_not_the_borrowed_funds():
    from manager.protocols.aave_v3.math import health_factor
    from strategies import cdp_health
    from strategies.api import StrategyContext

    snap = a1(weth_price_base=1300 * 10**8)
    cfg = cdp_health.Config(trigger_health=1.3, target_health=1.5, cooldown_s=0)
    base = dict(position="p", mode="manage", block_number=100, block_timestamp=1_700_000_000, now_s=1_700_000_000,
                health=health_factor(snap), limits=SizingLimits(min_action_usd=0))
    wallet = {USDC: 10_000 * 10**6}  # borrowed USDC sits in the wallet: not spent by default
    plain = cdp_health.decide(cfg, snap, StrategyContext(**base, wallet_wei=wallet))
    assert plain.steps[0].kind == "withdraw"  # the borrowed USDC in the wallet is not touched
    stranded = cdp_health.decide(cfg, snap, StrategyContext(**base, wallet_wei=wallet,
                                                            interrupted_proceeds_wei={USDC.lower(): 2_000 * 10**6}))
    first = stranded.steps[0]
    assert first.kind == "repay" and first.asset == USDC and first.amount_wei == 2_000 * 10**6
    assert "finishing a part-executed plan from the chain state" in stranded.reason
