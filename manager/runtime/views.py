"""A protocol-neutral view of one position's snapshot: health, USD sizes and the oracle symbols it uses.

The tick holds three kinds of snapshots (``TickData.positions`` Aave V3, ``.morpho`` Morpho Blue,
``.perps`` Synthetix PerpsV2). The runtime records, alerts and orders positions by one number, the
**health** (1.0 = liquidatable, inf = nothing to liquidate):

- Aave V3: the exact ``getUserAccountData`` health factor (``manager.sizing.aave.account_data``);
- Morpho Blue: ``maxBorrow / borrowed`` with interest accrued to the block (``Morpho._isHealthy``);
- PerpsV2: remaining liquidatable margin / liquidation margin (``snx_perp_health``; ``canLiquidate``
  at <= 1). ``collateral_usd`` is the remaining margin, ``debt_usd`` the notional.

Pure: no RPC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from manager.domain import UINT256_MAX, WAD, LendingPositionSnapshot


@dataclass(frozen=True)
class HealthView:
    protocol: str
    health: float
    health_factor_wad: int  # UINT256_MAX when there is nothing to liquidate
    collateral_usd: float
    debt_usd: float
    ltv_bps: int = 0
    liquidation_threshold_bps: int = 0
    symbols: frozenset[str] = frozenset()  # oracle symbols the position depends on
    oracle_fresh: bool = True
    oracle_issues: tuple[str, ...] = ()


def _wad(health: float) -> int:
    return UINT256_MAX if not math.isfinite(health) else max(0, int(health * WAD))


def health_view(snap: Any, *, asset: str | None = None) -> HealthView:
    """The ``HealthView`` of an Aave, Morpho Blue or PerpsV2 snapshot (``asset``: a perp market's oracle symbol)."""
    if isinstance(snap, LendingPositionSnapshot):
        from manager.sizing.aave import account_data

        acc = account_data(snap)
        hf = math.inf if acc.health_factor_wad == UINT256_MAX else acc.health_factor_wad / WAD
        return HealthView("aave_v3", hf, acc.health_factor_wad, acc.total_collateral_base / snap.base_unit,
                          acc.total_debt_base / snap.base_unit, acc.ltv_bps, acc.current_liquidation_threshold_bps,
                          frozenset(a.symbol for a in snap.assets), snap.oracle_fresh, tuple(snap.oracle_issues))
    from manager.protocols.morpho_blue.types import MorphoPositionSnapshot

    if isinstance(snap, MorphoPositionSnapshot):
        from manager.sizing import morpho as mm

        m, p = snap.market_now, snap.position
        borrowed = mm.borrowed_assets(m, p)
        wad = UINT256_MAX if borrowed == 0 else mm.max_borrow(m, p) * WAD // borrowed
        hf = math.inf if borrowed == 0 else wad / WAD
        loan_usd = snap.loan_price_usd or 0.0
        coll_px = snap.collateral_price_usd or 0.0
        lltv_bps = snap.params.lltv_wad * 10_000 // WAD
        return HealthView("morpho_blue", hf, wad, p.collateral_wei / 10**snap.collateral_decimals * coll_px,
                          borrowed / 10**snap.loan_decimals * loan_usd, lltv_bps, lltv_bps,
                          frozenset(s for s in (snap.collateral_symbol, snap.loan_symbol) if s), snap.oracle_fresh,
                          tuple(snap.oracle_issues))
    from manager.sizing.perp import PerpSnapshot, perp_metrics

    if isinstance(snap, PerpSnapshot):
        met = perp_metrics(snap)
        hf = met["health"]
        issues = ("market price invalid (ExchangeRates/circuit breaker)",) if snap.market.price_invalid else ()
        return HealthView("synthetix_perps", hf, _wad(hf), max(0.0, met["remaining_margin_usd"]), met["notional_usd"],
                          symbols=frozenset({asset}) if asset else frozenset(), oracle_fresh=not issues,
                          oracle_issues=issues)
    raise TypeError(f"no health view for a {type(snap).__name__}")


__all__ = ["HealthView", "health_view"]
