"""Morpho Blue deleverage decisions over the loan model: rounds of withdrawCollateral -> swap -> repay.

``decide_deleverage`` turns the exact round solver ``manager.protocols.morpho_blue.math.plan_deleverage`` (the market accrued to
the snapshot's block: ``MorphoLoanModel``) into the project's ``SizingDecision``, sizing the sales from the
collateral -> loan pool's depth curve when one is given (else the oracle less a haircut, said in the reason) within
``SizingLimits`` (USD caps, safety floor, rounds). With wallet funds (collateral tokens an interrupted plan withdrew,
loan tokens its swaps left) it first finishes from the wallet (``repay_from_wallet``). Called through
``manager.sizing.solver.deleverage``; ``manager.protocols.morpho_blue.plan.decide_deleverage`` is a thin call into it.

Mirrors morpho-blue v1.0.0 ``Morpho.sol`` (``withdrawCollateral``, ``repay``, ``_isHealthy``). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from manager.domain import ActionKind, SizingDecision, SizingStep
from manager.protocols.morpho_blue import math as mm
from manager.sizing.caps import SizingLimits
from manager.sizing.depth import SwapModel, curve_sale
from manager.sizing.venues import DepthEntry

if TYPE_CHECKING:
    from manager.protocols.morpho_blue.loan import MorphoLoanModel
    from manager.sizing.loan import DeleverageOptions


def decide_deleverage(model: MorphoLoanModel, target_hf: float, *,
                      depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                      opts: DeleverageOptions) -> SizingDecision:
    """The deleverage decision for ``model`` (rounds of withdraw -> swap -> repay) toward ``target_hf``.

    ``depth``: the collateral -> loan curve, when present, values every sale (guaranteed output = quotes less
    ``limits.swap_tolerance_bps``, the pool used cumulatively over the rounds, each round within the pool's depth at
    ``limits.max_slippage_bps``). Without it a sale is valued at the oracle price less ``opts.swap_haircut_bps``.
    """
    m, cset, lset = model.market, model.collateral, model.loan
    curve = next((c for c in model.curves(cset, lset, depth) if len(c.route[1]) == 1), None)
    swap: SwapModel | None = None
    depth_cap = math.inf
    if curve is not None:
        swap, depth_cap = curve_sale(curve, limits or SizingLimits())
    if opts.wallet_wei:
        finish = _finish_from_wallet(model, target_hf, opts.wallet_wei, swap, depth_cap, opts.swap_haircut_bps)
        if finish is not None:
            return finish
    coll_usd = cset.usd_per_wei
    plan = mm.plan_deleverage(m, model.position, target_hf, swap_haircut_bps=opts.swap_haircut_bps,
                              safety_floor_hf=opts.safety_floor_hf, max_rounds=opts.max_rounds, swap=swap,
                              depth_cap_wei=depth_cap, limits=limits, collateral_usd_per_wei=coll_usd)
    coll, loan = m.collateral_token, m.loan_token
    cs, ls = m.collateral_symbol, m.loan_symbol
    steps: list[SizingStep] = []
    coll_out = debt_out = 0
    for i, r in enumerate(plan.rounds):
        steps.append(SizingStep(kind="withdraw", asset=coll, symbol=cs, amount_wei=r.collateral_wei, round=i,
                                projected_health=r.health_after_withdraw))
        steps.append(SizingStep(kind="swap", asset=coll, symbol=cs, amount_wei=r.collateral_wei, asset_out=loan,
                                symbol_out=ls, min_amount_out_wei=r.min_loan_out_wei, round=i,
                                projected_health=r.health_after_withdraw))
        steps.append(SizingStep(kind="repay", asset=loan, symbol=ls, amount_wei=r.repay_assets_wei, round=i,
                                projected_health=r.health_after if r.health_after != float("inf") else None))
        coll_out += r.collateral_wei
        debt_out += r.repay_assets_wei
    if curve is not None:
        how = (f"sales sized from the {cs}->{ls} pool depth curve (pool {curve.pool}, fee {curve.fee_pips} pips, "
               f"block {curve.block_number})")
    else:
        how = (f"no depth curve for {cs}->{ls}: sales valued at the oracle price less a {opts.swap_haircut_bps} bps "
               "haircut (fallback)")
    loan_usd = lset.usd_per_wei
    notional = (coll_out * coll_usd if coll_usd is not None
                else debt_out * loan_usd if loan_usd is not None else 0.0)
    action: ActionKind = "deleverage" if steps else "none"
    return SizingDecision(
        position=model.name, action=action, steps=tuple(steps),
        deltas_wei={cs: -coll_out, ls: -debt_out} if steps else {},
        collateral_deltas_wei={cs: -coll_out} if steps else {}, debt_deltas_wei={ls: -debt_out} if steps else {},
        health_before=plan.health_before, projected_health=plan.projected_health, target_health=plan.target_health,
        binding_constraint=plan.binding_constraint, reason=f"{plan.reason}; {how}", feasible=plan.feasible,
        best_reachable_health=plan.projected_health, notional_usd=notional,
        block_number=model.block_number, rounds=len(plan.rounds))


def _finish_from_wallet(model: MorphoLoanModel, target_hf: float, wallet_wei: Mapping[str, int],
                        swap: SwapModel | None, depth_cap: float, haircut_bps: int) -> SizingDecision | None:
    """Sell the wallet's collateral tokens and repay with them and the wallet's loan tokens (no withdraw)."""
    m, position = model.market, model.position
    coll, loan = m.collateral_token, m.loan_token
    held = {k.lower(): int(v) for k, v in wallet_wei.items()}
    debt = mm.borrowed_assets(m, position)
    if debt <= 0:
        return None
    sell = min(held.get(coll.lower(), 0), int(depth_cap) if math.isfinite(depth_cap) else held.get(coll.lower(), 0))
    sale = mm._Sale(m.oracle_price, haircut_bps, swap)
    out = sale.out(sell) if sell > 0 else 0
    if out <= 0:
        sell = 0
    # NOTE: never repay the last wei by assets (shares round against the payer): leave it to a full round.
    repay = min(held.get(loan.lower(), 0) + out, debt - 1)
    if repay <= 0:
        return None
    m2, p2 = mm.apply_repay_assets(m, position, repay)
    health_before = mm.health_factor(m, position)
    after = mm.health_factor(m2, p2)
    cs, ls = m.collateral_symbol, m.loan_symbol
    steps: list[SizingStep] = []
    if sell > 0:
        steps.append(SizingStep(kind="swap", asset=coll, symbol=cs, amount_wei=sell, asset_out=loan, symbol_out=ls,
                                min_amount_out_wei=out, round=0, projected_health=health_before))
    steps.append(SizingStep(kind="repay", asset=loan, symbol=ls, amount_wei=repay, round=0,
                            projected_health=after if after != float("inf") else None))
    coll_usd = model.collateral.usd_per_wei
    loan_usd = model.loan.usd_per_wei
    return SizingDecision(
        position=model.name, action="repay_from_wallet", steps=tuple(steps),
        deltas_wei={ls: -repay}, debt_deltas_wei={ls: -repay}, health_before=health_before,
        projected_health=after, target_health=target_hf, binding_constraint="wallet",
        reason=(f"finishing from the wallet: sell {sell} {cs} wei, repay {repay} {ls} wei "
                f"(HF {health_before:.4f} -> {after:.4f}); further rounds next tick from fresh reads"),
        feasible=after >= target_hf, best_reachable_health=after,
        notional_usd=(sell * coll_usd if coll_usd else 0.0) + (repay * loan_usd if loan_usd and not coll_usd else 0.0),
        block_number=model.block_number, rounds=1)


__all__ = ["decide_deleverage"]
