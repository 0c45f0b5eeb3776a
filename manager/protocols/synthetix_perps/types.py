"""Synthetix PerpsV2 position snapshot: one account's position with its market at one block.

The market and position values and the exact margin math are in ``manager.protocols.synthetix_perps.math`` (mirrors synthetix
2.102.1 ``PerpsV2MarketBase.sol``); this module adds what every position snapshot has (``PositionSnapshot``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from manager.domain import HealthView, PositionSnapshot, health_wad
from manager.protocols.synthetix_perps.math import PerpsV2Market, PerpsV2Position

if TYPE_CHECKING:
    from manager.protocols.synthetix_perps.model import SynthetixPerpModel

PRICE_INVALID = "market price invalid (ExchangeRates/circuit breaker)"


class PerpSnapshot(PositionSnapshot):
    """A PerpsV2 position with its market at one block, plus the account's sUSD wallet balance.

    ``oracle_symbol`` is the oracle symbol of the market's asset (the protocol entry's ``asset``): the reading
    whose staleness / DEX deviation marks the position not fresh (``oracle_issues``). A market whose own
    price is invalid (``assetPrice().invalid``) is never fresh either (``health_view``).
    """

    protocol: Literal["synthetix_perps"] = "synthetix_perps"
    market: PerpsV2Market
    position: PerpsV2Position
    market_address: str = ""
    susd_address: str = ""
    wallet_susd_wad: int = 0
    oracle_symbol: str = ""

    def oracle_symbols(self) -> tuple[str, ...]:
        return (self.oracle_symbol,) if self.oracle_symbol else ()

    def health_view(self) -> HealthView:
        """Remaining liquidatable margin / liquidation margin (``snx_perp_health``; ``canLiquidate`` at <= 1);
        ``collateral_usd`` is the remaining margin, ``debt_usd`` the notional."""
        from manager.protocols.synthetix_perps.math import perp_metrics

        met = perp_metrics(self)
        hf = met["health"]
        issues = ((PRICE_INVALID,) if self.market.price_invalid else ()) + tuple(self.oracle_issues)
        return HealthView(self.protocol, hf, health_wad(hf), max(0.0, met["remaining_margin_usd"]),
                          met["notional_usd"], symbols=frozenset(self.oracle_symbols()), oracle_fresh=not issues,
                          oracle_issues=issues)

    def perp_model(self) -> SynthetixPerpModel:
        """What the strategies and the hedged view see of this position (``manager.sizing.perp.PerpModel``): the
        exact PerpsV2 margin math of ``manager.protocols.synthetix_perps.math``."""
        from manager.protocols.synthetix_perps.model import SynthetixPerpModel

        return SynthetixPerpModel(self)


__all__ = ["PerpSnapshot"]
