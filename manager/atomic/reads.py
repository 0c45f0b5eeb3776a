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

from manager.atomic.encode import FlashSource


@dataclass(frozen=True)
class FlashOption:
    source: FlashSource
    liquidity_wei: int
    usable: bool
    why: str = ""  # when not usable

    def can_lend(self, amount_wei: int) -> bool:
        return self.usable and self.liquidity_wei >= amount_wei


def flash_option(flash_kind: str, w3: Any, lender: str, asset: str, block: int | str = "latest") -> FlashOption:
    """The ``FlashOption`` of the lender of ``flash_kind`` (``FlashSource.kind``: "aave", "morpho") for ``asset``
    at ``block``, read by the lending adapter that offers that flash loan (``adapter.flash_option``)."""
    from manager.protocols import registry

    for adapter in registry.adapters("lending"):
        if adapter.flash_kind == flash_kind:
            option: FlashOption = adapter.flash_option(w3, lender, asset, block)
            return option
    raise ValueError(f"no lending protocol offers a {flash_kind!r} flash loan")


def aave_flash_option(w3: Any, pool: str, asset: str, block: int | str = "latest") -> FlashOption:
    """``flashLoanSimple`` of an Aave V3 Pool (see the module docstring)."""
    return flash_option("aave", w3, pool, asset, block)


def morpho_flash_option(w3: Any, morpho: str, asset: str, block: int | str = "latest") -> FlashOption:
    """``flashLoan`` of Morpho Blue (see the module docstring)."""
    return flash_option("morpho", w3, morpho, asset, block)


def cheapest(options: Iterable[FlashOption], amount_wei: int) -> FlashSource | None:
    """The lowest-premium source that can lend ``amount_wei`` now (ties: the first given), else None."""
    fit = [o for o in options if o.can_lend(amount_wei)]
    return min(fit, key=lambda o: o.source.premium_bps).source if fit else None
