"""Boost (leverage up) of an Aave V3 position: borrow the debt token, swap it into collateral, supply it.

``plan_boost`` is a thin call into the one boost solver, ``manager.sizing.solver.boost``, over the position's
Aave loan model (``manager.protocols.aave_v3.loan.AaveLoanModel``); Morpho Blue positions boost through the same solver.

Algebra (notes §6): ``HF_t = (S + y(Δ)·LT_k) / (D + Δ·(1+p))`` ⇒ for a linear swap
``Δ = (S - HF_t·D) / (HF_t·(1+p) - g·LT_k)``. Here the guaranteed swap output ``y`` comes from the
pool-depth curve (or the oracle fallback), and every round is sized **exactly**: the largest integer
borrow whose exact Aave v3.0 HF after the supply is >= the target (borrow sizes round down).

Gates per round, mirroring aave-v3-core v3.0 ``ValidationLogic.validateBorrow`` / ``validateSupply``:
- without a flash loan the borrow happens before the supply, so it must pass the LTV gate
  (``percentDiv(debt + amount, avgLtv) <= coll``) and keep HF >= ``limits.safety_floor_hf``;
  the plan then takes k rounds (borrow -> swap -> supply);
- with a flash loan (flash the debt token, swap, supply, then borrow ``Δ + premium`` to repay it),
  the LTV gate applies to the final borrow with the new collateral counted;
- borrow-cap room, reserve liquidity, isolation debt ceiling, supply-cap room of the collateral,
  per-action / per-day USD caps and the pool-depth cap.
"""

from __future__ import annotations

from collections.abc import Mapping

from manager.domain import SizingDecision
from manager.protocols.aave_v3.math import AssetLine
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing.caps import SizingLimits
from manager.sizing.venues import DepthEntry


def plan_boost(
    snapshot: LendingPositionSnapshot,
    target_hf: float,
    *,
    borrow_asset: str,
    supply_asset: str,
    depth: Mapping[tuple[str, str], DepthEntry] | None = None,
    limits: SizingLimits | None = None,
    flash_premium_bps: int | None = None,
    emode_price_base: int | None = None,
) -> SizingDecision:
    """Plan the rounds that lower HF to ``target_hf`` by borrowing ``borrow_asset`` and supplying ``supply_asset``.

    ``target_hf`` must be > 1 and >= ``limits.safety_floor_hf``. Assets may be given as address or symbol.
    """
    from manager.sizing.solver import boost

    return boost(snapshot.loan_model(emode_price_base=emode_price_base), target_hf, borrow_asset=borrow_asset,
                 supply_asset=supply_asset, depth=depth, limits=limits, flash_premium_bps=flash_premium_bps)


__all__ = ["AssetLine", "plan_boost"]
