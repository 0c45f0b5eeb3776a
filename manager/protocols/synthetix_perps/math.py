"""Synthetix PerpsV2 exact margin math: liquidation margin / premium, funding, remaining margin, the exact
liquidation boundary, the float view of a position and the margin-band decision.

- Float formulas (``contracts/PerpsV2MarketBase.sol``, ``PerpsV2MarketViews.sol``):
  ``liquidationMargin = |size|·price·buffer + clamp(|size|·price·feeRatio, minKeeper, maxKeeper) + keeperLiqFee``,
  ``liqPremium = |size|/skewScale·|size|·price·multiplier``; liquidatable iff
  ``remainingMargin - liqPremium <= liquidationMargin``. The exact boundary solves that at the mark price.
- Integer-exact emulation (1e18 fixed point, truncating like ``SignedSafeDecimalMath``) of the same contract.
- ``perp_metrics`` / ``decide_perp``: the float view and the margin-band decision of a ``PerpSnapshot``
  (reached by the strategies through ``SynthetixPerpModel``: ``manager.protocols.synthetix_perps.model``).

The protocol-neutral perp math (isolated margin, ``PerpMarginConfig``, ``PerpModel``) is ``manager.protocols.synthetix_perps.math``.
Pure: no I/O.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from manager.domain import ActionKind, Frozen, SizingDecision, SizingStep
from manager.sizing._checks import BadInputError, finite, non_negative, positive
from manager.sizing.perp import PerpMarginConfig, Side

if TYPE_CHECKING:
    from manager.protocols.synthetix_perps.types import PerpSnapshot


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
# Synthetix PerpsV2, integer-exact (1e18 fixed point, truncating like SignedSafeDecimalMath)
# ------------------------------------------------------------------------------------------------
# Mirrors synthetix 2.102.1 ``contracts/PerpsV2MarketBase.sol``: ``_proportionalSkew``,
# ``_proportionalElapsed``, ``_currentFundingVelocity``, ``_currentFundingRate``, ``_unrecordedFunding``,
# ``_nextFundingEntry``, ``_netFundingPerUnit``, ``_accruedFunding``, ``_profitLoss``,
# ``_marginPlusProfitFunding``, ``_remainingMargin``, ``_remainingLiquidatableMargin``,
# ``_liquidationFee``, ``_liquidationMargin``, ``_liquidationPremium``, ``_canLiquidate``, and
# ``PerpsV2MarketViews._approxLiquidationPrice``. Every ``_wad`` value is an int scaled by 1e18.
SNX_UNIT = 10**18
_DAY_S = 86_400


def _tdiv(a: int, b: int) -> int:
    """Solidity signed integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def snx_mul(x: int, y: int) -> int:
    """``SignedSafeDecimalMath.multiplyDecimal``: ``x*y / UNIT`` truncated toward zero."""
    return _tdiv(x * y, SNX_UNIT)


def snx_div(x: int, y: int) -> int:
    """``SignedSafeDecimalMath.divideDecimal``: ``x*UNIT / y`` truncated toward zero."""
    return _tdiv(x * SNX_UNIT, y)


class PerpsV2Market(Frozen):
    """One PerpsV2 market's state and parameters at ``block_number`` (all ``_wad`` are 1e18 ints)."""

    market: str = ""  # "ETH"
    market_key: str = ""  # "sETHPERP"
    block_number: int = 0
    block_timestamp: int = 0
    price_wad: int = Field(ge=0)  # ExchangeRates rate at the block (feed answer scaled to 1e18)
    price_invalid: bool = False
    skew_wad: int  # marketSkew
    market_size_wad: int = 0
    funding_last_recomputed_s: int
    funding_rate_last_recomputed_wad: int
    funding_sequence_last_wad: int  # fundingSequence[fundingSequenceLength - 1]
    funding_sequence_length: int = 1
    skew_scale_wad: int = Field(gt=0)
    max_funding_velocity_wad: int = Field(ge=0)
    liquidation_premium_multiplier_wad: int = Field(ge=0)
    liquidation_buffer_ratio_wad: int = Field(ge=0)
    liquidation_fee_ratio_wad: int = Field(ge=0)
    min_keeper_fee_wad: int = Field(ge=0)
    max_keeper_fee_wad: int = Field(ge=0)
    keeper_liquidation_fee_wad: int = Field(ge=0)
    taker_fee_wad: int = 0
    maker_fee_wad: int = 0
    max_leverage_wad: int = 0
    min_initial_margin_wad: int = 0
    price_decimals: int = 8  # the feed's decimals: prices move in steps of 10**(18 - decimals) wei

    def params_float(self) -> SynthetixParams:
        """The float parameters of the closed-form helpers above."""
        return SynthetixParams(
            liquidation_buffer_ratio=self.liquidation_buffer_ratio_wad / SNX_UNIT,
            liquidation_fee_ratio=self.liquidation_fee_ratio_wad / SNX_UNIT,
            min_keeper_fee=self.min_keeper_fee_wad / SNX_UNIT, max_keeper_fee=self.max_keeper_fee_wad / SNX_UNIT,
            keeper_liquidation_fee=self.keeper_liquidation_fee_wad / SNX_UNIT,
            skew_scale=self.skew_scale_wad / SNX_UNIT,
            liquidation_premium_multiplier=self.liquidation_premium_multiplier_wad / SNX_UNIT,
        )


