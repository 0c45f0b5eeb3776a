"""The ``[[protocols]]`` entry of one Morpho Blue market (``kind = "morpho_blue"``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from manager.config.base import ProtocolConfigBase
from manager.config.types import Address


class MorphoBlueConfig(ProtocolConfigBase):
    """One Morpho Blue market (Morpho Blue markets are isolated: one entry per market).

    ``morpho`` is the Morpho contract; ``market_id`` the market's id (``keccak256(abi.encode(MarketParams))``,
    0x + 64 hex). Loan/collateral tokens, oracle, IRM and LLTV are read on-chain from
    ``idToMarketParams(market_id)``. Positions on this entry are the accounts' positions in that market.
    """

    kind: Literal["morpho_blue"]
    morpho: Address
    market_id: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]

    @field_validator("market_id")
    @classmethod
    def _lower_id(cls, value: str) -> str:
        return value.lower()


__all__ = ["MorphoBlueConfig"]
