"""Morpho Blue as a flash lender of the executor contract (``flashLoan``): no fee; lends any token it holds,
liquidity = ``token.balanceOf(morpho)``. Moved here from ``manager.atomic.reads``.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from manager.atomic.encode import FlashSource
from manager.atomic.reads import FlashOption


def morpho_flash_option(w3: Any, morpho: str, asset: str, block: int | str = "latest") -> FlashOption:
    from manager.chain.abi import load_abi

    erc20 = w3.eth.contract(address=to_checksum_address(asset), abi=load_abi("erc20/MintableERC20"))
    liquidity = int(erc20.functions.balanceOf(to_checksum_address(morpho)).call(block_identifier=block))
    return FlashOption(FlashSource("morpho", to_checksum_address(morpho), 0), liquidity, usable=True)


__all__ = ["morpho_flash_option"]