class PerpsV2Position(Frozen):
    """``marketState.positions(account)`` plus ``fundingSequence[lastFundingIndex]`` at the same block."""

    account: str = ""
    id: int = 0
    last_funding_index: int = 0
    margin_wad: int = Field(ge=0)
    last_price_wad: int = Field(ge=0)
    size_wad: int  # signed base units (> 0 long)
    funding_at_index_wad: int = 0  # fundingSequence[last_funding_index]


def snx_proportional_skew_wad(m: PerpsV2Market) -> int:
    p = snx_div(m.skew_wad, m.skew_scale_wad)
    return min(max(-SNX_UNIT, p), SNX_UNIT)


def snx_proportional_elapsed_wad(m: PerpsV2Market, timestamp_s: int) -> int:
    # ``int(block.timestamp.sub(lastRecomputed)).divideDecimal(1 days)``: 1 days is the integer 86400.
    return snx_div(timestamp_s - m.funding_last_recomputed_s, _DAY_S)


def snx_current_funding_rate_wad(m: PerpsV2Market, timestamp_s: int) -> int:
    velocity = snx_mul(snx_proportional_skew_wad(m), m.max_funding_velocity_wad)
    return m.funding_rate_last_recomputed_wad + snx_mul(velocity, snx_proportional_elapsed_wad(m, timestamp_s))


def snx_unrecorded_funding_wad(m: PerpsV2Market, price_wad: int, timestamp_s: int) -> int:
    nxt = snx_current_funding_rate_wad(m, timestamp_s)
    avg = -snx_div(m.funding_rate_last_recomputed_wad + nxt, SNX_UNIT * 2)
    return snx_mul(snx_mul(avg, snx_proportional_elapsed_wad(m, timestamp_s)), price_wad)


def snx_net_funding_per_unit_wad(m: PerpsV2Market, pos: PerpsV2Position, price_wad: int, timestamp_s: int) -> int:
    return m.funding_sequence_last_wad + snx_unrecorded_funding_wad(m, price_wad, timestamp_s) - pos.funding_at_index_wad


def snx_accrued_funding_wad(m: PerpsV2Market, pos: PerpsV2Position, price_wad: int, timestamp_s: int) -> int:
    if pos.last_funding_index == 0:
        return 0
    return snx_mul(pos.size_wad, snx_net_funding_per_unit_wad(m, pos, price_wad, timestamp_s))


def snx_pnl_wad(pos: PerpsV2Position, price_wad: int) -> int:
    return snx_mul(pos.size_wad, price_wad - pos.last_price_wad)


def snx_margin_plus_profit_funding_wad(m: PerpsV2Market, pos: PerpsV2Position, price_wad: int, timestamp_s: int) -> int:
    return pos.margin_wad + snx_pnl_wad(pos, price_wad) + snx_accrued_funding_wad(m, pos, price_wad, timestamp_s)


def snx_remaining_margin_wad(m: PerpsV2Market, pos: PerpsV2Position, price_wad: int, timestamp_s: int) -> int:
    return max(0, snx_margin_plus_profit_funding_wad(m, pos, price_wad, timestamp_s))


def snx_liquidation_fee_wad(m: PerpsV2Market, size_wad: int, price_wad: int) -> int:
    prop = snx_mul(snx_mul(abs(size_wad), price_wad), m.liquidation_fee_ratio_wad)
    return max(min(prop, m.max_keeper_fee_wad), m.min_keeper_fee_wad)


