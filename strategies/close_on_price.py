"""Close a position when an oracle price crosses a level: below = stop-loss, above = take-profit.

When the Chainlink price of ``asset`` (the feed the Aave oracle follows, read at the tick's block) is at or below
``below_usd`` (stop-loss) or at or above ``above_usd`` (take-profit), the position is closed in ONE transaction
through the signer's ``PosmanExecutor``: flash-borrow the whole debt, repay it, withdraw the collateral, sell it and
repay the flash loan; the wallet ends with ``out`` (the debt or the collateral asset), at least the sale's
guaranteed output (sized on pool depth within ``[limits] max_slippage_bps``, ``manager.sizing.automations``).
With ``fraction < 1`` it repays that fraction of the debt instead (one atomic deleverage), once per crossing: the
runtime disarms it when the action is sent and re-arms it once the price is back across the level (stored in the
database, like a trailing stop's peak).

Usable alone (``strategy = "close_on_price"``) or as an automation next to a strategy
(``[[positions.automations]] kind = "close_on_price"``). Any lending position with one collateral and one debt asset,
through its loan model (``manager.sizing.solver.close``); a protocol that cannot close partially says so
(``LoanModel.unsupported``). Without the atomic path (no executor) it does not act and says why.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from manager.domain import SizingDecision
from manager.sizing import solver
from manager.sizing.loan import LoanSnapshot
from strategies._price import automation_state, needs_atomic, oracle_price_usd, with_path
from strategies.api import StrategyConfig, StrategyContext, no_action

INTERFACE_VERSION = 1


class Config(StrategyConfig):
    """Parameters of ``close_on_price`` (prices in USD, the oracle's)."""

    asset: str = Field(min_length=1, description="Oracle symbol whose price is watched (e.g. WETH).")
    below_usd: float | None = Field(default=None, gt=0, description="Stop-loss: close when price <= this.")
    above_usd: float | None = Field(default=None, gt=0, description="Take-profit: close when price >= this.")
    fraction: float = Field(default=1.0, gt=0, le=1, description="1 = close fully; else repay this share of the debt.")
    out: str = Field(min_length=1, description="Symbol the wallet ends in: the debt or the collateral asset.")
    debt: str | None = Field(default=None, description="Debt asset to close (default: the largest).")
    collateral: str | None = Field(default=None, description="Collateral to sell (default: the largest).")

    @model_validator(mode="after")
    def _levels(self) -> Config:
        if self.below_usd is None and self.above_usd is None:
            raise ValueError("set below_usd (stop-loss), above_usd (take-profit), or both")
        if self.below_usd is not None and self.above_usd is not None and not self.below_usd < self.above_usd:
            raise ValueError(f"below_usd {self.below_usd:g} must be below above_usd {self.above_usd:g}")
        return self


def levels(config: Config) -> list[tuple[str, str, float, str, str]]:
    """(asset, side, price, role, field) of every level (for the loader's conflict checks)."""
    out = []
    if config.below_usd is not None:
        out.append((config.asset, "below", config.below_usd, "stop", "below_usd"))
    if config.above_usd is not None:
        out.append((config.asset, "above", config.above_usd, "take_profit", "above_usd"))
    return out


def armed(config: Config, ctx: StrategyContext) -> list[dict[str, Any]]:
    """What is armed and how far the price is from firing (for status and the dashboard)."""
    price = oracle_price_usd(ctx, config.asset)
    out = []
    for asset, side, level, role, _field in levels(config):
        dist = None if price is None else (price - level) / price * 100 * (1 if side == "below" else -1)
        out.append({"kind": "close_on_price", "role": role, "asset": asset, "side": side, "level_usd": level,
                    "price_usd": price, "distance_pct": dist, "fraction": config.fraction, "out": config.out})
    return out


def fired(config: Config, price: float) -> str | None:
    if config.below_usd is not None and price <= config.below_usd:
        return f"stop-loss: {config.asset} {price:,.2f} <= {config.below_usd:,.2f}"
    if config.above_usd is not None and price >= config.above_usd:
        return f"take-profit: {config.asset} {price:,.2f} >= {config.above_usd:,.2f}"
    return None


def close(config: Config, snapshot: LoanSnapshot, ctx: StrategyContext, why: str) -> SizingDecision:
    """The close (or partial close) decision once a level fired (shared with ``trailing_stop``)."""
    blocked = needs_atomic(ctx, why)
    if blocked is not None:
        return blocked
    prem = int(ctx.flash_premium_bps or 0)
    model = snapshot.loan_model()
    refused = model.unsupported("partial_close") if config.fraction < 1 else None
    if refused is not None:
        return no_action(ctx, f"{why}: {refused} (fraction {config.fraction:g}); set fraction = 1",
                         binding="unsupported")
    d = solver.close(model, out_asset=config.out, premium_bps=prem, depth=ctx.depth, limits=ctx.limits,
                     fraction=config.fraction, debt_asset=config.debt, collateral_asset=config.collateral,
                     name=ctx.position)
    return with_path(d, ctx, why)


def decide(config: Config, snapshot: LoanSnapshot, ctx: StrategyContext) -> SizingDecision | None:
    price = oracle_price_usd(ctx, config.asset)
    if price is None:
        return no_action(ctx, f"no oracle reading for {config.asset}", binding="no_price")
    if ctx.health == float("inf"):
        return no_action(ctx, "no debt: nothing to close", binding="armed")
    why = fired(config, price)
    state = automation_state(ctx, ctx.automation_key or "close_on_price")
    if why is not None and state.get("armed") is False:
        return no_action(ctx, f"{why}: already fired (a {config.fraction:.0%} close at block {state.get('fired_block')});"
                              " re-arms once the price is back across the level", binding="armed")
    if why is None:
        parts = [f"{r} at {lv:,.2f}" for _a, _s, lv, r, _f in levels(config)]
        return no_action(ctx, f"armed: {config.asset} {price:,.2f}; {', '.join(parts)}", binding="armed")
    return close(config, snapshot, ctx, why)
