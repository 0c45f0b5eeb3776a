"""Synthetix PerpsV2 as a ``PerpModel`` (``manager.sizing.perp``): what the strategies and the hedged view see of a
PerpsV2 position, on the exact margin math of ``manager.protocols.synthetix_perps.math`` (mirrors synthetix 2.102.1
``PerpsV2MarketBase.sol``: ``_remainingMargin``, ``_canLiquidate``; the order fee is the market's
``takerFee`` / ``makerFee``). A ``PerpSnapshot`` hands it out (``perp_model()``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from manager.domain import SizingDecision
from manager.protocols.synthetix_perps.math import SNX_UNIT, decide_perp, perp_metrics, snx_can_liquidate
from manager.sizing.perp import PerpMarginConfig, PerpModel

if TYPE_CHECKING:
    from manager.protocols.synthetix_perps.types import PerpSnapshot


@dataclass(frozen=True)
class SynthetixPerpModel(PerpModel):
    """One PerpsV2 position with its market at the snapshot's block."""

    snapshot: PerpSnapshot
    margin_symbol: str = "sUSD"

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.snapshot.name

    @property
    def account(self) -> str:  # type: ignore[override]
        return self.snapshot.account

    @property
    def block_number(self) -> int:  # type: ignore[override]
        return self.snapshot.block_number

    @property
    def block_timestamp(self) -> int:  # type: ignore[override]
        return self.snapshot.block_timestamp

    @property
    def market(self) -> str:  # type: ignore[override]
        return self.snapshot.market.market

    def metrics(self) -> dict[str, float]:
        return perp_metrics(self.snapshot)

    @property
    def has_size(self) -> bool:
        return self.snapshot.position.size_wad != 0

    @property
    def price_invalid(self) -> bool:
        return self.snapshot.market.price_invalid

    @property
    def wallet_margin(self) -> float:
        return self.snapshot.wallet_susd_wad / SNX_UNIT

    def order_fee_bps(self) -> float:
        """An atomic ``modifyPosition`` pays ``takerFee`` or ``makerFee`` (which one depends on the skew the order
        leaves): the larger of the two, in bps of the order's notional."""
        m = self.snapshot.market
        return max(m.taker_fee_wad, m.maker_fee_wad) / 10**18 * 10_000

    def decide(self, config: PerpMarginConfig) -> SizingDecision:
        return decide_perp(self.snapshot, config)

    def liquidatable_at(self, price_factor: float) -> bool:
        """``_canLiquidate`` at the market price times ``price_factor`` (funding accrued to the block)."""
        s = self.snapshot
        return snx_can_liquidate(s.market, s.position, int(s.market.price_wad * price_factor), s.block_timestamp)


__all__ = ["SynthetixPerpModel"]