def snx_liquidation_margin_wad(m: PerpsV2Market, size_wad: int, price_wad: int) -> int:
    buffer = snx_mul(snx_mul(abs(size_wad), price_wad), m.liquidation_buffer_ratio_wad)
    return buffer + snx_liquidation_fee_wad(m, size_wad, price_wad) + m.keeper_liquidation_fee_wad


def snx_liquidation_premium_wad(m: PerpsV2Market, size_wad: int, price_wad: int) -> int:
    if size_wad == 0:
        return 0
    notional = abs(snx_mul(size_wad, price_wad))
    return snx_mul(snx_mul(snx_div(abs(size_wad), m.skew_scale_wad), notional), m.liquidation_premium_multiplier_wad)


def snx_remaining_liquidatable_margin_wad(m: PerpsV2Market, pos: PerpsV2Position, price_wad: int,
                                          timestamp_s: int) -> int:
    raw = snx_margin_plus_profit_funding_wad(m, pos, price_wad, timestamp_s)
    return max(0, raw - snx_liquidation_premium_wad(m, pos.size_wad, price_wad))


def snx_can_liquidate(m: PerpsV2Market, pos: PerpsV2Position, price_wad: int, timestamp_s: int) -> bool:
    """``_canLiquidate``: ``remainingLiquidatableMargin <= liquidationMargin`` (never for size 0)."""
    if pos.size_wad == 0:
        return False
    return (snx_remaining_liquidatable_margin_wad(m, pos, price_wad, timestamp_s)
            <= snx_liquidation_margin_wad(m, pos.size_wad, price_wad))


def snx_approx_liquidation_price_wad(m: PerpsV2Market, pos: PerpsV2Position, price_wad: int, timestamp_s: int) -> int:
    """``PerpsV2MarketViews._approxLiquidationPrice`` (margin and premium at the current price)."""
    if pos.size_wad == 0:
        return 0
    lm = snx_liquidation_margin_wad(m, pos.size_wad, price_wad)
    prem = snx_liquidation_premium_wad(m, pos.size_wad, price_wad)
    res = (pos.last_price_wad + snx_div(lm - (pos.margin_wad - prem), pos.size_wad)
           - snx_net_funding_per_unit_wad(m, pos, price_wad, timestamp_s))
    return max(0, res)


def snx_perp_health(m: PerpsV2Market, pos: PerpsV2Position, price_wad: int, timestamp_s: int) -> float:
    """``remainingLiquidatableMargin / liquidationMargin``: liquidatable at <= 1 (inf without a position)."""
    if pos.size_wad == 0:
        return math.inf
    return (snx_remaining_liquidatable_margin_wad(m, pos, price_wad, timestamp_s)
            / snx_liquidation_margin_wad(m, pos.size_wad, price_wad))


class PerpsV2Boundary(Frozen):
    """The exact liquidation boundary of one position at ``timestamp_s``.

    ``price_usd`` is the closed-form root (float); ``boundary_price_wad`` is the exact last price on
    the feed's grid (steps of ``10**(18 - decimals)`` wei) at which ``canLiquidate`` is still true: a
    long is liquidatable at prices ``<=`` it, a short at prices ``>=`` it. ``fee_regime`` says which
    keeper-fee branch holds there (``proportional``, ``min`` or ``max``).
    """

    side: Side
    timestamp_s: int
    price_usd: float | None
    boundary_price_wad: int | None
    fee_regime: Literal["proportional", "min", "max"]
    recorded_funding_per_unit: float  # fundingSequence[last] - fundingSequence[lastFundingIndex], USD/unit
    unrecorded_funding_per_price: float  # unrecorded funding per unit = this * price
    view_price_usd: float  # the contract's approximate ``liquidationPrice`` at the read price


def snx_funding_terms(m: PerpsV2Market, pos: PerpsV2Position, timestamp_s: int) -> tuple[float, float]:
    """(F0, U): net funding per unit at price P is ``F0 + U·P`` (the unrecorded part is linear in P)."""
    f0 = (m.funding_sequence_last_wad - pos.funding_at_index_wad) / SNX_UNIT
    nxt = snx_current_funding_rate_wad(m, timestamp_s)
    avg = -snx_div(m.funding_rate_last_recomputed_wad + nxt, SNX_UNIT * 2)
    u = snx_mul(avg, snx_proportional_elapsed_wad(m, timestamp_s)) / SNX_UNIT
    return f0, u


