"""The protocol adapter interface: everything the pipeline needs from a protocol, behind one class.

A protocol is one folder ``manager/protocols/<kind>/`` with an ``adapter.py`` whose adapter class derives from
``LendingAdapter`` (a loan: collateral and debt, health 1.0 = liquidatable), ``PerpAdapter`` (a margin
position) or ``VenueAdapter`` (a swap venue: quotes, depth, swap encoding), and is listed in
``manager.protocols.registry``. The config's protocol union, the tick reader, health views, status, the
planner, fees and the start-up wiring loop over the registry; none of them names a protocol.

This module only fixes the shape; each method's contract is in its docstring. Import-light: no web3 at import
(adapters import their I/O modules inside methods), so the pure core may use the registry for dispatch.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

Family = Literal["lending", "perp", "venue"]


class ProtocolAdapter:
    """Base of every adapter. ``kind`` is the config's ``kind`` string; ``family`` what it is."""

    kind: ClassVar[str]
    family: ClassVar[Family]
    # the pydantic model of the protocol's ``[[protocols]]`` entry (``kind: Literal[<kind>]``)
    config_model: ClassVar[type[Any]]
    # the snapshot type of its positions (a ``manager.domain.PositionSnapshot`` subclass); None for venues
    snapshot_type: ClassVar[type[Any] | None] = None
    # the built-in strategies that can manage a position on it
    strategies: ClassVar[frozenset[str]] = frozenset()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind}>"


class LendingAdapter(ProtocolAdapter):
    family: ClassVar[Family] = "lending"


class PerpAdapter(ProtocolAdapter):
    family: ClassVar[Family] = "perp"


class VenueAdapter(ProtocolAdapter):
    family: ClassVar[Family] = "venue"


__all__ = ["Family", "LendingAdapter", "PerpAdapter", "ProtocolAdapter", "VenueAdapter"]
