"""Atomic protective actions: one flash-loan-funded transaction per action (see ``manager/atomic``).

The executor contract runs a deleverage as: flash-borrow ``F`` of the debt token -> **repay ``F`` first** ->
withdraw ``X`` collateral -> sell it (one leg per venue) -> repay the flash loan ``F + premium``. Because the
repay lands before the withdraw, no intermediate state is riskier than the start, and no safety floor binds the
size: the action is sized to the target in one go.

- Aave V3 (``plan_atomic_deleverage`` / ``plan_atomic_boost``): the solvers of ``sizing.deleverage`` /
  ``sizing.boost`` in their flash-loan mode, limited to **one round** (one collateral, one debt token, one
  transaction) and sized on the merged venues of the pair (``sizing.venues``: every pool / fee tier / two-hop
  route, each leg valued after the earlier legs). The repay for the target is rounded up, a boost's borrow
  down, and the result is re-checked with the exact Aave v3.0 integer math.
- Morpho Blue (``plan_atomic_deleverage_morpho``): the smallest collateral sale whose guaranteed output repays
  enough for the exact ``_isHealthy`` health (shares math, ``toSharesDown`` on repay) to reach the target,
  found by bisection on the integer sale.

When the pools cannot deliver the target within ``limits.max_slippage_bps``, the decision is the largest
action within the limit now (``partial=True``, reason ``PARTIAL_REASON``): the next block re-reads and
continues. ``premium_bps`` is the flash lender's fee (Aave ``FLASHLOAN_PREMIUM_TOTAL``, read from the pool;
Morpho Blue: 0).

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypedDict

from manager.domain import DepthCurve, LendingPositionSnapshot, SizingDecision, SizingStep
from manager.sizing import morpho as mm
from manager.sizing._checks import BadInputError, NoDebtError, target_health
from manager.sizing.caps import SizingLimits, usd_cap_wei
from manager.sizing.deleverage import PARTIAL_REASON, _flash_amount, plan_deleverage
from manager.sizing.depth import SwapModel
from manager.sizing.fixed import WAD, percent_mul
from manager.sizing.venues import DepthEntry, VenueSet, curves_of, venue_set

PARTIAL_PAIR_REASON = "partial: one collateral/debt pair per transaction, will continue next block"
ATOMIC_NOTE = "atomic: one transaction (flash loan -> repay first -> withdraw -> swap -> repay flash)"


def _premium(premium_bps: int) -> int:
    if isinstance(premium_bps, bool) or int(premium_bps) != premium_bps or not 0 <= premium_bps < 10_000:
        raise BadInputError(f"premium_bps={premium_bps}: must be an int in [0, 10000)", field="premium_bps",
                            value=premium_bps)
    return int(premium_bps)


def plan_atomic_deleverage(
    snapshot: LendingPositionSnapshot,
    target_hf: float,
    *,
    premium_bps: int,
    depth: Mapping[tuple[str, str], DepthEntry] | None = None,
    limits: SizingLimits | None = None,
    collateral_order: tuple[str, ...] | None = None,
    emode_price_base: int | None = None,
) -> SizingDecision:
    """One atomic deleverage of an Aave V3 position toward ``target_hf`` (see the module docstring).

    Steps: ``flash_loan`` F, ``repay`` F, ``withdraw`` X, then the ``swap`` legs (their inputs sum to X, their
    minimum outputs to at least ``F + percentMul(F, premium_bps)``).
    """
    prem = _premium(premium_bps)
    limits = (limits or SizingLimits()).model_copy(update={"max_rounds": 1})
    d = plan_deleverage(snapshot, target_hf, depth=depth, limits=limits, flash_premium_bps=prem,
                        collateral_order=collateral_order, emode_price_base=emode_price_base)
    if d.action == "none" or not d.steps:
        return d
    note = f"{ATOMIC_NOTE}; flash premium {prem} bps"
    if not d.feasible and d.binding_constraint == "max_rounds":
        # NOTE: one collateral and one debt token per transaction; the next block sells the next one
        note += f"; {PARTIAL_PAIR_REASON}"
        return d.model_copy(update={"reason": f"{d.reason}; {note}", "partial": True})
    return d.model_copy(update={"reason": f"{d.reason}; {note}"})


def plan_atomic_boost(
    snapshot: LendingPositionSnapshot,
    target_hf: float,
    *,
    borrow_asset: str,
    supply_asset: str,
    premium_bps: int,
    depth: Mapping[tuple[str, str], DepthEntry] | None = None,
    limits: SizingLimits | None = None,
    emode_price_base: int | None = None,
) -> SizingDecision:
    """One atomic boost: flash ``F`` -> buy collateral (legs) -> supply -> borrow ``F + premium`` for the owner.

    The borrow is rounded down (the largest whose exact health after the supply is >= the target). A thin call into
    ``manager.sizing.solver.atomic_boost`` (the one boost solver, Aave and Morpho alike).
    """
    from manager.sizing.solver import atomic_boost

    return atomic_boost(snapshot.loan_model(emode_price_base=emode_price_base), target_hf, premium_bps=premium_bps,
                        borrow_asset=borrow_asset, supply_asset=supply_asset, depth=depth, limits=limits)


# --- Morpho Blue ------------------------------------------------------------------------------------
class _DecisionBase(TypedDict):
    """The fields every Morpho decision of ``plan_atomic_deleverage_morpho`` shares."""

    position: str
    health_before: float
    target_health: float
    block_number: int | None


def _morpho_sale(market: mm.MorphoMarket, curves: tuple[DepthCurve, ...], limits: SizingLimits,
                 haircut_bps: int) -> VenueSet:
    found = venue_set(curves, limits, market.oracle_price / mm.ORACLE_PRICE_SCALE)
    if found is not None:
        return found
    # NOTE: no curve: the oracle price less the haircut (the oracle is collateral in loan units, 1e36-scaled).
    rate = market.oracle_price / mm.ORACLE_PRICE_SCALE
    model = SwapModel.oracle(price_in_base=rate, price_out_base=1.0, decimals_in=0, decimals_out=0,
                             fee_bps=0.0, haircut_bps=float(haircut_bps))
    return VenueSet.single(model, math.inf)


def plan_atomic_deleverage_morpho(
    market: mm.MorphoMarket,
    position: mm.MorphoPosition,
    target_hf: float,
    *,
    premium_bps: int = 0,
    depth: DepthEntry | None = None,
    limits: SizingLimits | None = None,
    haircut_bps: int = 100,
    collateral_usd_per_wei: float | None = None,
    name: str = "",
    block_number: int | None = None,
) -> SizingDecision:
    """One atomic deleverage of a Morpho Blue position (market accrued to the block) toward ``target_hf``.

    ``depth``: the collateral -> loan venues (one curve or several); without one the sale is valued at the
    Morpho oracle less ``haircut_bps``. The repay ``F`` is what the sale's guaranteed output pays after the
    premium (``F + percentMul(F, premium) <= out``), never more than the debt.
    """
    t = target_health("target_hf", target_hf)
    prem = _premium(premium_bps)
    limits = limits or SizingLimits()
    b0 = mm.borrowed_assets(market, position)
    if b0 == 0:
        raise NoDebtError("borrow_shares=0: nothing to deleverage", field="borrow_shares", value=0)
    hf0 = mm.health_factor(market, position)
    coll, loan = market.collateral_token, market.loan_token
    cs, ls = market.collateral_symbol, market.loan_symbol
    base: _DecisionBase = {"position": name, "health_before": hf0, "target_health": t,
                           "block_number": block_number}
    if hf0 >= t:
        return SizingDecision(action="none", projected_health=hf0, binding_constraint="already_at_target",
                              reason=f"HF {hf0:.6f} >= target {t:g}", best_reachable_health=hf0, **base)
    sale = _morpho_sale(market, curves_of(depth), limits, haircut_bps)
    bounds: dict[str, float] = {"collateral_exhausted": float(position.collateral_wei), "pool_depth": sale.cap_wei}
    if collateral_usd_per_wei is not None:
        bounds["per_action_cap"] = usd_cap_wei(limits.per_action_usd, collateral_usd_per_wei)
        bounds["per_day_cap"] = usd_cap_wei(limits.per_day_remaining_usd, collateral_usd_per_wei)
    bound_name = min(bounds, key=lambda k: bounds[k])
    x_max = min(position.collateral_wei, math.floor(bounds[bound_name]) if math.isfinite(bounds[bound_name])
                else position.collateral_wei)
    whole = b0

    def outcome(x: int) -> tuple[int, float]:
        """(repay assets, exact health) for a sale of ``x`` collateral."""
        if x <= 0:
            return 0, hf0
        out = math.floor(sale.model.out_wei(min(float(x), sale.model.max_in_wei)))
        f = min(_flash_amount(out, prem), whole)
        if f >= whole:
            m2, p2, _ = mm.apply_repay_shares(market, position, position.borrow_shares)
        else:
            m2, p2 = mm.apply_repay_assets(market, position, f)
        p2 = mm.apply_withdraw_collateral(p2, x)
        return f, mm.health_factor(m2, p2)

    solve_t = t * (1 + 1e-6)
    _, h_max = outcome(x_max)
    if h_max >= solve_t:
        lo, hi = 0, x_max  # smallest x with health >= target (health rises with the sale while it is efficient)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if outcome(mid)[1] >= solve_t:
                hi = mid
            else:
                lo = mid
        x, binding = hi, "target_health"
    else:
        x, binding = x_max, bound_name
    f, h = outcome(x)
    if x <= 0 or f <= 0 or h <= hf0:
        return SizingDecision(action="none", projected_health=hf0, binding_constraint=binding, feasible=False,
                              best_reachable_health=hf0, reason=f"cannot deleverage toward HF {t:g}: bound by {binding}",
                              **base)
    legs = sale.legs(0.0, x) if sale.split or len(sale.venues[0].fees_pips) > 1 else None
    if legs is not None:
        got = sum(lg.min_out_wei for lg in legs)
        f = min(f, _flash_amount(got, prem))
        m2, p2 = mm.apply_repay_assets(market, position, f)
        h = mm.health_factor(m2, mm.apply_withdraw_collateral(p2, x))
    need_out = f + percent_mul(f, prem)
    swaps: list[SizingStep]
    if legs is None:
        swaps = [SizingStep(kind="swap", asset=coll, symbol=cs, amount_wei=x, asset_out=loan, symbol_out=ls,
                            min_amount_out_wei=need_out, projected_health=h)]
    else:
        swaps = [SizingStep(kind="swap", asset=coll, symbol=cs, amount_wei=lg.amount_in_wei, asset_out=loan,
                            symbol_out=ls, min_amount_out_wei=lg.min_out_wei, path=lg.tokens, fees_pips=lg.fees_pips,
                            projected_health=h) for lg in legs]
    m1, p1 = mm.apply_repay_assets(market, position, f) if f < whole else mm.apply_repay_shares(
        market, position, position.borrow_shares)[:2]
    steps = [SizingStep(kind="flash_loan", asset=loan, symbol=ls, amount_wei=f),
             SizingStep(kind="repay", asset=loan, symbol=ls, amount_wei=f, projected_health=mm.health_factor(m1, p1)),
             SizingStep(kind="withdraw", asset=coll, symbol=cs, amount_wei=x, projected_health=h), *swaps]
    feasible = h >= t - limits.tolerance_hf
    partial = not feasible and binding == "pool_depth"
    parts = [f"deleverage HF {hf0:.4f} -> {h:.4f} (target {t:g}) in 1 round", f"{ATOMIC_NOTE}; flash premium {prem} bps"]
    if sale.split:
        parts.append(f"sale split over {sale.describe()}")
    if math.isinf(sale.cap_wei):
        parts.append(f"no depth curve for {cs}->{ls}: sale valued at the oracle less a {haircut_bps} bps haircut")
    if partial:
        parts.append(f"{PARTIAL_REASON} (best reachable HF now {h:.4f})")
    elif not feasible:
        parts.append(f"target not reachable: stopped by {binding}; best reachable HF {h:.4f}")
    notional = x * collateral_usd_per_wei if collateral_usd_per_wei is not None else 0.0
    return SizingDecision(
        action="deleverage", steps=tuple(steps), deltas_wei={cs: -x, ls: -f}, projected_health=h,
        binding_constraint=binding, reason="; ".join(parts), feasible=feasible, best_reachable_health=h,
        notional_usd=notional, collateral_deltas_wei={cs: -x}, debt_deltas_wei={ls: -f}, rounds=1,
        uses_flash_loan=True, partial=partial, **base,
    )


def min_health_wad(decision: SizingDecision) -> int:
    """The on-chain floor of an atomic action: never below the health before it (a protective action must not
    make the position worse), at least 1.0, never above the projected health."""
    before = decision.health_before if decision.health_before is not None else 1.0
    projected = decision.projected_health if decision.projected_health is not None else before
    floor = max(1.0, before) if math.isfinite(before) else 1.0
    if math.isfinite(projected):
        floor = min(floor, projected)
    return math.floor(floor * WAD)


__all__ = ["ATOMIC_NOTE", "min_health_wad", "plan_atomic_boost", "plan_atomic_deleverage",
           "plan_atomic_deleverage_morpho"]
