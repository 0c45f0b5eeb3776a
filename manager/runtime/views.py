"""A protocol-neutral view of one position's snapshot: health, USD sizes and the oracle symbols it uses.

The tick holds one table of snapshots (``TickData.snapshots``: a ``manager.domain.PositionSnapshot`` per
position, whatever its protocol). The runtime records, alerts and orders positions by one number, the
**health** (1.0 = liquidatable, inf = nothing to liquidate), which each snapshot type computes itself
(``PositionSnapshot.health_view``, in its protocol's folder under ``manager/protocols/``).

Pure: no RPC.
"""

from __future__ import annotations

from typing import Any

from manager.domain import HealthView


def health_view(snap: Any, *, asset: str | None = None) -> HealthView:
    """The ``HealthView`` of a position snapshot (``snap.health_view()``).

    ``asset``: the oracle symbol of a snapshot that does not carry its own (a perp read outside the tick).
    """
    if asset and not getattr(snap, "oracle_symbol", True):
        snap = snap.model_copy(update={"oracle_symbol": asset})
    if not callable(getattr(snap, "health_view", None)):
        raise TypeError(f"no health view for a {type(snap).__name__}")
    return snap.health_view()  # type: ignore[no-any-return]


__all__ = ["HealthView", "health_view"]
