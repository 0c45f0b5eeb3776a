"""Strategies see a position through its loan model only: the same code decides Aave V3 and Morpho Blue.

Pure: synthetic Morpho Blue WETH/USDC market and Aave position; every decision is checked with the model's exact
health (``LoanModel.after``), and no strategy module names a protocol or dispatches on a snapshot type.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from manager.sizing.caps import SizingLimits
from strategies import cdp_health, collateral_switch, price_trigger
from strategies._price import feeds_of
from strategies.api import StrategyContext
from tests.sizing.builders import a1, cpmm_curve
from tests.sizing.test_solver_invariants import COLL, LOAN, morpho_snapshot

LIM = SizingLimits(min_action_usd=0, max_slippage_bps=100)


def ctx_for(snap, *, premium: int | None, **kw) -> StrategyContext:
    model = snap.loan_model()
    return StrategyContext(position="p", mode="manage", block_number=snap.block_number,
                           block_timestamp=snap.block_timestamp, now_s=float(snap.block_timestamp),
                           health=model.health(), limits=LIM, flash_premium_bps=premium, **kw)


def depth(price: float) -> dict:
    return {(COLL, LOAN): cpmm_curve(COLL, LOAN, 5000e18, 5000 * price * 1e6),
            (LOAN, COLL): cpmm_curve(LOAN, COLL, 5000 * price * 1e6, 5000e18, dec_in=6, dec_out=18)}


@pytest.mark.parametrize("premium", [None, 0])
def test_cdp_health_boosts_a_morpho_position_above_the_band(premium):
    snap = morpho_snapshot(10.0, 15_000.0, 3_000.0)  # HF 1.72
    cfg = cdp_health.Config(trigger_health=1.2, target_health=1.4, upper_health=1.6)
    d = cdp_health.decide(cfg, snap, ctx_for(snap, premium=premium, depth=depth(3_000.0)))
    assert d is not None and d.action == "boost" and d.feasible, d.reason
    assert d.uses_flash_loan == (premium is not None)
    model = snap.loan_model()
    kinds = [s.kind for s in d.steps]
    assert kinds == (["flash_loan", "swap", "supply", "borrow"] if premium is not None
                     else ["borrow", "swap", "supply"] * (len(kinds) // 3))
    after = model.after(d.collateral_deltas_wei, d.debt_deltas_wei)
    assert after.health() == pytest.approx(d.projected_health, rel=1e-12)
    assert 1.4 <= d.projected_health <= 1.4 + LIM.tolerance_hf


@pytest.mark.parametrize("premium", [None, 5])
def test_cdp_health_deleverages_both_protocols_through_the_same_code(premium):
    cfg = cdp_health.Config(trigger_health=1.2, target_health=1.4)
    for snap in (morpho_snapshot(10.0, 24_000.0, 3_000.0), a1(weth_price_base=1300 * 10**8)):
        ctx = ctx_for(snap, premium=premium)
        assert ctx.health < 1.2
        d = cdp_health.decide(cfg, snap, ctx)
        assert d is not None and d.action == "deleverage" and d.feasible, d.reason
        assert d.projected_health >= 1.4 - LIM.tolerance_hf


def test_price_trigger_boosts_morpho_and_collateral_switch_says_why_not():
    snap = morpho_snapshot(10.0, 12_000.0, 3_000.0)
    oracles = feeds_of(snap)
    cfg = price_trigger.Config(asset="WETH", above_usd=2_900.0, action="boost", target_health=1.5)
    d = price_trigger.decide(cfg, snap, ctx_for(snap, premium=0, depth=depth(3_000.0), oracles=oracles))
    assert d is not None and d.action == "boost" and d.uses_flash_loan, d.reason
    sw = collateral_switch.Config.model_validate({"from": "WETH", "to": "USDC", "min_health": 1.2})
    out = collateral_switch.decide(sw, snap, ctx_for(snap, premium=0))
    assert out is not None and out.action == "none" and out.binding_constraint == "unsupported"
    assert "one collateral" in out.reason


def test_no_strategy_dispatches_on_a_protocol():
    root = pathlib.Path(cdp_health.__file__).parent
    for path in sorted(root.glob("*.py")):
        text = path.read_text()
        assert not re.search(r"\b(aave_v3|morpho_blue|synthetix_perps)\b", text), path.name
        assert not re.search(r"isinstance\([^)]*(Snapshot|Position)", text), path.name
        assert "manager.protocols" not in text, path.name


@pytest.mark.parametrize("out", ["USDC", "WETH"])
def test_morpho_close_through_the_loan_model(out):
    from manager.sizing import solver
    from manager.sizing.automations import INTEREST_BUFFER_BPS
    from strategies import close_on_price

    snap = morpho_snapshot(10.0, 20_000.0, 3_000.0)
    model = snap.loan_model()
    d = solver.close(model, out_asset=out, premium_bps=0, depth=depth(3_000.0), limits=LIM)
    assert d.action == "close" and d.feasible, d.reason
    debt = model.loan.debt_wei
    flash, repay, withdraw, *swaps = d.steps
    assert (flash.kind, flash.amount_wei, repay.kind, repay.amount_wei) == ("flash_loan", debt, "repay", debt)
    assert withdraw.kind == "withdraw" and withdraw.amount_wei == model.collateral.collateral_wei
    got = sum(s.min_amount_out_wei or 0 for s in swaps)
    buffered = debt + -(-debt * INTEREST_BUFFER_BPS // 10_000)
    assert got >= buffered  # the legs' guaranteed output covers the debt (with the interest buffer)
    if out == "USDC":  # the whole collateral is sold
        assert sum(s.amount_wei for s in swaps) == model.collateral.collateral_wei
        assert d.close_min_out_wei == got - buffered and d.close_out_asset == LOAN
    else:  # only what covers the debt; the rest of the collateral goes to the wallet
        assert d.close_min_out_wei == model.collateral.collateral_wei - sum(s.amount_wei for s in swaps) > 0
        assert d.close_out_asset == COLL
    # close_on_price: a partial close is refused for this protocol, and says why
    cfg = close_on_price.Config(asset="WETH", below_usd=3_100.0, fraction=0.5, out="USDC")
    no = close_on_price.decide(cfg, snap, ctx_for(snap, premium=0, oracles=feeds_of(snap)))
    assert no is not None and no.action == "none" and no.binding_constraint == "unsupported", no.reason
    full = close_on_price.decide(cfg.model_copy(update={"fraction": 1.0}), snap,
                                 ctx_for(snap, premium=0, oracles=feeds_of(snap), depth=depth(3_000.0)))
    assert full is not None and full.action == "close", full.reason
