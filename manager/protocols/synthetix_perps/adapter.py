"""The synthetix_perps adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from manager.protocols.base import PerpAdapter

if TYPE_CHECKING:
    from manager.chain.batch import ReadPlan
    from manager.protocols.reading import PositionRequest, ProtocolRead, ReadContext


class SynthetixPerpsAdapter(PerpAdapter):
    kind: ClassVar[str] = "synthetix_perps"
    config_model: ClassVar[type[Any]] = object  # set by the wiring branch (the config model moves here)

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------
    # The snapshot type is ``manager.protocols.synthetix_perps.types.PerpSnapshot``; reads in ``reads.py``.
    def read_plan(self, proto: Any, positions: Sequence[PositionRequest], ctx: ReadContext) -> ReadPlan[ProtocolRead]:
        """The tick's read plan of one market's positions (``reads.tick_plan``)."""
        from manager.protocols.synthetix_perps.reads import tick_plan

        return tick_plan(proto, positions, ctx)

    def check_contracts(self, client: Any, proto: Any, block: int) -> None:
        """Nothing beyond the start-up checks (``chain.verify``)."""

    def status_row(self, snap: Any) -> dict[str, Any]:
        """The ``posman status`` row (``manager.protocols.synthetix_perps.status.perp_status_row``; its oracle issues ride on the snapshot)."""
        from manager.protocols.synthetix_perps.status import perp_status_row

        return perp_status_row(snap, tuple(snap.oracle_issues))
