"""Synthetix PerpsV2 plans: a margin / size ``SizingDecision`` -> unsigned calls on the market proxy.

``build_steps`` wraps ``encode.steps_for_decision`` (``transferMargin`` first, then a size change or a close with
a bounded fill price); ``allowed_calls`` is the allow-list these plans need. Pure: no RPC. (Moved here from
``manager.execution.planner``, which reaches it through ``SynthetixPerpsAdapter``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from manager.execution.calls import selector_of
from manager.execution.types import TxStep

PERP_FUNCTIONS = ("transferMargin(int256)", "modifyPosition(int256,uint256)", "closePosition(uint256)")


@dataclass(frozen=True)
class PerpPlanContext:
    """What a Synthetix PerpsV2 plan needs: the account and the fill-price bound (bps off the exact fill)."""

    protocol_kind: ClassVar[str] = "synthetix_perps"

    account: str
    max_slippage_bps: int
    max_block_age_blocks: int = 5


def perp_allowed_calls(market_proxy: str) -> dict[str, set[str]]:
    """The allow-list of PerpsV2 plans: margin transfer, direct size change and close on the market proxy."""
    return {market_proxy: {selector_of(sig) for sig in PERP_FUNCTIONS}}


def build_steps(decision: Any, snapshot: Any, ctx: PerpPlanContext) -> tuple[TxStep, ...]:
    """The calls of a perp decision (``UnplannableDecision`` when it cannot be encoded or changes nothing)."""
    from manager.execution.planner import UnplannableDecision
    from manager.protocols.synthetix_perps.encode import steps_for_decision

    try:
        steps = steps_for_decision(decision, snapshot, slippage_bps=ctx.max_slippage_bps)
    except ValueError as exc:
        raise UnplannableDecision(f"perp decision cannot be encoded: {exc}") from exc
    if not steps:
        raise UnplannableDecision(f"perp decision for {decision.position} has no margin or size change")
    return steps


__all__ = ["PERP_FUNCTIONS", "PerpPlanContext", "build_steps", "perp_allowed_calls"]
