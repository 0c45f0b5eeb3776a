"""Morpho Blue sizing of the price automations (issue 16): the one-transaction close, reached through
``MorphoLoanModel.close_position``. The executor's ``close`` repays by shares (exactly), withdraws all the collateral
and sells it (or just what covers the debt). Shares math: ``manager.protocols.morpho_blue.math`` (mirrors
morpho-blue v1.0.0 ``Morpho.sol``); the shared helpers are ``manager.sizing.automations``. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from manager.domain import SizingDecision, SizingStep
from manager.sizing.atomic import _premium
from manager.sizing.automations import CLOSE_NOTE, INTEREST_BUFFER_BPS
from manager.sizing.automations import none_decision as _none
from manager.sizing.automations import sale_for as _sale_for
from manager.sizing.automations import sale_swaps as _swaps
from manager.sizing.caps import SizingLimits
from manager.sizing.fixed import percent_mul
from manager.sizing.venues import DepthEntry


def plan_atomic_close_morpho(snap: Any, *, out_asset: str, premium_bps: int,
                             depth: Mapping[tuple[str, str], DepthEntry] | None = None,
                             limits: SizingLimits | None = None) -> SizingDecision:
    """Close a Morpho Blue position in one transaction: the executor's ``close`` repays by shares (exactly),
    withdraws all the collateral and sells it (or just what covers the debt). ``snap``: a ``MorphoPositionSnapshot``
    or its ``MorphoLoanModel`` (the market accrued to the block)."""
    from manager.protocols.morpho_blue.atomic import morpho_sale as _morpho_sale
    from manager.protocols.morpho_blue.loan import MorphoLoanModel

    model: MorphoLoanModel = snap if isinstance(snap, MorphoLoanModel) else snap.loan_model()
    prem = _premium(premium_bps)
    limits = limits or SizingLimits()
    market, position, name, block = model.market, model.position, model.name, model.block_number
    c, d = model.collateral, model.loan
    loan, coll, ls, cs = d.asset, c.asset, d.symbol, c.symbol
    debt = d.debt_wei
    h0 = model.health()
    if debt == 0:
        return _none(name, block, None, "no debt: nothing to close", "no_debt")
    if out_asset not in (loan, ls, coll, cs):
        return _none(name, block, h0, f"out asset {out_asset} is neither {ls} nor {cs}", "bad_out_asset")
    to_debt = out_asset in (loan, ls)
    # NOTE: without a curve the sale is valued at the Morpho oracle less the slippage haircut; the runtime then
    # reads the pair's depth (the decision swaps it) and decides again on the pools' curves
    vs = _morpho_sale(market, model.curves(c, d, depth), limits, max(1, int(limits.max_slippage_bps)))
    debt_buf = debt + -(-debt * INTEREST_BUFFER_BPS // 10_000)
    need = debt_buf + percent_mul(debt_buf, prem)
    have = position.collateral_wei
    x = have if to_debt else _sale_for(vs, need, have)
    if x is None or x > vs.cap_wei:
        return _none(name, block, h0, f"the {cs} sale does not fit within {limits.max_slippage_bps:g} "
                     "bps; use cdp_health to deleverage step by step", "pool_depth")
    swaps = _swaps(vs, (coll, cs), (loan, ls), x, math.inf)
    got = sum(s.min_amount_out_wei or 0 for s in swaps)
    if got < need:
        return _none(name, block, h0, "the sale's guaranteed output does not cover the debt", "pool_depth")
    min_out = got - need if to_debt else max(0, have - x)
    steps = (SizingStep(kind="flash_loan", asset=loan, symbol=ls, amount_wei=debt),
             SizingStep(kind="repay", asset=loan, symbol=ls, amount_wei=debt, projected_health=math.inf),
             SizingStep(kind="withdraw", asset=coll, symbol=cs, amount_wei=have, projected_health=math.inf), *swaps)
    return SizingDecision(
        position=name, action="close", steps=steps, health_before=h0, projected_health=math.inf,
        binding_constraint="close", feasible=True, block_number=block,
        reason=(f"close: repay {debt} {ls} (by shares), withdraw {have} {cs}, sell {x} {cs}; the wallet gets >= "
                f"{min_out} {ls if to_debt else cs}; {CLOSE_NOTE}; flash premium {prem} bps"),
        notional_usd=have * (c.usd_per_wei or 0.0),
        deltas_wei={cs: -have, ls: -debt}, collateral_deltas_wei={cs: -have}, debt_deltas_wei={ls: -debt}, rounds=1,
        uses_flash_loan=True, close_out_asset=loan if to_debt else coll, close_min_out_wei=min_out)


__all__ = ["plan_atomic_close_morpho"]
