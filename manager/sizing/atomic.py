"""Atomic protective actions: one flash-loan-funded transaction per action (see ``manager/atomic``).

The executor contract runs a deleverage as: flash-borrow ``F`` of the debt token -> **repay ``F`` first** ->
withdraw ``X`` collateral -> sell it (one leg per venue) -> repay the flash loan ``F + premium``. Because the
repay lands before the withdraw, no intermediate state is riskier than the start, and no safety floor binds the
size: the action is sized to the target in one go.

Every protocol goes through the one solver (``manager.sizing.solver``) over its loan model
(``manager.sizing.loan``); each protocol's folder keeps its historical entry points as thin calls into it
(``manager/protocols/<kind>/atomic.py``). This module holds what they share (the notes, the premium check, the
on-chain health floor of an atomic action):

- ``plan_atomic_deleverage`` / ``plan_atomic_deleverage_morpho`` (in the protocols' folders):
  ``solver.atomic_pair_deleverage``, one collateral and one debt token per transaction (Aave: the largest debt
  and the most efficient collateral, chosen by the model): the smallest integer sale whose guaranteed output
  (the merged venues of the pair, ``sizing.venues``: every pool / fee tier / two-hop route, each leg valued after
  the earlier legs) repays enough for the model's exact health (Aave: the pool revision's integer rules;
  Morpho: ``_isHealthy`` shares math, ``toSharesDown`` on repay) to reach the target, found by bisection; short
  of it the exact optimum within the bounds (pools, caps, the collateral).
- ``plan_atomic_boost``: ``solver.atomic_boost`` (flash -> swap -> supply -> borrow ``F + premium``), the borrow
  rounded down, the final borrow passing the protocol's gate with the new collateral counted.

When the pools cannot deliver the target within ``limits.max_slippage_bps``, the decision is the largest
action within the limit now (``partial=True``, reason ``PARTIAL_REASON``): the next block re-reads and
continues. ``premium_bps`` is the flash lender's fee (Aave ``FLASHLOAN_PREMIUM_TOTAL``, read from the pool;
Morpho Blue: 0).

Pure: no I/O.
"""

from __future__ import annotations

import math

from manager.domain import SizingDecision
from manager.sizing._checks import BadInputError
from manager.sizing.fixed import WAD

PARTIAL_PAIR_REASON = "partial: one collateral/debt pair per transaction, will continue next block"
ATOMIC_NOTE = "atomic: one transaction (flash loan -> repay first -> withdraw -> swap -> repay flash)"


def _premium(premium_bps: int) -> int:
    if isinstance(premium_bps, bool) or int(premium_bps) != premium_bps or not 0 <= premium_bps < 10_000:
        raise BadInputError(f"premium_bps={premium_bps}: must be an int in [0, 10000)", field="premium_bps",
                            value=premium_bps)
    return int(premium_bps)


def min_health_wad(decision: SizingDecision) -> int:
    """The on-chain floor of an atomic action: never below the health before it (a protective action must not
    make the position worse), at least 1.0, never above the projected health."""
    before = decision.health_before if decision.health_before is not None else 1.0
    projected = decision.projected_health if decision.projected_health is not None else before
    floor = max(1.0, before) if math.isfinite(before) else 1.0
    if math.isfinite(projected):
        floor = min(floor, projected)
    return math.floor(floor * WAD)


__all__ = ["ATOMIC_NOTE", "PARTIAL_PAIR_REASON", "min_health_wad"]
