"""The registry of protocol adapters, keyed by protocol kind (the config's ``kind``).

Adding a protocol: its folder, and one line in ``_ADAPTERS`` below (see ``manager/protocols/README.md``).
Adapters are imported lazily (on first lookup), so importing the registry costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

from manager.protocols.base import ProtocolAdapter

# kind -> "module:Class" of its adapter
_ADAPTERS: dict[str, str] = {
    "aave_v3": "manager.protocols.aave_v3.adapter:AaveV3Adapter",
    "uniswap_v3": "manager.protocols.uniswap_v3.adapter:UniswapV3Adapter",
    "morpho_blue": "manager.protocols.morpho_blue.adapter:MorphoBlueAdapter",
    "synthetix_perps": "manager.protocols.synthetix_perps.adapter:SynthetixPerpsAdapter",
}
_LOADED: dict[str, ProtocolAdapter] = {}


def kinds() -> tuple[str, ...]:
    """Every registered protocol kind, in registration order."""
    return tuple(_ADAPTERS)


def adapter(kind: str) -> Any:
    """The adapter of ``kind``; ``KeyError`` naming the known kinds otherwise."""
    if kind not in _LOADED:
        if kind not in _ADAPTERS:
            raise KeyError(f"unknown protocol kind {kind!r} (known: {', '.join(_ADAPTERS)})")
        module, cls = _ADAPTERS[kind].split(":")
        _LOADED[kind] = getattr(importlib.import_module(module), cls)()
    return _LOADED[kind]


def adapters(family: str | None = None) -> list[Any]:
    """Every adapter (of ``family``: "lending", "perp", "venue"), in registration order."""
    return [a for a in (adapter(k) for k in _ADAPTERS) if family is None or a.family == family]


def adapter_of(obj: Any) -> Any:
    """The adapter of a protocol config entry or a position snapshot (by its ``kind`` / ``protocol``)."""
    kind = getattr(obj, "kind", None) or getattr(obj, "protocol", None)
    if not isinstance(kind, str):
        raise TypeError(f"{type(obj).__name__} names no protocol kind")
    return adapter(kind)


__all__ = ["adapter", "adapter_of", "adapters", "kinds"]
