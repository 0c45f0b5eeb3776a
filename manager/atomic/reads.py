"""Flash-loan sources at one block: which lenders can fund an atomic action, at what premium, and how much.

- Aave V3 (``flashLoanSimple``): premium ``Pool.FLASHLOAN_PREMIUM_TOTAL()`` (bps, read, never assumed); usable when
  the reserve is active, not paused and has flash loans enabled (``ReserveConfiguration`` bits 56, 60, 63, the
  same in v3.0 and v3.6); liquidity = the underlying held by the aToken (v3.6 keeps a virtual balance that can be
  lower: ``Pool.getVirtualUnderlyingBalance``, read when the pool has it).
- Morpho Blue (``flashLoan``): no fee; lends any token it holds, liquidity = ``token.balanceOf(morpho)``.

``cheapest`` picks the lowest premium among the sources that can lend the amount (``None``: no flash liquidity,
the planner falls back to the direct path and says so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from manager.atomic.encode import FlashSource

ACTIVE_BIT, PAUSED_BIT, FLASHLOAN_ENABLED_BIT = 56, 60, 63


@dataclass(frozen=True)
class FlashOption:
    source: FlashSource
    liquidity_wei: int
    usable: bool
    why: str = ""  # when not usable

    def can_lend(self, amount_wei: int) -> bool:
        return self.usable and self.liquidity_wei >= amount_wei


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


def morpho_flash_option(w3: Any, morpho: str, asset: str, block: int | str = "latest") -> FlashOption:
    from manager.chain.abi import load_abi

    erc20 = w3.eth.contract(address=to_checksum_address(asset), abi=load_abi("erc20/MintableERC20"))
    liquidity = int(erc20.functions.balanceOf(to_checksum_address(morpho)).call(block_identifier=block))
    return FlashOption(FlashSource("morpho", to_checksum_address(morpho), 0), liquidity, usable=True)


def cheapest(options: Iterable[FlashOption], amount_wei: int) -> FlashSource | None:
    """The lowest-premium source that can lend ``amount_wei`` now (ties: the first given), else None."""
    fit = [o for o in options if o.can_lend(amount_wei)]
    return min(fit, key=lambda o: o.source.premium_bps).source if fit else None


def _calldata(signature: str, address: str) -> str:
    from eth_abi import encode

    from manager.execution.calls import selector_of

    return selector_of(signature) + encode(["address"], [to_checksum_address(address)]).hex()
