"""The synthetix_perps adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from typing import Any, ClassVar

from manager.protocols.base import PerpAdapter
from manager.protocols.synthetix_perps.config import SynthetixPerpsConfig


class SynthetixPerpsAdapter(PerpAdapter):
    kind: ClassVar[str] = "synthetix_perps"
    config_model: ClassVar[type[Any]] = SynthetixPerpsConfig

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------
