"""Perp margin band: keep a Synthetix PerpsV2 position's margin ratio (1/leverage) inside a band.

When the margin ratio falls below ``trigger_margin_ratio`` (or the perp health - remaining
liquidatable margin over liquidation margin, liquidatable at 1 - falls below ``min_health``), the
position is brought back to ``target_margin_ratio`` by adding sUSD margin from the wallet (capped by
``max_add_margin_usd``), then by cutting size (capped by ``max_cut_fraction``). Above
``upper_margin_ratio`` excess margin can be released. The math is ``manager.sizing.perp.decide_perp``.

The runtime hands it the ``PerpSnapshot`` of a position on a ``synthetix_perps`` protocol entry (read by
``manager.protocols.synthetix_perps.reads.read_perps`` at the tick's block) and plans the decision with
``manager.protocols.synthetix_perps.encode.steps_for_decision`` (``transferMargin`` first, then the
size cut with a bounded fill price). After an action it waits ``cooldown_s`` of chain time before acting
again, unless the perp health is below ``emergency_health``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from manager.domain import SizingDecision
from manager.sizing.perp import PerpMarginConfig, PerpSnapshot, decide_perp
from strategies.api import StrategyConfig

INTERFACE_VERSION = 1


class Config(StrategyConfig):
    trigger_margin_ratio: float = Field(gt=0, lt=1, description="act below this remaining margin / notional")
    target_margin_ratio: float = Field(gt=0, lt=1, description="margin ratio after acting")
    upper_margin_ratio: float | None = Field(default=None, gt=0, lt=1, description="release margin above this")
    min_health: float = Field(default=1.5, gt=1, description="act below this perp health (liquidatable at 1)")
    prefer: Literal["add_margin", "cut_size"] = "add_margin"
    max_add_margin_usd: float = Field(default=math.inf, ge=0)
    max_cut_fraction: float = Field(default=1.0, gt=0, le=1)
    fee_buffer_ratio: float = Field(default=0.001, ge=0, lt=0.1)
    cooldown_s: float = Field(default=0.0, ge=0, le=30 * 86_400, description="chain seconds between two actions")
    emergency_health: float = Field(default=1.2, gt=1, description="below this perp health the cooldown is ignored")

    @model_validator(mode="after")
    def _band(self) -> Config:
        if self.target_margin_ratio <= self.trigger_margin_ratio:
            raise ValueError("target_margin_ratio must be above trigger_margin_ratio")
        if self.upper_margin_ratio is not None and self.upper_margin_ratio <= self.target_margin_ratio:
            raise ValueError("upper_margin_ratio must be above target_margin_ratio")
        return self

    def sizing(self) -> PerpMarginConfig:
        return PerpMarginConfig(**self.model_dump(exclude={"cooldown_s", "emergency_health"}))


def decide(config: Config, snapshot: PerpSnapshot, ctx: Any = None) -> SizingDecision | None:
    """Pure: the decision for one perp position at the snapshot's block, or ``None`` when in band."""
    d = decide_perp(snapshot, config.sizing())
    if d.action == "none":
        return None if d.feasible else d
    last = getattr(ctx, "last_action_s", None)
    health = d.health_before if d.health_before is not None else math.inf
    if last is not None and health >= config.emergency_health:
        waited = snapshot.block_timestamp - last
        if waited < config.cooldown_s:
            return SizingDecision(position=d.position, action="none", health_before=d.health_before,
                                  binding_constraint="cooldown", block_number=snapshot.block_number,
                                  reason=f"{d.reason}; in cooldown ({waited:.0f}/{config.cooldown_s:g} s)")
    return d
