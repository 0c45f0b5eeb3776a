"""Atomic protective actions: one flash-loan-funded transaction per action (see ``manager/atomic``).

The executor contract runs a deleverage as: flash-borrow ``F`` of the debt token -> **repay ``F`` first** ->
withdraw ``X`` collateral -> sell it (one leg per venue) -> repay the flash loan ``F + premium``. Because the
repay lands before the withdraw, no intermediate state is riskier than the start, and no safety floor binds the
size: the action is sized to the target in one go.

Both protocols go through the one solver (``manager.sizing.solver``) over their loan model
(``manager.sizing.loan``); the functions here are the historical entry points, thin calls into it:

- ``plan_atomic_deleverage`` (Aave V3) / ``plan_atomic_deleverage_morpho`` (Morpho Blue):
  ``solver.atomic_pair_deleverage``, one collateral and one debt token per transaction (Aave: the largest debt
  and the most efficient collateral, chosen by the model): the smallest integer sale whose guaranteed output
  (the merged venues of the pair, ``sizing.venues``: every pool / fee tier / two-hop route, each leg valued after
  the earlier legs) repays enough for the model's exact health (Aave: the pool revision's integer rules;
  Morpho: ``_isHealthy`` shares math, ``toSharesDown`` on repay) to reach the target, found by bisection; short
  of it the exact optimum within the bounds (pools, caps, the collateral).
- ``plan_atomic_boost``: ``solver.atomic_boost`` (flash -> swap -> supply -> borrow ``F + premium``), the borrow
  rounded down, the final borrow passing the protocol's gate with the new collateral counted.

When the pools cannot deliver the target within ``limits.max_slippage_bps``, the decision is the largest
action within the limit now (``partial=True``, reason ``PARTIAL_REASON``): the next block re-reads and
continues. ``premium_bps`` is the flash lender's fee (Aave ``FLASHLOAN_PREMIUM_TOTAL``, read from the pool;
Morpho Blue: 0).

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from manager.domain import DepthCurve, SizingDecision
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing import morpho as mm
from manager.sizing._checks import BadInputError, NoDebtError, target_health
from manager.sizing.caps import SizingLimits
from manager.sizing.depth import SwapModel
from manager.sizing.fixed import WAD
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
    minimum outputs to at least ``F + percentMul(F, premium_bps)``). A thin call into the one solver's
    ``manager.sizing.solver.atomic_deleverage`` over the position's Aave loan model.
    """
    from manager.sizing.solver import atomic_deleverage

    prem = _premium(premium_bps)
    return atomic_deleverage(snapshot.loan_model(emode_price_base=emode_price_base), target_hf, premium_bps=prem,
                             depth=depth, limits=limits, collateral_order=collateral_order)


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
    premium (``F + percentMul(F, premium) <= out``), never more than the debt. A thin call into the one solver's
    ``manager.sizing.solver.atomic_pair_deleverage`` over the position's ``MorphoLoanModel``.
    """
    from manager.sizing.loan import MorphoLoanModel
    from manager.sizing.solver import atomic_pair_deleverage

    t = target_health("target_hf", target_hf)
    prem = _premium(premium_bps)
    limits = limits or SizingLimits()
    if mm.borrowed_assets(market, position) == 0:
        raise NoDebtError("borrow_shares=0: nothing to deleverage", field="borrow_shares", value=0)
    model = MorphoLoanModel(market=market, position=position, name=name, account="",
                            block_number=block_number if block_number is not None else market.block_number,
                            block_timestamp=0, collateral_usd_per_wei=collateral_usd_per_wei)
    sale = _morpho_sale(market, curves_of(depth), limits, haircut_bps)
    d = atomic_pair_deleverage(
        model, t, collateral=model.collateral, debt=model.loan, premium_bps=prem, sale=sale,
        limits=limits, fallback_note=(f"no depth curve for {market.collateral_symbol}->{market.loan_symbol}: sale "
                                      f"valued at the oracle less a {haircut_bps} bps haircut"))
    return d.model_copy(update={"block_number": block_number})


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
