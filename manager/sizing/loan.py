"""Loan models: how collateral and debt enter a lending position's health, exactly (the protocol-neutral part).

A ``LoanModel`` is what the one deleverage/boost solver (``manager.sizing.solver``) and the strategies see of a
lending position, whatever the protocol: the assets that are collateral and debt (token units, their value per wei
in the model's own value unit, the weight with which collateral backs debt), the exact health now and after signed
deltas (the protocol's own integer rules and rounding), the protocol's gates on a borrow, the swap venues of a
pair, and the protocol's own engines for a deleverage in rounds, an atomic deleverage, a close and a collateral
switch (``deleverage_rounds`` / ``atomic_deleverage`` / ``close_position`` / ``switch_collateral``: the
solver dispatches through them, never by importing a protocol). A snapshot hands out its model
(``snapshot.loan_model()``), so no caller dispatches on the snapshot's type.

Each lending protocol implements its model in its own folder (``manager/protocols/<kind>/loan.py``; see
``manager/protocols/README.md``).

Pure: no I/O.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from manager.domain import SizingDecision
from manager.sizing._checks import BadInputError
from manager.sizing.caps import SizingLimits
from manager.sizing.fixed import UINT256_MAX, WAD
from manager.sizing.venues import DepthEntry, VenueSet

Side = Literal["collateral", "debt"]
WalletMode = Literal["none", "collateral", "supply", "all"]
# what a protocol may not do (``LoanModel.unsupported``): the strategies ask, never name the protocol
Capability = Literal["boost", "partial_close", "collateral_switch"]


@dataclass(frozen=True, slots=True)
class LoanAsset:
    """One asset of a loan as the solver sees it (token units; value in the model's own unit)."""

    asset: str  # token address
    symbol: str
    decimals: int
    collateral_wei: int  # counted as collateral (Aave: the aToken balance; Morpho: the market's collateral)
    debt_wei: int
    value_per_wei: float  # the model's value unit per token wei (Aave: base currency; Morpho: loan-token wei)
    weight: float  # fraction of its value that backs debt: Aave (e-mode) LT, Morpho LLTV; 0 = not collateral
    usd_per_wei: float | None  # USD per token wei (None: the protocol's oracle gives no USD price)


class LoanSnapshot(Protocol):
    """A position snapshot that hands out its loan model (every lending snapshot)."""

    name: str
    account: str
    block_number: int
    block_timestamp: int

    def loan_model(self) -> LoanModel: ...


class LoanModel(ABC):
    """How collateral and debt of one lending position enter its health, exactly (see the module docstring)."""

    name: str
    account: str
    block_number: int
    block_timestamp: int

    # ---- the assets ---------------------------------------------------------------------------
    @abstractmethod
    def assets(self) -> tuple[LoanAsset, ...]:
        """Every asset with a balance (or a flag) in the position."""

    def line(self, asset: str) -> LoanAsset:
        """The asset by address (any case) or symbol; ``BadInputError`` when the position does not hold it."""
        for a in self.assets():
            if a.asset == asset or a.asset.lower() == asset.lower() or a.symbol == asset:
                return a
        raise BadInputError(f"asset={asset!r}: not in this position", field="asset", value=asset)

    def find(self, asset: str) -> LoanAsset | None:
        try:
            return self.line(asset)
        except BadInputError:
            return None

    def largest(self, side: Side) -> str | None:
        """Symbol of the largest collateral or debt by value (None when the side is empty)."""
        best, best_v = None, 0.0
        for a in self.assets():
            amount = a.collateral_wei if side == "collateral" else a.debt_wei
            v = amount * a.value_per_wei
            if amount > 0 and v > best_v:
                best, best_v = a.symbol, v
        return best

    def value_usd(self, asset: str, amount_wei: int) -> float | None:
        a = self.find(asset)
        if a is None or a.usd_per_wei is None:
            return None
        return amount_wei * a.usd_per_wei

    def weighted(self) -> tuple[float, float]:
        """(Σ collateral value · weight, Σ debt value) in the model's value unit (floats: for guesses only)."""
        s = sum(a.collateral_wei * a.value_per_wei * a.weight for a in self.assets())
        d = sum(a.debt_wei * a.value_per_wei for a in self.assets())
        return s, d

    @abstractmethod
    def book_usd(self) -> tuple[float, float, float]:
        """(collateral USD, debt USD, weighted liquidation threshold as a fraction), the protocol's own numbers."""

    # ---- exact health -----------------------------------------------------------------------------
    @abstractmethod
    def health_wad(self) -> int:
        """The protocol's health factor as a WAD, exactly (``UINT256_MAX`` without debt)."""

    def health(self) -> float:
        """The exact health as a float (``inf`` without debt)."""
        h = self.health_wad()
        return math.inf if h >= UINT256_MAX else h / WAD

    @abstractmethod
    def after(self, collateral_deltas_wei: Mapping[str, int] | None = None,
              debt_deltas_wei: Mapping[str, int] | None = None) -> LoanModel:
        """The position after signed deltas (asset address or symbol -> wei), collateral first, then debt, with the
        protocol's own bookkeeping (Aave: scaled balances; Morpho: borrow shares minted up / burned down)."""

    def health_after(self, collateral_deltas_wei: Mapping[str, int] | None = None,
                     debt_deltas_wei: Mapping[str, int] | None = None) -> float:
        return self.after(collateral_deltas_wei, debt_deltas_wei).health()

    # ---- protocol gates -----------------------------------------------------------------------------
    @abstractmethod
    def borrow_ok(self, asset: str, amount_wei: int) -> bool:
        """Whether the protocol lets this position borrow ``amount_wei`` more of ``asset`` now (health/LTV gates)."""

    @abstractmethod
    def boost_blocked(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[str, str] | None:
        """(binding, reason) when the protocol refuses borrowing ``borrow`` or supplying ``supply``; None if allowed."""

    @abstractmethod
    def boost_rooms(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[dict[str, int], int | None]:
        """The protocol's static rooms for a boost: borrow-side bounds (name -> wei of ``borrow``) and the supply-cap
        room of ``supply`` (wei; None = no cap)."""

    def unsupported(self, what: Capability) -> str | None:
        """Why the protocol cannot do ``what`` (None: it can)."""
        return None

    # ---- swaps ------------------------------------------------------------------------------------
    @abstractmethod
    def venues(self, sell: LoanAsset, buy: LoanAsset, depth: Mapping[tuple[str, str], DepthEntry] | None,
               limits: SizingLimits) -> VenueSet:
        """Every venue selling ``sell`` for ``buy`` (merged), else one valued at the protocol's oracle."""

    # ---- wallet -----------------------------------------------------------------------------------
    @abstractmethod
    def spendable_wallet(self, mode: WalletMode, wallet_wei: Mapping[str, int],
                         interrupted_proceeds_wei: Mapping[str, int]) -> dict[str, int]:
        """The wallet balances a deleverage may spend under ``use_wallet_funds = mode`` (asset -> wei)."""

    # ---- valuation ----------------------------------------------------------------------------------
    def usd_terms(self) -> tuple[tuple[str, float, float, float], ...]:
        """(symbol, collateral USD, weighted collateral USD, debt USD) per asset (floats, for views such as
        ``sizing.hedge``; 0 USD where the protocol's oracle gives no USD price)."""
        out = []
        for a in self.assets():
            px = a.usd_per_wei or 0.0
            coll = a.collateral_wei * px
            out.append((a.symbol, coll, coll * a.weight, a.debt_wei * px))
        return tuple(out)

    # ---- the protocol's exact engines (``sizing.solver`` dispatches through these) ------------------
    @abstractmethod
    def deleverage_rounds(self, target_hf: float, *, depth: Mapping[tuple[str, str], DepthEntry] | None,
                          limits: SizingLimits | None, opts: DeleverageOptions) -> SizingDecision:
        """Deleverage rounds (withdraw -> swap -> repay, wallet funds first) toward ``target_hf`` on the
        protocol's exact rules (``sizing.solver.deleverage``)."""

    @abstractmethod
    def atomic_deleverage(self, target_hf: float, *, premium_bps: int,
                          depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                          opts: DeleverageOptions) -> SizingDecision:
        """One flash-loan deleverage toward ``target_hf``: the protocol picks the collateral/debt pair and the
        sale, sized by the one solver's ``atomic_pair_deleverage`` (``sizing.solver.atomic_deleverage``)."""

    @abstractmethod
    def close_position(self, *, out_asset: str, premium_bps: int, depth: Mapping[tuple[str, str], DepthEntry] | None,
                       limits: SizingLimits | None, fraction: float, debt_asset: str | None,
                       collateral_asset: str | None, name: str) -> SizingDecision:
        """Close the position in one transaction (``fraction < 1``: that share, where supported)."""

    def switch_collateral(self, *, from_asset: str, to_asset: str, floor_hf: float, premium_bps: int,
                          depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                          name: str) -> SizingDecision:
        """Move collateral ``from_asset`` -> ``to_asset`` in one transaction (default: unsupported)."""
        raise BadInputError(f"collateral switch: {self.unsupported('collateral_switch')}", field="protocol",
                            value=type(self).__name__)


@dataclass(frozen=True)
class DeleverageOptions:
    """What a deleverage may use besides the target (see ``sizing.solver.deleverage``)."""

    wallet_wei: Mapping[str, int] | None = None
    wallet_mode: Literal["repay", "supply"] = "repay"
    collateral_order: tuple[str, ...] | None = None
    no_route: Iterable[tuple[str, str]] = ()
    flash_premium_bps: int | None = None  # Aave direct plan with flash-loan rounds
    swap_haircut_bps: int = 100  # the sale's value below the oracle without a depth curve (Morpho)
    safety_floor_hf: float = 1.01  # Morpho, without ``limits``
    max_rounds: int = 8  # Morpho, without ``limits``



__all__ = ["Capability", "DeleverageOptions", "LoanAsset", "LoanModel", "LoanSnapshot", "Side", "WalletMode"]
