"""The price automations' one-transaction actions (issue 16), the protocol-neutral part: what a close / partial
close / collateral switch of any lending protocol shares (the interest buffer of a close, the sale of a sized
amount as swap legs, the smallest sale whose guaranteed outputs cover a need).

Each protocol sizes its own actions in its folder on its exact math (``manager/protocols/<kind>/automations.py``),
reached through its loan model (``LoanModel.close_position`` / ``switch_collateral``, dispatched by
``manager.sizing.solver.close`` / ``collateral_switch``). Each decision is one transaction through the user's
``PosmanExecutor`` (``manager/atomic``): ``close(Plan)`` flash-borrows the WHOLE debt (read on chain at execution),
repays it, withdraws the whole collateral, sells it (legs) and repays the flash loan; ``deleverage(Plan)`` for a
partial close; ``switchCollateral(Plan)`` for a collateral switch. Amounts are integers in token units; the repay
rounds up, sale outputs are floored guarantees. Pure: no I/O.
"""

from __future__ import annotations

import math

from manager.domain import SizingDecision, SizingStep
from manager.sizing.venues import VenueSet

# the debt a close flashes is read on chain when it runs: size the sale for this much more (interest between
# the decision's block and the inclusion block; 1 bp is ~ a day at 36 % APR)
INTEREST_BUFFER_BPS = 1
CLOSE_NOTE = "atomic close: one transaction (flash the whole debt -> repay -> withdraw all -> swap -> repay flash)"


def none_decision(name: str, block: int | None, health: float | None, reason: str, binding: str) -> SizingDecision:
    return SizingDecision(position=name, action="none", health_before=health, projected_health=health,
                          binding_constraint=binding, reason=reason, block_number=block, feasible=False)


def sale_swaps(vs: VenueSet, sell: tuple[str, str], buy: tuple[str, str], x_wei: int, health: float | None,
           ) -> list[SizingStep]:
    """The sale of ``x_wei`` as swap steps: one leg per venue (each with its own guaranteed minimum out)."""
    if vs.venues and vs.venues[0].tokens:
        return [SizingStep(kind="swap", asset=sell[0], symbol=sell[1], amount_wei=lg.amount_in_wei, asset_out=buy[0],
                           symbol_out=buy[1], min_amount_out_wei=lg.min_out_wei, path=lg.tokens,
                           fees_pips=lg.fees_pips, projected_health=health)
                for lg in vs.legs(0.0, x_wei) if lg.min_out_wei > 0]
    out = math.floor(vs.model.out_wei(min(float(x_wei), vs.model.max_in_wei)))
    return [SizingStep(kind="swap", asset=sell[0], symbol=sell[1], amount_wei=x_wei, asset_out=buy[0],
                       symbol_out=buy[1], min_amount_out_wei=out, projected_health=health)]


def sale_cap_wei(vs: VenueSet) -> int:
    """The sale's slippage cap in whole wei (no cap without a depth curve: the oracle less the haircut)."""
    return math.floor(vs.cap_wei) if math.isfinite(vs.cap_wei) else 2**255


def sale_for(vs: VenueSet, need_wei: int, have_wei: int) -> int | None:
    """Smallest integer sale whose legs' minimum outputs sum to >= ``need_wei`` (None: not within depth/balance)."""
    x = vs.model.input_for_output(float(need_wei))
    if not math.isfinite(x):
        return None
    x_wei = max(1, math.ceil(x))
    for _ in range(40):  # NOTE: integer legs floor each output: nudge the sale up until the floors cover it
        if x_wei > have_wei or x_wei > vs.cap_wei:
            return None
        got = sum(s.min_amount_out_wei or 0 for s in sale_swaps(vs, ("", ""), ("", ""), x_wei, None))
        if got >= need_wei:
            return x_wei
        x_wei += max(1, (need_wei - got) * x_wei // max(1, need_wei) + x_wei // 100_000)
    return None


__all__ = ["CLOSE_NOTE", "INTEREST_BUFFER_BPS", "none_decision", "sale_cap_wei", "sale_for", "sale_swaps"]
