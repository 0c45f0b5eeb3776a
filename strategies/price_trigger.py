"""Repay or boost to a target health when an oracle price crosses a level (Summer.fi's auto-sell / auto-buy).

When the Chainlink price of ``asset`` is at or below ``below_usd`` (or at or above ``above_usd``), the position is
brought to ``target_health`` in ONE transaction through the executor: ``action = "repay"`` sells collateral and
repays (an atomic deleverage; never at a price below ``min_sell_price_usd``), ``action = "boost"`` borrows and buys
collateral (an atomic boost; never at a price above ``max_buy_price_usd``). The bound is checked against the
oracle price and against each swap leg's guaranteed price (its minimum out). Sized on pool depth like a
deleverage (``manager.sizing.solver``, over the position's loan model); nothing happens once the health is at the
target (no re-firing).

Usable alone or as an automation (``[[positions.automations]] kind = "price_trigger"``). Any lending position
(repay and boost), without dispatching on the protocol.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from manager.domain import SizingDecision
from manager.sizing import solver
from manager.sizing.loan import LoanModel, LoanSnapshot
from strategies._price import needs_atomic, oracle_price_usd, with_path
from strategies.api import StrategyConfig, StrategyContext, no_action

INTERFACE_VERSION = 1


class Config(StrategyConfig):
    """Parameters of ``price_trigger``."""

    asset: str = Field(min_length=1, description="Oracle symbol whose price is watched.")
    below_usd: float | None = Field(default=None, gt=0, description="Fire when price <= this.")
    above_usd: float | None = Field(default=None, gt=0, description="Fire when price >= this.")
    action: Literal["repay", "boost"]
    target_health: float = Field(gt=1.0, le=100, description="HF after the action.")
    min_sell_price_usd: float | None = Field(default=None, gt=0, description="repay: never sell below this price.")
    max_buy_price_usd: float | None = Field(default=None, gt=0, description="boost: never buy above this price.")
    boost_borrow: str | None = None
    boost_supply: str | None = None
    collateral_order: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _one_level(self) -> Config:
        if (self.below_usd is None) == (self.above_usd is None):
            raise ValueError("set exactly one of below_usd and above_usd")
        if self.action == "repay" and self.max_buy_price_usd is not None:
            raise ValueError("max_buy_price_usd bounds a boost; a repay takes min_sell_price_usd")
        if self.action == "boost" and self.min_sell_price_usd is not None:
            raise ValueError("min_sell_price_usd bounds a repay; a boost takes max_buy_price_usd")
        level = self.below_usd or self.above_usd or 0.0
        if self.min_sell_price_usd is not None and self.below_usd is not None and self.min_sell_price_usd > level:
            raise ValueError(f"min_sell_price_usd {self.min_sell_price_usd:g} is above the trigger {level:g}: "
                             "it could never sell")
        if self.max_buy_price_usd is not None and self.above_usd is not None and self.max_buy_price_usd < level:
            raise ValueError(f"max_buy_price_usd {self.max_buy_price_usd:g} is below the trigger {level:g}: "
                             "it could never buy")
        return self


def levels(config: Config) -> list[tuple[str, str, float, str, str]]:
    side = "below" if config.below_usd is not None else "above"
    price = config.below_usd if config.below_usd is not None else config.above_usd
    return [(config.asset, side, float(price or 0.0), config.action, f"{side}_usd")]


def armed(config: Config, ctx: StrategyContext) -> list[dict[str, Any]]:
    price = oracle_price_usd(ctx, config.asset)
    (asset, side, level, role, _f), = levels(config)
    dist = None if price is None else (price - level) / price * 100 * (1 if side == "below" else -1)
    return [{"kind": "price_trigger", "role": role, "asset": asset, "side": side, "level_usd": level,
             "price_usd": price, "distance_pct": dist, "target_health": config.target_health}]


def _leg_price_ok(config: Config, model: LoanModel, d: SizingDecision) -> str | None:
    """Each swap leg's guaranteed price (its minimum out) against the min sell / max buy price."""
    for st in d.steps:
        if st.kind != "swap" or not st.min_amount_out_wei:
            continue
        rin, rout = model.find(st.asset), model.find(st.asset_out or "")
        if rin is None or rout is None or rin.usd_per_wei is None or rout.usd_per_wei is None:
            continue
        out_usd = st.min_amount_out_wei * rout.usd_per_wei
        in_usd = st.amount_wei * rin.usd_per_wei
        if config.action == "repay" and config.min_sell_price_usd is not None and rin.symbol == config.asset:
            got = out_usd / (st.amount_wei / 10**rin.decimals)
            if got < config.min_sell_price_usd:
                return f"a leg sells {config.asset} at {got:,.2f} < min sell price {config.min_sell_price_usd:,.2f}"
        if config.action == "boost" and config.max_buy_price_usd is not None and rout.symbol == config.asset:
            paid = in_usd / (st.min_amount_out_wei / 10**rout.decimals)
            if paid > config.max_buy_price_usd:
                return f"a leg buys {config.asset} at {paid:,.2f} > max buy price {config.max_buy_price_usd:,.2f}"
    return None


