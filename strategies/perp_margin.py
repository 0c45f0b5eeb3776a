"""Perp margin band: keep a Synthetix PerpsV2 position's margin ratio (1/leverage) inside a band.

When the margin ratio falls below ``trigger_margin_ratio`` (or the perp health - remaining
liquidatable margin over liquidation margin, liquidatable at 1 - falls below ``min_health``), the
position is brought back to ``target_margin_ratio`` by adding sUSD margin from the wallet (capped by
``max_add_margin_usd``), then by cutting size (capped by ``max_cut_fraction``). Above
``upper_margin_ratio`` excess margin can be released. The math is ``manager.sizing.perp.decide_perp``.

The runtime hands it the ``PerpSnapshot`` of a perp position (read by the perp protocol's adapter at the tick's
block) and plans the decision with that adapter's encoders (``transferMargin`` first, then the size cut with a
bounded fill price). After an action it waits ``cooldown_s`` of chain time before acting
again, unless the perp health is below ``emergency_health``.

Fees: a size cut is an atomic ``modifyPosition`` whose fee is the market's ``takerFee``/``makerFee`` (read with
the snapshot every tick). A cut is never sent when that fee exceeds ``max_order_fee_bps`` (default 100 bps):
margin is added instead (within ``max_add_margin_usd`` and the wallet's sUSD), and when no margin can be added
the decision is "none" with the reason naming the fee and the cap.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from manager.domain import SizingDecision
from manager.protocols.synthetix_perps.types import PerpSnapshot
from manager.sizing.perp import PerpMarginConfig, decide_perp, perp_metrics
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


def order_fee_bps(snapshot: PerpSnapshot) -> float:
    """The fee of an atomic ``modifyPosition`` on this market, in bps of the order's notional (the larger of
    ``takerFee`` and ``makerFee``: which one applies depends on the skew the order leaves)."""
    m = snapshot.market
    return max(m.taker_fee_wad, m.maker_fee_wad) / 10**18 * 10_000


def _without_cut(config: Config, snapshot: PerpSnapshot, fee_bps: float) -> SizingDecision:
    """Margin only: the size cut the band needs would pay more than ``max_order_fee_bps``."""
    margin_only = config.sizing().model_copy(update={"prefer": "add_margin", "max_cut_fraction": 1e-30})
    if snapshot.position.size_wad == 0 or snapshot.market.price_invalid:
        return decide_perp(snapshot, config.sizing())
    met = perp_metrics(snapshot)
    needs = met["margin_ratio"] < config.trigger_margin_ratio or met["health"] < config.min_health
    if met["health"] <= 1 or not needs:
        return decide_perp(snapshot, config.sizing())  # in band or nothing to act on: fees do not matter
    d = decide_perp(snapshot, margin_only)
    why = (f"no size cut: the market's order fee {fee_bps:.0f} bps exceeds max_order_fee_bps "
           f"{config.max_order_fee_bps:g}")
    steps = tuple(s for s in d.steps if s.kind != "modify_size")
    deltas = {k: v for k, v in d.deltas_wei.items() if not k.startswith("size_")}
    if not steps:
        return SizingDecision(position=d.position, action="none", health_before=d.health_before, feasible=False,
                              binding_constraint="max_order_fee_bps", block_number=snapshot.block_number,
                              reason=f"{d.reason.split(':')[0]}: cannot act: {why}, and no sUSD margin can be added "
                                     f"(wallet {snapshot.wallet_susd_wad / 10**18:,.2f} sUSD, max_add_margin_usd "
                                     f"{config.max_add_margin_usd:g})")
    return d.model_copy(update={"action": "perp_add_margin", "steps": steps, "deltas_wei": deltas,
                                "binding_constraint": "max_order_fee_bps", "reason": f"{d.reason}; {why}"})


def decide(config: Config, snapshot: PerpSnapshot, ctx: Any = None) -> SizingDecision | None:
    """Pure: the decision for one perp position at the snapshot's block, or ``None`` when in band."""
    fee_bps = order_fee_bps(snapshot)
    if fee_bps > config.max_order_fee_bps:
        d = _without_cut(config, snapshot, fee_bps)
    else:
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
