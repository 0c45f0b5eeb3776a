"""The ``[[protocols]]`` entry of a Uniswap V3 deployment (``kind = "uniswap_v3"``): the swap venue."""

from __future__ import annotations

from typing import Literal

from manager.config.base import ProtocolConfigBase
from manager.config.types import Address


class UniswapV3Config(ProtocolConfigBase):
    """A Uniswap V3 deployment (swaps, quotes and pool depth).

    ``router_kind``: which router ``swap_router`` is, ``"swap_router"`` (the original SwapRouter, deadline in the
    params) or ``"swap_router02"`` (SwapRouter02, deadline via ``multicall``); unset = detected on chain at
    start-up, set = checked against the chain at start-up (``manager.protocols.uniswap_v3.router``).
    """

    kind: Literal["uniswap_v3"]
    factory: Address
    swap_router: Address
    router_kind: Literal["swap_router", "swap_router02"] | None = None
    quoter: Address  # QuoterV2
    tick_lens: Address | None = None


__all__ = ["UniswapV3Config"]
