"""Aave V3 position snapshot: a user's balances in one market plus every reserve's state, at one block.

The reserve / e-mode / account types it holds are the protocol-neutral lending shapes of ``manager.domain``
(``ReserveState`` mirrors aave-v3-core ``DataTypes.ReserveData`` and ``ReserveConfiguration``). Health comes
from ``manager.protocols.aave_v3.math.account_data`` (the exact ``getUserAccountData`` integer math of the version).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from manager.domain import (
    UINT256_MAX,
    WAD,
    AccountData,
    EModeCategory,
    HealthView,
    PositionAsset,
    PositionSnapshot,
    ReserveState,
)

if TYPE_CHECKING:
    from manager.protocols.aave_v3.loan import AaveLoanModel


class LendingPositionSnapshot(PositionSnapshot):
    """Everything needed to compute an Aave V3 position's health exactly, read at one block."""

    protocol: Literal["aave_v3"] = "aave_v3"
    protocol_version: str = "3.0"
    base_unit: int = 10**8  # AaveOracle.BASE_CURRENCY_UNIT
    reserves: dict[str, ReserveState]  # keyed by asset address (checksummed)
    assets: tuple[PositionAsset, ...]  # only reserves where the user has a balance or a flag
    emode_category_id: int = 0
    emode: EModeCategory | None = None
    isolated_asset: str | None = None  # set when the only enabled collateral has a debt ceiling
    reported: AccountData | None = None  # the protocol's own view at the same block, for checks
    # ``Pool.FLASHLOAN_PREMIUM_TOTAL`` (bps) at the same block: what a flash-loan-funded plan pays
    flash_loan_premium_bps: int | None = None

    def oracle_symbols(self) -> tuple[str, ...]:
        """Every reserve the user holds or owes (each one's ``AaveOracle`` price enters the health)."""
        return tuple(dict.fromkeys(a.symbol for a in self.assets))

    def debt_tokens(self) -> tuple[str, ...]:
        return tuple(a.asset for a in self.assets if a.variable_debt_wei + a.stable_debt_wei > 0)

    def token_info(self) -> dict[str, tuple[str, int]]:
        return {r.asset: (r.symbol, r.decimals) for r in self.reserves.values()}

    def health_view(self) -> HealthView:
        """The exact ``getUserAccountData`` health factor (``manager.protocols.aave_v3.math.account_data``)."""
        from manager.protocols.aave_v3.math import account_data

        acc = account_data(self)
        hf = math.inf if acc.health_factor_wad == UINT256_MAX else acc.health_factor_wad / WAD
        return HealthView(self.protocol, hf, acc.health_factor_wad, acc.total_collateral_base / self.base_unit,
                          acc.total_debt_base / self.base_unit, acc.ltv_bps, acc.current_liquidation_threshold_bps,
                          frozenset(self.oracle_symbols()), self.oracle_fresh, tuple(self.oracle_issues))

    def loan_model(self, *, emode_price_base: int | None = None) -> AaveLoanModel:
        """How this position's collateral and debt enter its health (``manager.sizing.loan``): the exact Aave
        rules of its pool revision, for the one deleverage/boost solver (``manager.sizing.solver``)."""
        from manager.protocols.aave_v3.loan import AaveLoanModel

        return AaveLoanModel.of(self, emode_price_base=emode_price_base)


__all__ = ["LendingPositionSnapshot"]
