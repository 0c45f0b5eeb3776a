"""Close a position when the oracle price falls ``trail_bps`` below the highest oracle price seen since it armed.

The peak is the highest answer of the Chainlink feed of ``asset`` over EVERY round since the automation armed, not
only the prices posman polled: at each tick the runtime reads the feed's rounds back to the last round it saw
(``getRoundData``), so a spike between two ticks still raises the peak. The peak and its round are stored in the
database (``automation_state`` table), so a restart of ``posman run`` continues from it. The close itself is
``close_on_price``'s: one transaction through the executor, the wallet ends in ``out`` (or a ``fraction`` of the
debt is repaid). With ``activation_usd`` the stop arms only once the price has reached that level.

Usable alone or as an automation (``[[positions.automations]] kind = "trailing_stop"``). Any lending position
(the close goes through its loan model).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from manager.domain import SizingDecision
from manager.sizing.loan import LoanSnapshot
from strategies import close_on_price
from strategies._price import automation_state, oracle_price_usd
from strategies.api import StrategyConfig, StrategyContext, no_action

INTERFACE_VERSION = 1


class Config(StrategyConfig):
    """Parameters of ``trailing_stop``."""

    asset: str = Field(min_length=1, description="Oracle symbol whose price is trailed.")
    trail_bps: int = Field(ge=10, le=9_000, description="Close when price <= peak * (1 - trail_bps / 10000).")
    activation_usd: float | None = Field(default=None, gt=0, description="Arm only once the peak reaches this.")
    fraction: float = Field(default=1.0, gt=0, le=1, description="1 = close fully; else repay this share of the debt.")
    out: str = Field(min_length=1, description="Symbol the wallet ends in: the debt or the collateral asset.")
    debt: str | None = None
    collateral: str | None = None


def peak_of(config: Config, ctx: StrategyContext) -> tuple[float | None, int | None]:
    """(peak USD, its round) from the runtime's durable state and the current price."""
    state = automation_state(ctx, ctx.automation_key or "trailing_stop")
    peak = state.get("peak_usd")
    price = oracle_price_usd(ctx, config.asset)
    if price is not None and (peak is None or price > peak):
        reading = ctx.oracles.get(config.asset)
        return price, reading.round_id if reading is not None else None
    return (float(peak) if peak is not None else None), state.get("peak_round")


def stop_usd(config: Config, peak: float | None) -> float | None:
    if peak is None or (config.activation_usd is not None and peak < config.activation_usd):
        return None
    return peak * (1 - config.trail_bps / 10_000)


def levels(config: Config) -> list[tuple[str, str, float, str, str]]:
    # NOTE: the level moves with the peak; the activation price (if any) is its lowest possible peak
    base = config.activation_usd
    return [(config.asset, "below", base * (1 - config.trail_bps / 10_000), "stop", "activation_usd")] if base else []


def armed(config: Config, ctx: StrategyContext) -> list[dict[str, Any]]:
    price = oracle_price_usd(ctx, config.asset)
    peak, peak_round = peak_of(config, ctx)
    stop = stop_usd(config, peak)
    dist = None if price is None or stop is None else (price - stop) / price * 100
    return [{"kind": "trailing_stop", "role": "stop", "asset": config.asset, "side": "below", "level_usd": stop,
             "price_usd": price, "distance_pct": dist, "peak_usd": peak, "peak_round": peak_round,
             "trail_bps": config.trail_bps, "fraction": config.fraction, "out": config.out,
             "active": stop is not None}]


def decide(config: Config, snapshot: LoanSnapshot, ctx: StrategyContext) -> SizingDecision | None:
    price = oracle_price_usd(ctx, config.asset)
    if price is None:
        return no_action(ctx, f"no oracle reading for {config.asset}", binding="no_price")
    if not math.isfinite(ctx.health):
        return no_action(ctx, "no debt: nothing to close", binding="armed")
    if automation_state(ctx, ctx.automation_key or "trailing_stop").get("unreadable"):
        return no_action(ctx, "the stored peak cannot be read: not acting on a fresh one", binding="state_unreadable")
    peak, peak_round = peak_of(config, ctx)
    stop = stop_usd(config, peak)
    if stop is None:
        return no_action(ctx, f"not active: peak {peak or 0:,.2f} below activation {config.activation_usd:,.2f}",
                         binding="armed")
    if price > stop:
        return no_action(ctx, f"armed: {config.asset} {price:,.2f}, peak {peak:,.2f} (round {peak_round}), stop "
                              f"{stop:,.2f}", binding="armed")
    why = (f"trailing stop: {config.asset} {price:,.2f} <= {stop:,.2f} ({config.trail_bps} bps below the peak "
           f"{peak:,.2f} of round {peak_round})")
    as_close = close_on_price.Config(asset=config.asset, below_usd=stop, fraction=config.fraction, out=config.out,
                                     debt=config.debt, collateral=config.collateral)
    return close_on_price.close(as_close, snapshot, ctx, why)
