"""Morpho Blue atomic deleverage (one flash-loan transaction): the sale of the market's collateral for its loan
token (every venue of the pair, else the Morpho oracle price less a haircut) and the historical entry point
``plan_atomic_deleverage_morpho``, a thin call into the one solver's ``atomic_pair_deleverage`` over a
``MorphoLoanModel`` (mirrors morpho-blue v1.0.0 ``Morpho.sol`` shares math). Pure: no I/O.
"""

from __future__ import annotations

import math

from manager.domain import DepthCurve, SizingDecision
from manager.protocols.morpho_blue import math as mm
from manager.sizing._checks import NoDebtError, target_health
from manager.sizing.atomic import _premium
from manager.sizing.caps import SizingLimits
from manager.sizing.depth import SwapModel
from manager.sizing.venues import DepthEntry, VenueSet, curves_of, venue_set


def morpho_sale(market: mm.MorphoMarket, curves: tuple[DepthCurve, ...], limits: SizingLimits,
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
    from manager.protocols.morpho_blue.loan import MorphoLoanModel
    from manager.sizing.solver import atomic_pair_deleverage

    t = target_health("target_hf", target_hf)
    prem = _premium(premium_bps)
    limits = limits or SizingLimits()
    if mm.borrowed_assets(market, position) == 0:
        raise NoDebtError("borrow_shares=0: nothing to deleverage", field="borrow_shares", value=0)
    model = MorphoLoanModel(market=market, position=position, name=name, account="",
                            block_number=block_number if block_number is not None else market.block_number,
                            block_timestamp=0, collateral_usd_per_wei=collateral_usd_per_wei)
    sale = morpho_sale(market, curves_of(depth), limits, haircut_bps)
    d = atomic_pair_deleverage(
        model, t, collateral=model.collateral, debt=model.loan, premium_bps=prem, sale=sale,
        limits=limits, fallback_note=(f"no depth curve for {market.collateral_symbol}->{market.loan_symbol}: sale "
                                      f"valued at the oracle less a {haircut_bps} bps haircut"))
    return d.model_copy(update={"block_number": block_number})


__all__ = ["morpho_sale", "plan_atomic_deleverage_morpho"]
