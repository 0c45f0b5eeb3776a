"""The registry of protocol adapters, keyed by protocol kind (the config's ``kind``).

Adding a protocol: its folder, and one line in ``_ADAPTERS`` below (see ``manager/protocols/README.md``).
Adapters are imported lazily (on first lookup), so importing the registry costs nothing.

``register(kind, target)`` adds an adapter at run time (a plugin, a test's fake protocol) and rebuilds the config
schema's protocol union so that ``[[protocols]]`` entries of the new kind parse.
"""

from __future__ import annotations

import importlib
from typing import Any

from manager.errors import ConfigError
from manager.protocols.base import ProtocolAdapter

# kind -> "module:Class" of its adapter (the order is the order of ``kinds()``, error messages and the union)
_ADAPTERS: dict[str, str | ProtocolAdapter] = {
    "aave_v3": "manager.protocols.aave_v3.adapter:AaveV3Adapter",
    "uniswap_v3": "manager.protocols.uniswap_v3.adapter:UniswapV3Adapter",
    "morpho_blue": "manager.protocols.morpho_blue.adapter:MorphoBlueAdapter",
    "synthetix_perps": "manager.protocols.synthetix_perps.adapter:SynthetixPerpsAdapter",
}
_LOADED: dict[str, ProtocolAdapter] = {}


class UnknownProtocol(ConfigError, KeyError):
    """A protocol kind no adapter is registered for (one line naming the known kinds)."""

    def __str__(self) -> str:  # NOTE: KeyError would quote the message
        return self.message


def kinds() -> tuple[str, ...]:
    """Every registered protocol kind, in registration order."""
    return tuple(_ADAPTERS)


def adapter(kind: str) -> Any:
    """The adapter of ``kind``; ``UnknownProtocol`` (a ``ConfigError`` and a ``KeyError``) naming the known
    kinds otherwise."""
    if kind not in _LOADED:
        target = _ADAPTERS.get(kind)
        if target is None:
            raise UnknownProtocol(f"unknown protocol kind {kind!r} (known: {', '.join(_ADAPTERS)})", value=kind)
        if isinstance(target, str):
            module, cls = target.split(":")
            _LOADED[kind] = getattr(importlib.import_module(module), cls)()
        else:
            _LOADED[kind] = target
    return _LOADED[kind]


def adapters(family: str | None = None) -> list[Any]:
    """Every adapter (of ``family``: "lending", "perp", "venue"), in registration order."""
    return [a for a in (adapter(k) for k in _ADAPTERS) if family is None or a.family == family]


def managed() -> list[Any]:
    """The adapters whose positions can be managed (lending and perp), in registration order."""
    return [a for a in adapters() if a.family in ("lending", "perp")]


def adapter_of(obj: Any) -> Any:
    """The adapter of a protocol config entry or a position snapshot (by its ``kind`` / ``protocol``)."""
    kind = getattr(obj, "kind", None) or getattr(obj, "protocol", None)
    if not isinstance(kind, str):
        raise TypeError(f"{type(obj).__name__} names no protocol kind")
    return adapter(kind)


def find_adapter(obj: Any) -> Any | None:
    """``adapter_of(obj)``, or None when ``obj`` names no registered protocol kind."""
    kind = getattr(obj, "kind", None) or getattr(obj, "protocol", None)
    if not isinstance(kind, str) or kind not in _ADAPTERS:
        return None
    return adapter(kind)


def venue(kind: str | None = None) -> Any:
    """The swap venue adapter of ``kind`` (default: the first registered venue)."""
    if kind is not None:
        return adapter(kind)
    venues = adapters("venue")
    if not venues:
        raise UnknownProtocol("no swap venue protocol is registered")
    return venues[0]


def register(kind: str, target: str | ProtocolAdapter) -> None:
    """Register (or replace) the adapter of ``kind`` (an instance or ``"module:Class"``) and rebuild the
    config schema's protocol union (``manager.config.schema.refresh_protocols``). The adapter is loaded now: one
    that cannot be (an abstract method left unimplemented, a bad path) is refused and the registry is unchanged."""
    previous = _ADAPTERS.get(kind)
    _ADAPTERS[kind] = target
    _LOADED.pop(kind, None)
    try:
        adapter(kind)
    except Exception:
        if previous is None:
            _ADAPTERS.pop(kind, None)
        else:
            _ADAPTERS[kind] = previous
        _LOADED.pop(kind, None)
        raise
    _refresh_schema()


def unregister(kind: str) -> None:
    """Remove the adapter of ``kind`` (the inverse of ``register``; for tests and plugins)."""
    _ADAPTERS.pop(kind, None)
    _LOADED.pop(kind, None)
    _refresh_schema()


def _refresh_schema() -> None:
    import sys

    schema = sys.modules.get("manager.config.schema")
    if schema is not None:  # not imported yet: it builds the union from the registry when it is
        schema.refresh_protocols()


__all__ = ["UnknownProtocol", "adapter", "adapter_of", "adapters", "find_adapter", "kinds", "managed", "register",
           "unregister", "venue"]
