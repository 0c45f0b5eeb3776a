"""Aave V3 as a flash lender of the executor contract (``flashLoanSimple``): premium ``FLASHLOAN_PREMIUM_TOTAL``
(bps, read), usable when the reserve is active, not paused and flash-enabled (``ReserveConfiguration`` bits 56, 60,
63, the same in v3.0 and v3.6); liquidity = the underlying held by the aToken (v3.6: at most the virtual balance).
Moved here from ``manager.atomic.reads``.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from manager.atomic.encode import FlashSource
from manager.atomic.reads import FlashOption

ACTIVE_BIT, PAUSED_BIT, FLASHLOAN_ENABLED_BIT = 56, 60, 63


def aave_flash_option(w3: Any, pool: str, asset: str, block: int | str = "latest") -> FlashOption:
    from manager.chain.abi import load_abi

    p = w3.eth.contract(address=to_checksum_address(pool), abi=load_abi("aave_v3/Pool"))
    premium = int(p.functions.FLASHLOAN_PREMIUM_TOTAL().call(block_identifier=block))
    data = p.functions.getReserveData(to_checksum_address(asset)).call(block_identifier=block)
    config = int(data[0][0] if isinstance(data[0], (list, tuple)) else data[0])
    a_token = data[8]
    erc20 = w3.eth.contract(address=to_checksum_address(asset), abi=load_abi("erc20/MintableERC20"))
    liquidity = int(erc20.functions.balanceOf(a_token).call(block_identifier=block))
    try:  # v3.1+: virtual accounting; the pool lends at most its virtual balance
        ret = w3.eth.call({"to": p.address, "data": _calldata("getVirtualUnderlyingBalance(address)", asset)},
                          block_identifier=block)
        if len(ret) == 32:
            liquidity = min(liquidity, int.from_bytes(bytes(ret), "big")) or liquidity
    except Exception:  # v3.0 has no such function
        pass
    why = ("" if config >> FLASHLOAN_ENABLED_BIT & 1 else "flash loans disabled for the reserve") or \
        ("" if config >> ACTIVE_BIT & 1 else "reserve inactive") or ("reserve paused" if config >> PAUSED_BIT & 1 else "")
    return FlashOption(FlashSource("aave", p.address, premium), liquidity, usable=not why, why=why)


def _calldata(signature: str, address: str) -> str:
    from eth_abi.abi import encode

    from manager.execution.calls import selector_of

    return selector_of(signature) + encode(["address"], [to_checksum_address(address)]).hex()


__all__ = ["aave_flash_option"]
