"""Perp margin band: keep a perp position's margin ratio (1/leverage) inside a band.

When the margin ratio falls below ``trigger_margin_ratio`` (or the perp health - remaining
liquidatable margin over liquidation margin, liquidatable at 1 - falls below ``min_health``), the
position is brought back to ``target_margin_ratio`` by adding sUSD margin from the wallet (capped by
``max_add_margin_usd``), then by cutting size (capped by ``max_cut_fraction``). Above
``upper_margin_ratio`` excess margin can be released. The decision is the position's perp model's
(``snapshot.perp_model().decide``: ``manager.sizing.perp.PerpModel``, implemented in the protocol's folder).

The runtime hands it the snapshot of a perp position (read by the perp protocol's adapter at the tick's
block) and plans the decision with that adapter's encoders (``transferMargin`` first, then the size cut with a
bounded fill price). After an action it waits ``cooldown_s`` of chain time before acting
again, unless the perp health is below ``emergency_health``.

Fees: a size cut pays the market's order fee (``PerpModel.order_fee_bps``; on PerpsV2 an atomic
``modifyPosition`` whose fee is the market's ``takerFee``/``makerFee``, read with the snapshot every tick). A cut
is never sent when that fee exceeds ``max_order_fee_bps`` (default 100 bps): margin is added instead (within
``max_add_margin_usd`` and the wallet's margin token), and when no margin can be added the decision is "none"
with the reason naming the fee and the cap.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from manager.domain import PositionSnapshot, SizingDecision
from manager.sizing.perp import PerpMarginConfig, PerpModel, PerpSnapshotLike, perp_model_of
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
    # NOTE: on the real chain PerpsV2 atomic and on-chain delayed orders carry a 30% fee (SCCP-2000 / SCCP-2082):
    # a size cut is only sent when the market's order fee (its takerFee/makerFee settings, read every tick)
    # is within this cap; otherwise margin is added instead, and the decision says why when it cannot act.
    max_order_fee_bps: float = Field(default=100.0, ge=0, le=10_000,
                                     description="largest order fee (bps of the cut's notional) a size cut may pay")

    @model_validator(mode="after")
    def _band(self) -> Config:
        if self.target_margin_ratio <= self.trigger_margin_ratio:
            raise ValueError("target_margin_ratio must be above trigger_margin_ratio")
        if self.upper_margin_ratio is not None and self.upper_margin_ratio <= self.target_margin_ratio:
            raise ValueError("upper_margin_ratio must be above target_margin_ratio")
        return self

    def sizing(self) -> PerpMarginConfig:
        return PerpMarginConfig(**self.model_dump(exclude={"cooldown_s", "emergency_health", "max_order_fee_bps"}))


def _model(snapshot: PositionSnapshot | PerpSnapshotLike | PerpModel) -> PerpModel:
    return perp_model_of(snapshot)  # type: ignore[arg-type]


def order_fee_bps(snapshot: PositionSnapshot | PerpSnapshotLike | PerpModel) -> float:
    """The fee of a size change on this market, in bps of the order's notional (the perp model's: on PerpsV2 the
    larger of ``takerFee`` and ``makerFee``, which one applies depends on the skew the order leaves)."""
    return _model(snapshot).order_fee_bps()


def _without_cut(config: Config, model: PerpModel, fee_bps: float) -> SizingDecision:
    """Margin only: the size cut the band needs would pay more than ``max_order_fee_bps``."""
    margin_only = config.sizing().model_copy(update={"prefer": "add_margin", "max_cut_fraction": 1e-30})
    if not model.has_size or model.price_invalid:
        return model.decide(config.sizing())
    met = model.metrics()
    needs = met["margin_ratio"] < config.trigger_margin_ratio or met["health"] < config.min_health
    if met["health"] <= 1 or not needs:
        return model.decide(config.sizing())  # in band or nothing to act on: fees do not matter
    d = model.decide(margin_only)
    why = (f"no size cut: the market's order fee {fee_bps:.0f} bps exceeds max_order_fee_bps "
           f"{config.max_order_fee_bps:g}")
    steps = tuple(s for s in d.steps if s.kind != "modify_size")
    deltas = {k: v for k, v in d.deltas_wei.items() if not k.startswith("size_")}
    if not steps:
        sym = model.margin_symbol
        return SizingDecision(position=d.position, action="none", health_before=d.health_before, feasible=False,
                              binding_constraint="max_order_fee_bps", block_number=model.block_number,
                              reason=f"{d.reason.split(':')[0]}: cannot act: {why}, and no {sym} margin can be added "
                                     f"(wallet {model.wallet_margin:,.2f} {sym}, max_add_margin_usd "
                                     f"{config.max_add_margin_usd:g})")
    return d.model_copy(update={"action": "perp_add_margin", "steps": steps, "deltas_wei": deltas,
                                "binding_constraint": "max_order_fee_bps", "reason": f"{d.reason}; {why}"})


def decide(config: Config, snapshot: PositionSnapshot | PerpSnapshotLike, ctx: Any = None) -> SizingDecision | None:
    """Pure: the decision for one perp position at the snapshot's block, or ``None`` when in band."""
    model = _model(snapshot)
    fee_bps = model.order_fee_bps()
    if fee_bps > config.max_order_fee_bps:
        d = _without_cut(config, model, fee_bps)
    else:
        d = model.decide(config.sizing())
    if d.action == "none":
        return None if d.feasible else d
    last = getattr(ctx, "last_action_s", None)
    health = d.health_before if d.health_before is not None else math.inf
    if last is not None and health >= config.emergency_health:
        waited = model.block_timestamp - last
        if waited < config.cooldown_s:
            return SizingDecision(position=d.position, action="none", health_before=d.health_before,
                                  binding_constraint="cooldown", block_number=model.block_number,
                                  reason=f"{d.reason}; in cooldown ({waited:.0f}/{config.cooldown_s:g} s)")
    return d
