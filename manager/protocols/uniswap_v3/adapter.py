"""The uniswap_v3 adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from typing import Any, ClassVar

from manager.protocols.base import VenueAdapter
from manager.protocols.uniswap_v3.config import UniswapV3Config


class UniswapV3Adapter(VenueAdapter):
    kind: ClassVar[str] = "uniswap_v3"
    config_model: ClassVar[type[Any]] = UniswapV3Config

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------
