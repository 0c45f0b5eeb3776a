"""The ``[[protocols]]`` entry of an Aave V3 market (``kind = "aave_v3"``)."""

from __future__ import annotations

from typing import Literal

from manager.config.base import ProtocolConfigBase
from manager.config.types import Address


class AaveV3Config(ProtocolConfigBase):
    """An Aave V3 market. Pool, oracle and data provider are discovered from the addresses provider."""

    kind: Literal["aave_v3"]
    pool_addresses_provider: Address
    # Optional pin of the Aave release (unset: taken from the pool's POOL_REVISION on every read; set: must agree
    # with it, or the read is refused). The rules of each release live in manager.protocols.aave_v3.rules.
    version: Literal["3.0", "3.1", "3.6"] | None = None


__all__ = ["AaveV3Config"]
