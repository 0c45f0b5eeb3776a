"""The devnet's SwapRouter02: Uniswap's real ``SwapRouter02``, deployed next to the original ``SwapRouter``.

On real chains the router ``@uniswap/sdk-core`` lists (so what ``posman init`` writes) is SwapRouter02; the devnet
runs both so that both router kinds (``manager.protocols.uniswap_v3.router``) are tested on the real contracts:
the same factory, pools and WETH, two routers.

Source: npm ``@uniswap/swap-router-contracts`` 1.3.1 (pinned in ``package.json``), artifact
``artifacts/contracts/SwapRouter02.sol/SwapRouter02.json``, bytecode as published (no libraries; 24,498 bytes of
runtime code, under EIP-170's 24,576). Constructor ``(factoryV2, factoryV3, positionManager, WETH9)``: the devnet
has no Uniswap V2, so ``factoryV2`` is the zero address (its V2 functions are never called); ``factoryV3``,
``positionManager`` and ``WETH9`` are the devnet's. Deployed by the deployer as the last step of the cached
build (so no other devnet address moves) and recorded in ``devnet.json`` as ``uniswap.router02``.
"""

from __future__ import annotations

from typing import Any

# Files whose content defines this part of the cached devnet state (net.cache_key hashes them).
SOURCE_FILES = ("router02.py",)
ZERO = "0x0000000000000000000000000000000000000000"


def deploy_router02(w3: Any, book: dict[str, Any], accounts: dict[str, str]) -> str:
    """Deploy SwapRouter02 on the devnet's Uniswap V3 (factory, position manager, WETH); returns its address."""
    from manager.devnet.artifacts import Deployer

    uni = book["uniswap"]
    router = Deployer(w3, accounts["deployer"]).deploy("SwapRouter02", ZERO, uni["factory"], uni["position_manager"],
                                                       book["tokens"]["WETH"])
    return str(router.address)
