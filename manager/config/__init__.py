"""posman configuration: strict pydantic schema (``schema``) loaded from TOML with located errors.

    from manager.config import load_config
    cfg = load_config("configs/example.toml")
    cfg.chains["devnet"].rpc_urls
    raise cfg.error(("positions", 0, "params", "target"), "must be above 1.0", 0.9)

Every problem is a ``ConfigError`` whose message is one line: file, line, field path, bad value and
what is allowed. ``configs/example.toml`` documents every key.

The names below are imported on first use (PEP 562), so that a protocol's own config model
(``manager/protocols/<kind>/config.py``, built on ``manager.config.base``) can be imported before the schema,
which builds its protocol union from those models through the registry.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_config": "loader", "params_error": "loader", "parse_config": "loader",
    "format_loc": "report",
    "ChainConfig": "schema", "Config": "schema", "LimitsConfig": "schema", "OraclesConfig": "schema",
    "PoolWatchConfig": "schema", "PositionConfig": "schema", "ProtocolConfig": "schema", "RuntimeConfig": "schema",
    "SignerConfig": "schema", "StorageConfig": "schema", "mask_url": "schema",
    "MULTICALL3_ADDRESS": "types", "check_address": "types", "to_checksum": "types",
}


_SUBMODULES = ("base", "loader", "locate", "report", "schema", "types")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:  # ``manager.config.schema`` before anything imported it
        return importlib.import_module(f"manager.config.{name}")
    module = _EXPORTS.get(name)
    if module is None:  # a protocol's config model by class name (``AaveV3Config``...): the schema finds it
        if name.endswith("Config") and not name.startswith("_"):
            return getattr(importlib.import_module("manager.config.schema"), name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"manager.config.{module}"), name)


__all__ = sorted(_EXPORTS)
