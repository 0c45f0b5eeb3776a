"""Aave V3 start-up wiring: the Pool behind the configured ``PoolAddressesProvider``, its reserves (the
allow-list's token approvals), and the post-state health check of the fork replay
(``Pool.getUserAccountData(account).healthFactor``). Moved here from ``manager.runtime.lifecycle``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def aave_pool(w3: Any, provider: str) -> tuple[str, list[str]]:
    """``(Pool address, reserve list)`` of the market behind ``provider`` (``getPool()``, ``getReservesList()``)."""
    from manager.chain.abi import load_abi

    prov = w3.eth.contract(address=provider, abi=load_abi("aave_v3/PoolAddressesProvider"))
    pool_address = prov.functions.getPool().call()
    pool = w3.eth.contract(address=pool_address, abi=load_abi("aave_v3/Pool"))
    return pool_address, list(pool.functions.getReservesList().call())


def health_reader(pool_address: str, account: str) -> Callable[[Any], float]:
    """``post_check`` for the fork replay: the account's health factor read from the Pool."""
    from manager.chain.abi import load_abi

    abi = load_abi("aave_v3/Pool")

    def read(w3: Any) -> float:
        hf = w3.eth.contract(address=pool_address, abi=abi).functions.getUserAccountData(account).call()[5]
        return float("inf") if hf >= 2**255 else hf / 1e18

    return read


def provider_health_reader(provider: str, account: str) -> Callable[[Any], float]:
    """``health_reader`` whose Pool is found from ``provider`` on the node read (once, then kept)."""
    pool: list[str] = []

    def read(w3: Any) -> float:
        if not pool:
            pool.append(aave_pool(w3, provider)[0])
        return health_reader(pool[0], account)(w3)

    return read


__all__ = ["aave_pool", "health_reader", "provider_health_reader"]
