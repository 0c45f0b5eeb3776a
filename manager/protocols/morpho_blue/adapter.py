"""The morpho_blue adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from typing import Any, ClassVar

from manager.protocols.base import LendingAdapter
from manager.protocols.morpho_blue.config import MorphoBlueConfig


class MorphoBlueAdapter(LendingAdapter):
    kind: ClassVar[str] = "morpho_blue"
    config_model: ClassVar[type[Any]] = MorphoBlueConfig

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------