def snx_exact_liquidation_price(m: PerpsV2Market, pos: PerpsV2Position, timestamp_s: int | None = None,
                                *, refine: bool = True) -> PerpsV2Boundary:
    """The exact price at which ``canLiquidate`` flips, funding (recorded + unrecorded at ``timestamp_s``)
    and the keeper-fee clamp included.

    With ``s`` the size, ``L`` last price, ``M`` margin, ``F0 + U·P`` the net funding per unit,
    ``q = s²·mult/skewScale``, buffer ``b``, fee ratio ``r`` and keeper liquidation fee ``K``, the
    condition ``M + s(P - L) + s(F0 + U·P) - q·P = b|s|P + fee(P) + K`` gives
    ``P* = (s·L - s·F0 + K + fee_const - M) / (s(1 + U) - q - |s|(b + r_prop))`` where the fee is
    proportional (``r_prop = r``, ``fee_const = 0``) when ``|s|·P*·r`` lies in ``[minKeeperFee,
    maxKeeperFee]`` and constant otherwise. With ``refine`` the root is then located exactly on the
    feed's price grid with the integer emulation of ``_canLiquidate``.
    """
    if pos.size_wad == 0:
        raise BadInputError("size=0: no liquidation price", field="size_wad", value=0)
    ts = m.block_timestamp if timestamp_s is None else timestamp_s
    s = pos.size_wad / SNX_UNIT
    last = pos.last_price_wad / SNX_UNIT
    margin = pos.margin_wad / SNX_UNIT
    p = m.params_float()
    f0, u = snx_funding_terms(m, pos, ts)
    q = s * s * p.liquidation_premium_multiplier / p.skew_scale

    def solve(fee_ratio: float, fee_const: float) -> float | None:
        den = s * (1 + u) - q - abs(s) * (p.liquidation_buffer_ratio + fee_ratio)
        if den == 0:
            return None
        return (s * last - s * f0 + p.keeper_liquidation_fee + fee_const - margin) / den

    regime: Literal["proportional", "min", "max"] = "proportional"
    px = solve(p.liquidation_fee_ratio, 0.0)
    if px is not None:
        fee = abs(s) * px * p.liquidation_fee_ratio
        if fee < p.min_keeper_fee:
            regime, px = "min", solve(0.0, p.min_keeper_fee)
        elif fee > p.max_keeper_fee:
            regime, px = "max", solve(0.0, p.max_keeper_fee)
    price = px if px is not None and px > 0 else None
    exact = _refine_boundary(m, pos, ts, price) if (refine and price is not None) else None
    view = snx_approx_liquidation_price_wad(m, pos, m.price_wad, ts) / SNX_UNIT if m.price_wad else 0.0
    return PerpsV2Boundary(side="long" if s > 0 else "short", timestamp_s=ts, price_usd=price,
                           boundary_price_wad=exact, fee_regime=regime, recorded_funding_per_unit=f0,
                           unrecorded_funding_per_price=u, view_price_usd=view)


