"""The morpho_blue adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from manager.protocols.base import LendingAdapter

if TYPE_CHECKING:
    from manager.chain.batch import ReadPlan
    from manager.protocols.reading import AtomicWanted, PositionRequest, ProtocolRead, ReadContext


class MorphoBlueAdapter(LendingAdapter):
    kind: ClassVar[str] = "morpho_blue"
    config_model: ClassVar[type[Any]] = object  # set by the wiring branch (the config model moves here)

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------
    # The snapshot type is ``manager.protocols.morpho_blue.types.MorphoPositionSnapshot``; reads in ``reads.py``.
    def read_plan(self, proto: Any, positions: Sequence[PositionRequest], ctx: ReadContext) -> ReadPlan[ProtocolRead]:
        """The tick's read plan of one market's positions (``reads.tick_plan``)."""
        from manager.protocols.morpho_blue.reads import tick_plan

        return tick_plan(proto, positions, ctx)

    def atomic_plan(self, proto: Any, state: Any, wanted: Sequence[AtomicWanted]) -> ReadPlan[dict[str, dict[str, Any]]]:
        """Morpho Blue as the chain's flash lender (``proto.morpho``) and this protocol's executor grants."""
        from manager.protocols.morpho_blue.reads import atomic_plan

        return atomic_plan(proto.morpho, wanted, self.kind)

    def check_contracts(self, client: Any, proto: Any, block: int) -> None:
        """Nothing beyond the start-up checks (``chain.verify``)."""

    def status_row(self, snap: Any) -> dict[str, Any]:
        """The ``posman status`` row (``manager.protocols.morpho_blue.status.status_row``)."""
        from manager.protocols.morpho_blue.status import status_row

        return status_row(snap)