def decide(config: Config, snapshot: LoanSnapshot, ctx: StrategyContext) -> SizingDecision | None:
    price = oracle_price_usd(ctx, config.asset)
    if price is None:
        return no_action(ctx, f"no oracle reading for {config.asset}", binding="no_price")
    (_a, side, level, _r, _f), = levels(config)
    crossed = price <= level if side == "below" else price >= level
    if not crossed:
        return no_action(ctx, f"armed: {config.asset} {price:,.2f}, {config.action} when {side} {level:,.2f}",
                         binding="armed")
    why = f"price trigger: {config.asset} {price:,.2f} {'<=' if side == 'below' else '>='} {level:,.2f}"
    health = ctx.health
    if not math.isfinite(health):
        return no_action(ctx, f"{why}: no debt", binding="armed")
    tol = ctx.limits.tolerance_hf  # NOTE: at the target within the sizing tolerance: done, no re-firing on dust
    if config.action == "repay":
        if health >= config.target_health - tol:
            return no_action(ctx, f"{why}: HF {health:.4f} already at target {config.target_health:g}", binding="armed")
        if config.min_sell_price_usd is not None and price < config.min_sell_price_usd:
            return no_action(ctx, f"{why}: price below the min sell price {config.min_sell_price_usd:,.2f}",
                             binding="price_bound")
    else:
        if health <= config.target_health + tol:
            return no_action(ctx, f"{why}: HF {health:.4f} already at target {config.target_health:g}", binding="armed")
        if config.max_buy_price_usd is not None and price > config.max_buy_price_usd:
            return no_action(ctx, f"{why}: price above the max buy price {config.max_buy_price_usd:,.2f}",
                             binding="price_bound")
    blocked = needs_atomic(ctx, why)
    if blocked is not None:
        return blocked
    prem = int(ctx.flash_premium_bps or 0)
    model = snapshot.loan_model()
    if config.action == "repay":
        d = solver.atomic_deleverage(model, config.target_health, premium_bps=prem, depth=ctx.depth,
                                     limits=ctx.limits, collateral_order=config.collateral_order)
    else:
        borrow = config.boost_borrow or model.largest("debt")
        supply = config.boost_supply or model.largest("collateral")
        if borrow is None or supply is None:
            return no_action(ctx, f"{why}: boost needs a debt and a collateral asset", binding="no_assets")
        d = solver.atomic_boost(model, config.target_health, borrow_asset=borrow, supply_asset=supply,
                                premium_bps=prem, depth=ctx.depth, limits=ctx.limits)
    d = d.model_copy(update={"position": ctx.position})
    bad = _leg_price_ok(config, model, d) if d.action != "none" else None
    if bad is not None:
        return no_action(ctx, f"{why}: {bad}; not sent", binding="price_bound")
    return with_path(d, ctx, why)
