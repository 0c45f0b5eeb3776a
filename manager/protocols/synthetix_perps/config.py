"""The ``[[protocols]]`` entry of one Synthetix PerpsV2 market (``kind = "synthetix_perps"``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from manager.config.base import ProtocolConfigBase
from manager.config.types import Address


class SynthetixPerpsConfig(ProtocolConfigBase):
    """One Synthetix PerpsV2 market (one entry per market: ETH, BTC, ...).

    ``market`` is the market's ``ProxyPerpsV2`` (every trade and view goes through it); ``settings`` the
    ``PerpsV2MarketSettings``; ``exchange_rates`` the ``ExchangeRates`` (the price feed's decimals);
    ``susd`` the sUSD ``ProxyERC20`` (the margin wallet). ``market_key`` (e.g. "sETHPERP") is read from the
    market when unset. ``asset`` optionally names the oracle symbol the market tracks (e.g. "WETH"): a
    position is not acted upon while that oracle is stale or deviates.
    """

    kind: Literal["synthetix_perps"]
    market: Address
    settings: Address
    exchange_rates: Address
    susd: Address
    market_key: Annotated[str, Field(min_length=1, max_length=31, pattern=r"^[A-Za-z0-9]+$")] | None = None
    asset: Annotated[str, Field(min_length=1, max_length=32)] | None = None


__all__ = ["SynthetixPerpsConfig"]