def _refine_boundary(m: PerpsV2Market, pos: PerpsV2Position, ts: int, guess_usd: float) -> int | None:
    """Last grid price (wei) where ``snx_can_liquidate`` holds, searched by bisection around ``guess_usd``."""
    step = 10 ** (18 - m.price_decimals)
    long = pos.size_wad > 0

    def liq(k: int) -> bool:  # k = price in grid steps
        return k > 0 and snx_can_liquidate(m, pos, k * step, ts)

    g = max(1, round(guess_usd * 10**m.price_decimals))
    width = max(2, g // 1000)
    # bracket: for a long, liq(lo) and not liq(hi); for a short, not liq(lo) and liq(hi)
    lo, hi = max(1, g - width), g + width
    for _ in range(60):
        if long and liq(lo) and not liq(hi):
            break
        if not long and not liq(lo) and liq(hi):
            break
        width *= 4
        lo, hi = max(1, g - width), g + width
    else:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if liq(mid) == long:
            lo = mid
        else:
            hi = mid
    return int((lo if long else hi) * step)


# ------------------------------------------------------------------------------------------------
# Perp margin band: the pure decision (add margin and/or cut size to bring a PerpsV2 position into band)
# ------------------------------------------------------------------------------------------------
def perp_metrics(snap: PerpSnapshot) -> dict[str, float]:
    """Float view at the read block: size, notional, remaining margin, margin ratio, leverage, health."""
    m, pos, ts, px = snap.market, snap.position, snap.block_timestamp, snap.market.price_wad
    size = pos.size_wad / SNX_UNIT
    notional = abs(size) * px / SNX_UNIT
    remaining = snx_remaining_margin_wad(m, pos, px, ts) / SNX_UNIT
    return {
        "size": size, "price_usd": px / SNX_UNIT, "notional_usd": notional, "margin_usd": pos.margin_wad / SNX_UNIT,
        "remaining_margin_usd": remaining,
        "accrued_funding_usd": snx_accrued_funding_wad(m, pos, px, ts) / SNX_UNIT,
        "pnl_usd": snx_pnl_wad(pos, px) / SNX_UNIT,
        "liquidation_margin_usd": snx_liquidation_margin_wad(m, pos.size_wad, px) / SNX_UNIT,
        "liquidation_premium_usd": snx_liquidation_premium_wad(m, pos.size_wad, px) / SNX_UNIT,
        "margin_ratio": math.inf if notional == 0 else remaining / notional,
        "leverage": 0.0 if remaining == 0 else notional / remaining,
        "health": snx_perp_health(m, pos, px, ts),
    }


def _projected(m: PerpsV2Market, pos: PerpsV2Position, ts: int, add_wad: int, cut_wad: int, fee_ratio: float
               ) -> tuple[float, float]:
    """(margin ratio, health) after adding ``add_wad`` margin and cutting ``cut_wad`` of |size| at the read price.

    The trade realizes PnL and funding into margin and pays ``fee_ratio`` on the cut notional;
    the new position is valued at the oracle price (fill-price premium covered by the fee buffer).
    """
    px = m.price_wad
    rem = snx_remaining_margin_wad(m, pos, px, ts) + add_wad
    new_abs = abs(pos.size_wad) - cut_wad
    fee = int(cut_wad * px / SNX_UNIT * fee_ratio)
    margin = max(0, rem - fee)
    if new_abs <= 0:
        return math.inf, math.inf
    size = new_abs if pos.size_wad > 0 else -new_abs
    notional = new_abs * px / SNX_UNIT
    lm = snx_liquidation_margin_wad(m, size, px)
    prem = snx_liquidation_premium_wad(m, size, px)
    return margin / notional, max(0, margin - prem) / lm


def decide_perp(snap: PerpSnapshot, config: PerpMarginConfig) -> SizingDecision:
    """Bring a PerpsV2 position back into its margin band (pure; the runtime plans and sends it).

    ``deltas_wei`` carries the signed changes: ``"margin_susd"`` (sUSD wei, > 0 deposit) and
    ``"size_<MARKET>"`` (base wei, reducing toward 0). Steps: ``transfer_margin`` (asset = sUSD) then
    ``modify_size`` (asset = the market proxy), in that order.
    """
    if config.target_margin_ratio <= config.trigger_margin_ratio:
        raise BadInputError("target_margin_ratio must exceed trigger_margin_ratio", field="target_margin_ratio",
                            value=config.target_margin_ratio)
    m, pos, ts = snap.market, snap.position, snap.block_timestamp
    name = snap.name or f"{m.market}:{snap.account}"
    met = perp_metrics(snap)
    base: dict[str, Any] = {"position": name, "health_before": met["health"], "block_number": snap.block_number,
            "target_health": None}
    if pos.size_wad == 0:
        return SizingDecision(action="none", reason="no open position", **base)
    if m.price_invalid:
        return SizingDecision(action="none", feasible=False, binding_constraint="price_invalid",
                              reason="market price invalid or stale: no action", **base)
    ratio, health = met["margin_ratio"], met["health"]
    if health <= 1:
        return SizingDecision(action="none", feasible=False, binding_constraint="liquidatable",
                              reason=f"position can already be liquidated (health {health:.4f}): act manually",
                              **base)
    px = m.price_wad
    notional_wad = abs(pos.size_wad) * px // SNX_UNIT
    rem_wad = snx_remaining_margin_wad(m, pos, px, ts)
    fee_ratio = max(m.taker_fee_wad, m.maker_fee_wad) / SNX_UNIT + abs(m.skew_wad) / m.skew_scale_wad \
        + config.fee_buffer_ratio
    t = config.target_margin_ratio

    if ratio < config.trigger_margin_ratio or health < config.min_health:
        need_wad = max(0, math.ceil(t * notional_wad) - rem_wad)
        add_wad = 0
        if config.prefer == "add_margin":
            # NOTE: the default cap is unbounded (inf): only the wallet's sUSD bounds the deposit then
            cap = snap.wallet_susd_wad if math.isinf(config.max_add_margin_usd) else min(
                snap.wallet_susd_wad, int(config.max_add_margin_usd * SNX_UNIT))
            add_wad = min(need_wad, cap)
        cut_wad = 0
        binding = "none"
        if add_wad < need_wad:
            # cut |s'| so that (rem + add - φ(|s| - |s'|)P) / (|s'|P) = t  ⇒  |s'| = (rem + add - φ|s|P) / (P(t - φ))
            eq = (rem_wad + add_wad) / SNX_UNIT
            p = px / SNX_UNIT
            new_abs = max(0.0, (eq - fee_ratio * abs(pos.size_wad) / SNX_UNIT * p) / (p * (t - fee_ratio)))
            cut = abs(pos.size_wad) / SNX_UNIT - new_abs
            cut_wad = min(abs(pos.size_wad), math.ceil(cut * SNX_UNIT))  # round the cut up: more margin
            max_cut = int(abs(pos.size_wad) * config.max_cut_fraction)
            if cut_wad > max_cut:
                cut_wad, binding = max_cut, "max_cut_fraction"
            elif add_wad > 0:
                binding = "max_add_margin" if add_wad < snap.wallet_susd_wad else "wallet_susd"
        proj_ratio, proj_health = _projected(m, pos, ts, add_wad, cut_wad, fee_ratio)
        steps = []
        deltas: dict[str, int] = {}
        if add_wad > 0:
            steps.append(SizingStep(kind="transfer_margin", asset=snap.susd_address or "sUSD", symbol="sUSD",
                                    amount_wei=add_wad, projected_health=proj_health if cut_wad == 0 else None))
            deltas["margin_susd"] = add_wad
        if cut_wad > 0:
            steps.append(SizingStep(kind="modify_size", asset=snap.market_address or m.market, symbol=m.market,
                                    amount_wei=cut_wad, projected_health=proj_health))
            deltas[f"size_{m.market}"] = -cut_wad if pos.size_wad > 0 else cut_wad
        action: ActionKind = "perp_reduce" if cut_wad > 0 else "perp_add_margin"
        feasible = proj_ratio >= t * 0.999 or proj_health >= config.min_health
        return SizingDecision(
            position=name, action=action if steps else "none", steps=tuple(steps), deltas_wei=deltas,
            health_before=health, projected_health=proj_health, target_health=None, binding_constraint=binding,
            reason=(f"margin ratio {ratio:.4f} (health {health:.3f}) below trigger "
                    f"{config.trigger_margin_ratio:g}/{config.min_health:g}: add {add_wad / SNX_UNIT:.2f} sUSD, "
                    f"cut {cut_wad / SNX_UNIT:.6g} {m.market} -> ratio {proj_ratio:.4f}"),
            feasible=feasible, best_reachable_health=proj_health, notional_usd=(add_wad + cut_wad * px // SNX_UNIT)
            / SNX_UNIT, block_number=snap.block_number,
        )
    if config.upper_margin_ratio is not None and ratio > config.upper_margin_ratio:
        excess_wad = rem_wad - math.ceil(t * notional_wad)
        # keep what the contract refuses to release (accessibleMargin leaves notional/maxLeverage)
        if excess_wad * 1.0 / SNX_UNIT >= config.min_action_usd:
            proj_ratio, proj_health = _projected(m, pos, ts, -excess_wad, 0, 0.0)
            return SizingDecision(
                position=name, action="perp_remove_margin",
                steps=(SizingStep(kind="transfer_margin", asset=snap.susd_address or "sUSD", symbol="sUSD",
                                  amount_wei=excess_wad, projected_health=proj_health),),
                deltas_wei={"margin_susd": -excess_wad}, health_before=health, projected_health=proj_health,
                reason=f"margin ratio {ratio:.4f} above {config.upper_margin_ratio:g}: release "
                       f"{excess_wad / SNX_UNIT:.2f} sUSD -> {proj_ratio:.4f}",
                notional_usd=excess_wad / SNX_UNIT, block_number=snap.block_number,
            )
    return SizingDecision(action="none", reason=f"margin ratio {ratio:.4f} (health {health:.3f}) in band", **base)

