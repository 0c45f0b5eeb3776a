"""Aave V3 atomic protective actions (one flash-loan transaction each): the historical entry points, thin calls into
the one solver (``manager.sizing.solver.atomic_deleverage`` / ``atomic_boost``) over the position's
``AaveLoanModel`` (the pool revision's exact integer rules; see ``manager.sizing.atomic`` for the shape of the
transaction). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from manager.domain import SizingDecision
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing.atomic import _premium
from manager.sizing.caps import SizingLimits
from manager.sizing.venues import DepthEntry


def plan_atomic_deleverage(
    snapshot: LendingPositionSnapshot,
    target_hf: float,
    *,
    premium_bps: int,
    depth: Mapping[tuple[str, str], DepthEntry] | None = None,
    limits: SizingLimits | None = None,
    collateral_order: tuple[str, ...] | None = None,
    emode_price_base: int | None = None,
) -> SizingDecision:
    """One atomic deleverage of an Aave V3 position toward ``target_hf`` (see the module docstring).

    Steps: ``flash_loan`` F, ``repay`` F, ``withdraw`` X, then the ``swap`` legs (their inputs sum to X, their
    minimum outputs to at least ``F + percentMul(F, premium_bps)``). A thin call into the one solver's
    ``manager.sizing.solver.atomic_deleverage`` over the position's Aave loan model.
    """
    from manager.sizing.solver import atomic_deleverage

    prem = _premium(premium_bps)
    return atomic_deleverage(snapshot.loan_model(emode_price_base=emode_price_base), target_hf, premium_bps=prem,
                             depth=depth, limits=limits, collateral_order=collateral_order)


def plan_atomic_boost(
    snapshot: LendingPositionSnapshot,
    target_hf: float,
    *,
    borrow_asset: str,
    supply_asset: str,
    premium_bps: int,
    depth: Mapping[tuple[str, str], DepthEntry] | None = None,
    limits: SizingLimits | None = None,
    emode_price_base: int | None = None,
) -> SizingDecision:
    """One atomic boost: flash ``F`` -> buy collateral (legs) -> supply -> borrow ``F + premium`` for the owner.

    The borrow is rounded down (the largest whose exact health after the supply is >= the target). A thin call into
    ``manager.sizing.solver.atomic_boost`` (the one boost solver, Aave and Morpho alike).
    """
    from manager.sizing.solver import atomic_boost

    return atomic_boost(snapshot.loan_model(emode_price_base=emode_price_base), target_hf, premium_bps=premium_bps,
                        borrow_asset=borrow_asset, supply_asset=supply_asset, depth=depth, limits=limits)


__all__ = ["plan_atomic_boost", "plan_atomic_deleverage"]
