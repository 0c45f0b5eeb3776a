"""Perpetual futures math, protocol-neutral: isolated-margin liquidation prices, margin ratio, leverage, target
sizing, the margin-band configuration, and the ``PerpModel`` a perp snapshot hands out.

- Generic isolated margin (notes §5): maintenance ratio ``m`` on mark notional (or entry notional),
  a closing fee ``φ`` adds to ``m``.
- GMX v2 (``contracts/position/PositionUtils.sol#isPositionLiquidatable``): derived liquidation price.
- ``PerpModel``: what the strategies and the hedged view see of a perp position, whatever the protocol (its
  metrics, order fee, the margin-band decision, liquidation under a price move). Each perp protocol implements it
  in its own folder (``manager/protocols/README.md``); a snapshot hands it out with ``perp_model()``.

Prices and USD amounts are floats (these venues are not integer-exact at our decision level).
Signed ``size`` is in base-asset units: > 0 long, < 0 short.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal, Protocol

from pydantic import Field

from manager.domain import Frozen, SizingDecision
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


# ------------------------------------------------------------------------------------------------
# Perp margin band: the configuration of the pure decision (``PerpModel.decide``)
# ------------------------------------------------------------------------------------------------
class PerpMarginConfig(Frozen):
    """Keep a perp position's margin ratio (remaining margin / notional = 1/leverage) inside a band.

    Below ``trigger_margin_ratio`` (or when ``perp health`` = remaining liquidatable margin /
    liquidation margin falls below ``min_health``) the position is brought to ``target_margin_ratio``:
    first by adding margin (up to ``max_add_margin_usd`` and the wallet's sUSD), then by cutting size
    (up to ``max_cut_fraction`` of the position). Above ``upper_margin_ratio`` (if set) excess margin
    is released down to the target. ``fee_buffer_ratio`` is added to the order fee when sizing a cut.
    """

    trigger_margin_ratio: float = Field(gt=0, lt=1)
    target_margin_ratio: float = Field(gt=0, lt=1)
    upper_margin_ratio: float | None = Field(default=None, gt=0)
    min_health: float = Field(default=1.5, gt=1)
    prefer: Literal["add_margin", "cut_size"] = "add_margin"
    max_add_margin_usd: float = Field(default=math.inf, ge=0)
    max_cut_fraction: float = Field(default=1.0, gt=0, le=1)
    min_action_usd: float = Field(default=1.0, ge=0)
    fee_buffer_ratio: float = Field(default=0.001, ge=0, lt=0.1)


# ------------------------------------------------------------------------------------------------
# The per-protocol perp model (what a perp snapshot hands out)
# ------------------------------------------------------------------------------------------------
class PerpModel(ABC):
    """One perp position as the strategies and the hedged view see it, whatever the protocol.

    ``margin_symbol``: the margin token (what ``transfer_margin`` steps move); ``market``: the market's key
    (e.g. ``"ETH"``, the hedged underlying); ``price_usd``: the market's price at the read block.
    """

    name: str
    account: str
    block_number: int
    block_timestamp: int
    market: str
    margin_symbol: str

    @abstractmethod
    def metrics(self) -> dict[str, float]:
        """Float view at the read block: ``size``, ``price_usd``, ``notional_usd``, ``margin_usd``,
        ``remaining_margin_usd``, ``accrued_funding_usd``, ``pnl_usd``, ``liquidation_margin_usd``,
        ``liquidation_premium_usd``, ``margin_ratio``, ``leverage``, ``health`` (liquidatable at <= 1)."""

    @property
    @abstractmethod
    def has_size(self) -> bool:
        """Whether the account holds a position (size != 0)."""

    @property
    @abstractmethod
    def price_invalid(self) -> bool:
        """Whether the market's own price is invalid at the read block (nothing may act then)."""

    @property
    @abstractmethod
    def wallet_margin(self) -> float:
        """The account's wallet balance of the margin token (whole tokens)."""

    @abstractmethod
    def order_fee_bps(self) -> float:
        """The fee of a size change on this market, in bps of the order's notional (the larger of its fees)."""

    @abstractmethod
    def decide(self, config: PerpMarginConfig) -> SizingDecision:
        """The margin-band decision at the read block (add margin, cut size, release margin, or none)."""

    @abstractmethod
    def liquidatable_at(self, price_factor: float) -> bool:
        """Whether the position is liquidatable with the market price moved by ``price_factor`` (1 = now)."""

    def health(self) -> float:
        """The protocol's perp health (liquidatable at <= 1)."""
        return self.metrics()["health"]


class PerpSnapshotLike(Protocol):
    """A position snapshot that hands out its perp model (every perp snapshot)."""

    name: str
    account: str
    block_number: int
    block_timestamp: int

    def perp_model(self) -> PerpModel: ...


def perp_model_of(position: PerpModel | PerpSnapshotLike) -> PerpModel:
    """The perp model of a snapshot (or the model itself)."""
    return position if isinstance(position, PerpModel) else position.perp_model()


__all__ = ["PerpAdjustment", "PerpMarginConfig", "PerpModel", "PerpPosition", "PerpSnapshotLike", "Side",
           "cut_to_margin_ratio", "gmx_liquidation_price", "isolated_liquidation_price", "perp_model_of",
           "top_up_to_margin_ratio"]
