"""Perpetual futures math: isolated-margin liquidation prices, margin ratio, leverage, target sizing.

- Generic isolated margin (notes §5): maintenance ratio ``m`` on mark notional (or entry notional),
  a closing fee ``φ`` adds to ``m``.
- Synthetix PerpsV2 (``contracts/PerpsV2MarketBase.sol``, ``PerpsV2MarketViews.sol``):
  ``liquidationMargin = |size|·price·buffer + clamp(|size|·price·feeRatio, minKeeper, maxKeeper) + keeperLiqFee``,
  ``liqPremium = |size|/skewScale·|size|·price·multiplier``; liquidatable iff
  ``remainingMargin - liqPremium <= liquidationMargin``. The exact boundary solves that at the mark price.
- GMX v2 (``contracts/position/PositionUtils.sol#isPositionLiquidatable``): derived liquidation price.

Prices and USD amounts are floats (these venues are not integer-exact at our decision level).
Signed ``size`` is in base-asset units: > 0 long, < 0 short.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from manager.domain import Frozen
from manager.sizing._checks import BadInputError, finite, non_negative, positive

Side = Literal["long", "short"]


def _side(side: str) -> int:
    if side == "long":
        return 1
    if side == "short":
        return -1
    raise BadInputError(f"side={side!r}: must be 'long' or 'short'", field="side", value=side)


# ------------------------------------------------------------------------------------------------
# Generic isolated margin
# ------------------------------------------------------------------------------------------------
def isolated_liquidation_price(
    entry_price: float, leverage: float, maintenance_ratio: float, side: Side, *,
    closing_fee_ratio: float = 0.0, maintenance_on_entry: bool = False,
) -> float:
    """``P_long = E(1 - 1/L)/(1 - m)``, ``P_short = E(1 + 1/L)/(1 + m)`` (m on mark notional, m += φ);
    on entry notional: ``E(1 - 1/L + m)`` / ``E(1 + 1/L - m)``."""
    e = positive("entry_price", entry_price)
    lev = positive("leverage", leverage)
    m = non_negative("maintenance_ratio", maintenance_ratio) + non_negative("closing_fee_ratio", closing_fee_ratio)
    if m >= 1:
        raise BadInputError(f"maintenance_ratio={maintenance_ratio}: must be < 1", field="maintenance_ratio", value=m)
    s = _side(side)
    if maintenance_on_entry:
        return max(0.0, e * (1 - s / lev + s * m))
    return max(0.0, e * (1 - s / lev) / (1 - s * m))


class PerpPosition(Frozen):
    """An isolated-margin perp position valued at ``mark_price``."""

    market: str = ""
    size: float  # base units; > 0 long, < 0 short
    entry_price: float = Field(gt=0)
    mark_price: float = Field(gt=0)
    margin_usd: float = Field(ge=0)  # deposited margin (collateral value), before PnL
    maintenance_ratio: float = Field(ge=0, lt=1)  # of mark notional
    closing_fee_ratio: float = Field(default=0.0, ge=0, lt=1)
    accrued_funding_usd: float = 0.0  # signed, owed to the position when > 0

    @property
    def notional_usd(self) -> float:
        return abs(self.size) * self.mark_price

    @property
    def pnl_usd(self) -> float:
        return self.size * (self.mark_price - self.entry_price)

    @property
    def equity_usd(self) -> float:
        return self.margin_usd + self.pnl_usd + self.accrued_funding_usd

    @property
    def margin_ratio(self) -> float:
        """Equity / mark notional (inf without a position)."""
        n = self.notional_usd
        return math.inf if n == 0 else self.equity_usd / n

    @property
    def leverage(self) -> float:
        """Position-specific leverage: mark notional / equity (inf when equity <= 0)."""
        eq = self.equity_usd
        return math.inf if eq <= 0 else self.notional_usd / eq

    def liquidation_price(self) -> float | None:
        """Mark price at which equity = (m + φ)·notional; None without a position or if unreachable."""
        if self.size == 0:
            return None
        m = self.maintenance_ratio + self.closing_fee_ratio
        # margin + funding + size(P - E) = m|size|P  ->  P = (size·E - margin - funding) / (size - m|size|)
        den = self.size - m * abs(self.size)
        p = (self.size * self.entry_price - self.margin_usd - self.accrued_funding_usd) / den
        return p if p > 0 else None


class PerpAdjustment(Frozen):
    action: Literal["none", "perp_reduce", "perp_add_margin"]
    size_delta: float = 0.0  # signed change of ``size`` (reduces toward 0)
    margin_delta_usd: float = 0.0
    projected_margin_ratio: float
    reason: str = ""


def cut_to_margin_ratio(pos: PerpPosition, target_ratio: float) -> PerpAdjustment:
    """The size cut that brings the margin ratio to ``target_ratio``, paying the closing fee φ on the cut.

    ``(eq - φ·(|s| - |s'|)·P) / (|s'|·P) = t`` ⇒ ``|s'| = (eq - φ|s|P) / (P·(t - φ))``.
    """
    t = positive("target_ratio", target_ratio)
    if t <= pos.closing_fee_ratio:
        raise BadInputError(f"target_ratio={target_ratio}: must exceed closing_fee_ratio", field="target_ratio", value=t)
    if pos.size == 0:
        raise BadInputError("size=0: no position to cut", field="size", value=0)
    if pos.margin_ratio >= t:
        return PerpAdjustment(action="none", projected_margin_ratio=pos.margin_ratio, reason="already at target")
    p, phi = pos.mark_price, pos.closing_fee_ratio
    new_abs = max(0.0, (pos.equity_usd - phi * abs(pos.size) * p) / (p * (t - phi)))
    new_abs = min(new_abs, abs(pos.size))
    cut = abs(pos.size) - new_abs
    eq_after = pos.equity_usd - phi * cut * p
    ratio = math.inf if new_abs == 0 else eq_after / (new_abs * p)
    return PerpAdjustment(action="perp_reduce", size_delta=-math.copysign(cut, pos.size),
                          projected_margin_ratio=ratio, reason=f"cut {cut:.6g} to reach margin ratio {t:g}")


def top_up_to_margin_ratio(pos: PerpPosition, target_ratio: float) -> PerpAdjustment:
    """Margin to add so that equity / notional = ``target_ratio``."""
    t = positive("target_ratio", target_ratio)
    if pos.size == 0:
        raise BadInputError("size=0: no position to top up", field="size", value=0)
    need = t * pos.notional_usd - pos.equity_usd
    if need <= 0:
        return PerpAdjustment(action="none", projected_margin_ratio=pos.margin_ratio, reason="already at target")
    return PerpAdjustment(action="perp_add_margin", margin_delta_usd=need, projected_margin_ratio=t,
                          reason=f"add {need:.2f} USD margin to reach margin ratio {t:g}")


# ------------------------------------------------------------------------------------------------
# Synthetix PerpsV2
# ------------------------------------------------------------------------------------------------
class SynthetixParams(Frozen):
    liquidation_buffer_ratio: float = Field(ge=0)
    liquidation_fee_ratio: float = Field(ge=0)
    min_keeper_fee: float = Field(ge=0)
    max_keeper_fee: float = Field(ge=0)
    keeper_liquidation_fee: float = Field(ge=0)
    skew_scale: float = Field(gt=0)
    liquidation_premium_multiplier: float = Field(ge=0)


def synthetix_liquidation_margin(size: float, price: float, p: SynthetixParams) -> float:
    notional = abs(size) * price
    fee = min(max(notional * p.liquidation_fee_ratio, p.min_keeper_fee), p.max_keeper_fee)
    return notional * p.liquidation_buffer_ratio + fee + p.keeper_liquidation_fee


def synthetix_liquidation_premium(size: float, price: float, p: SynthetixParams) -> float:
    return abs(size) / p.skew_scale * abs(size) * price * p.liquidation_premium_multiplier


def synthetix_remaining_margin(size: float, last_price: float, margin: float, price: float, net_funding_per_unit: float = 0.0) -> float:
    return max(0.0, margin + size * (price - last_price) + size * net_funding_per_unit)


def synthetix_can_liquidate(size: float, last_price: float, margin: float, price: float, p: SynthetixParams,
                            net_funding_per_unit: float = 0.0) -> bool:
    rem = synthetix_remaining_margin(size, last_price, margin, price, net_funding_per_unit)
    return rem - synthetix_liquidation_premium(size, price, p) <= synthetix_liquidation_margin(size, price, p)


def synthetix_liquidation_price_view(size: float, last_price: float, margin: float, p: SynthetixParams,
                                     net_funding_per_unit: float = 0.0) -> float:
    """``PerpsV2MarketViews.liquidationPrice``: margin and premium taken at the current price (approximate)."""
    finite("size", size)
    if size == 0:
        raise BadInputError("size=0: no liquidation price", field="size", value=0)
    lm = synthetix_liquidation_margin(size, last_price, p)
    prem = synthetix_liquidation_premium(size, last_price, p)
    return max(0.0, last_price + (lm - (margin - prem)) / size - net_funding_per_unit)


def synthetix_liquidation_price_exact(size: float, last_price: float, margin: float, p: SynthetixParams,
                                      net_funding_per_unit: float = 0.0) -> float:
    """Price ``P*`` at which ``remainingMargin - premium == liquidationMargin`` holds exactly.

    ``P* = (size·last + keeperLiqFee + fee_const - margin - size·F) / (size - size²·mult/skew - |size|·(buffer + feeRatio_prop))``
    where the keeper fee is proportional when ``|size|·P*·feeRatio`` is within [min, max] and constant otherwise.
    """
    s = finite("size", size)
    if s == 0:
        raise BadInputError("size=0: no liquidation price", field="size", value=0)
    positive("last_price", last_price)
    non_negative("margin", margin)
    f = finite("net_funding_per_unit", net_funding_per_unit)
    quad = s * s * p.liquidation_premium_multiplier / p.skew_scale

    def solve(fee_ratio: float, fee_const: float) -> float:
        den = s - quad - abs(s) * (p.liquidation_buffer_ratio + fee_ratio)
        return (s * last_price + p.keeper_liquidation_fee + fee_const - margin - s * f) / den

    px = solve(p.liquidation_fee_ratio, 0.0)
    fee = abs(s) * px * p.liquidation_fee_ratio
    if fee < p.min_keeper_fee:
        px = solve(0.0, p.min_keeper_fee)
    elif fee > p.max_keeper_fee:
        px = solve(0.0, p.max_keeper_fee)
    return max(0.0, px)


# ------------------------------------------------------------------------------------------------
# GMX v2 (derived)
# ------------------------------------------------------------------------------------------------
def gmx_liquidation_price(
    side: Side, size_usd: float, size_in_tokens: float, collateral_usd: float, min_collateral_factor: float,
    costs_usd: float, close_impact_usd: float = 0.0, *, index_token_collateral_amount: float | None = None,
) -> float:
    """Derived from ``isPositionLiquidatable`` with stable collateral (impact <= 0 counts, gains do not).

    Long ``(size + costs - impact + mcf·size - coll)/tokens``; short ``(size + coll + impact - costs - mcf·size)/tokens``.
    With index-token collateral on a long, pass ``index_token_collateral_amount`` (added to the denominator).
    """
    s = _side(side)
    positive("size_usd", size_usd)
    positive("size_in_tokens", size_in_tokens)
    impact = min(0.0, finite("close_impact_usd", close_impact_usd))
    mcf = non_negative("min_collateral_factor", min_collateral_factor)
    costs = non_negative("costs_usd", costs_usd)
    if s == 1:
        if index_token_collateral_amount is not None:
            return (size_usd + costs - impact + mcf * size_usd) / (size_in_tokens + index_token_collateral_amount)
        return (size_usd + costs - impact + mcf * size_usd - collateral_usd) / size_in_tokens
    return (size_usd + collateral_usd + impact - costs - mcf * size_usd) / size_in_tokens
