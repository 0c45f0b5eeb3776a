"""The aave_v3 adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from typing import Any, ClassVar

from manager.protocols.aave_v3.config import AaveV3Config
from manager.protocols.base import LendingAdapter


class AaveV3Adapter(LendingAdapter):
    kind: ClassVar[str] = "aave_v3"
    config_model: ClassVar[type[Any]] = AaveV3Config

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------
