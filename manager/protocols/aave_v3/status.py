"""Status row of an Aave V3 position (``posman status``; the stable fields are documented in ``manager.status``).

Computed locally from the snapshot with the version's exact integer math (``manager.protocols.aave_v3.math``:
``getUserAccountData``; ``manager.protocols.aave_v3.liquidation``: the worst single ``liquidationCall``).
"""

from __future__ import annotations

from typing import Any

from manager.domain import UINT256_MAX, WAD
from manager.protocols.aave_v3.math import account_data, liquidation_prices
from manager.protocols.aave_v3.types import LendingPositionSnapshot


def status_row(snap: LendingPositionSnapshot) -> dict[str, Any]:
    acc = account_data(snap)
    unit = snap.base_unit
    no_debt = acc.health_factor_wad == UINT256_MAX
    hf = None if no_debt else acc.health_factor_wad / WAD
    coll_usd = acc.total_collateral_base / unit
    debt_usd = acc.total_debt_base / unit
    return {
        "name": snap.name,
        "protocol": snap.protocol,
        "account": snap.account,
        "block_number": snap.block_number,
        "collateral_usd": coll_usd,
        "debt_usd": debt_usd,
        "health_factor": hf,
        "ltv": acc.ltv_bps / 10_000,
        "liquidation_threshold": acc.current_liquidation_threshold_bps / 10_000,
        "available_borrows_usd": acc.available_borrows_base / unit,
        "liquidation_prices": liquidation_prices(snap),
        "distance_to_liquidation_pct": None if hf is None else max(0.0, (1 - 1 / hf) * 100) if hf > 0 else 0.0,
        "oracle_fresh": snap.oracle_fresh,
        # extras (exact values and context)
        "health_factor_wad": str(acc.health_factor_wad),
        "total_collateral_base": acc.total_collateral_base,
        "total_debt_base": acc.total_debt_base,
        "available_borrows_base": acc.available_borrows_base,
        "base_unit": unit,
        "current_ltv": (debt_usd / coll_usd) if coll_usd else None,
        "emode_category": snap.emode_category_id,
        "isolated_asset": snap.isolated_asset,
        "oracle_issues": list(snap.oracle_issues),
        "protocol_version": snap.protocol_version,
        "flash_loan_premium_bps": snap.flash_loan_premium_bps,
        "liquidation": _liquidation_view(snap),
    }


def _liquidation_view(snap: LendingPositionSnapshot) -> dict[str, Any] | None:
    """The worst single ``liquidationCall`` on the position (``aave_v3.liquidation.worst_liquidation``: the
    version's close factor, $2,000 thresholds, $1,000 leftover rule and deficit), valued just below HF 1 when the
    position is above it. ``None`` without debt. Amounts in the assets' token units and USD."""
    from manager.protocols.aave_v3.liquidation import worst_liquidation

    q = worst_liquidation(snap)
    if q is None:
        return None
    rc, rd = snap.reserves[q.collateral_asset], snap.reserves[q.debt_asset]
    return {
        "collateral": q.collateral_symbol, "debt": q.debt_symbol, "close_factor": q.close_factor_bps / 10_000,
        "max_repay": q.debt_to_cover_wei / 10**rd.decimals,
        "seized": q.collateral_removed_wei / 10**rc.decimals,
        "bonus": q.bonus_bps / 10_000 - 1, "loss_usd": q.loss_base / snap.base_unit, "bad_debt": q.bad_debt,
        "deficit_usd": q.deficit_base / snap.base_unit,
        "liquidatable_now": account_data(snap).health_factor_wad < WAD,
    }
