"""A managed vault: several positions run as one book with a target leverage and target weights.

Each member position names its ``vault`` and ``weight``; the weights of one vault sum to 1 and every
member repeats the vault's ``target_leverage`` (checked at load). The vault's equity is the sum of the
members' equity (collateral - debt, USD at the oracle); member *i* should hold collateral
``C*_i = weight_i * target_leverage * equity``. With its own equity ``E_i`` fixed, that exposure is
the health factor ``HF*_i = C*_i * LT_i / (C*_i - E_i)`` (``LT_i`` its weighted liquidation threshold),
so a rebalance is a deleverage or a boost of that member to ``HF*_i`` by the sizing core, which keeps
every leg inside the per-action/per-day caps and the pool depth it was given.

A rebalance starts when the vault's leverage is off target by more than ``leverage_band`` or a weight
is off by more than ``weight_band`` (``risk.rebalance_trades``), or when a member's health is below
``min_health`` (then it is deleveraged at once, whatever the weights say: safety first).
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from manager.domain import SizingDecision
from manager.sizing import solver
from manager.sizing.loan import LoanSnapshot
from manager.sizing.risk import rebalance_trades
from strategies.api import StrategyConfig, StrategyContext, no_action

INTERFACE_VERSION = 1
MAX_TARGET_HF = 10.0


class Config(StrategyConfig):
    """Parameters of one vault member."""

    vault: str = Field(min_length=1, max_length=64, description="Vault name shared by its members.")
    weight: float = Field(gt=0, le=1, description="Share of the vault's exposure held by this member.")
    target_leverage: float = Field(gt=1.0, le=20, description="Vault collateral / vault equity.")
    leverage_band: float = Field(default=0.25, gt=0, description="Act when |leverage - target| > this.")
    weight_band: float = Field(default=0.05, gt=0, lt=1, description="Act when a weight is off by more.")
    min_health: float = Field(default=1.25, gt=1.0, le=100, description="Deleverage a member below this at once.")
    min_trade_usd: float = Field(default=50.0, ge=0, description="Smaller rebalances are skipped.")
    boost_borrow: str | None = None
    boost_supply: str | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Config:
        if self.leverage_band >= self.target_leverage - 1.0:
            raise ValueError(f"leverage_band {self.leverage_band:g} must be below target_leverage - 1 "
                             f"({self.target_leverage - 1:g})")
        return self


def group(config: Config) -> str:
    return f"vault:{config.vault}"


def check_group(configs: dict[str, Config]) -> list[tuple[str, str, str]]:
    """Problems of one vault as (position, params key, message): weights sum to 1, one leverage."""
    problems: list[tuple[str, str, str]] = []
    names = sorted(configs)
    total = sum(c.weight for c in configs.values())
    if abs(total - 1.0) > 1e-6:
        problems.append((names[-1], "weight", f"weights of vault '{configs[names[0]].vault}' sum to {total:g}, "
                                              f"not 1 (members: {', '.join(names)})"))
    levels = {c.target_leverage for c in configs.values()}
    if len(levels) > 1:
        problems.append((names[-1], "target_leverage",
                         f"members of vault '{configs[names[0]].vault}' disagree on target_leverage: "
                         f"{', '.join(f'{v:g}' for v in sorted(levels))}"))
    return problems


def _book(snapshot: LoanSnapshot) -> tuple[float, float, float]:
    """(collateral USD, debt USD, weighted liquidation threshold) from the protocol's exact numbers."""
    return snapshot.loan_model().book_usd()


def member_target_health(config: Config, snapshot: LoanSnapshot, ctx: StrategyContext) -> dict[str, float]:
    """The vault's numbers as seen by this member: leverage, weights, this member's target HF."""
    coll, debt, lt = _book(snapshot)
    members = {ctx.position: (coll, debt, config.weight)}
    for name, peer in ctx.peers.items():
        members[name] = (peer.collateral_usd, peer.debt_usd, peer.config.weight)  # type: ignore[attr-defined]
    equity = sum(c - d for c, d, _ in members.values())
    collateral = sum(c for c, _, _ in members.values())
    leverage = collateral / equity if equity > 0 else math.inf
    target_coll = config.weight * config.target_leverage * equity
    own_equity = coll - debt
    if target_coll - own_equity <= 0 or lt <= 0:
        target_hf = MAX_TARGET_HF
    else:
        target_hf = min(MAX_TARGET_HF, target_coll * lt / (target_coll - own_equity))
    return {"equity_usd": equity, "collateral_usd": collateral, "leverage": leverage,
            "target_collateral_usd": target_coll, "own_collateral_usd": coll, "target_hf": target_hf}


def decide(config: Config, snapshot: LoanSnapshot, ctx: StrategyContext) -> SizingDecision | None:
    health = ctx.health
    if not math.isfinite(health):
        return no_action(ctx, "member has no debt", binding="no_debt")
    v = member_target_health(config, snapshot, ctx)
    target = max(v["target_hf"], config.min_health + 0.05)
    values = [v["own_collateral_usd"]] + [p.collateral_usd for p in ctx.peers.values()]
    weights = [config.weight] + [p.config.weight for p in ctx.peers.values()]  # type: ignore[attr-defined]
    total_w = sum(weights)
    reb = rebalance_trades(values, [w / total_w for w in weights], band=config.weight_band,
                           min_trade_usd=config.min_trade_usd) if sum(values) > 0 else None
    off_leverage = not math.isfinite(v["leverage"]) or abs(v["leverage"] - config.target_leverage) > config.leverage_band
    off_weight = reb is not None and reb.triggered
    unsafe = health < config.min_health
    summary = (f"vault {config.vault}: leverage {v['leverage']:.3f} (target {config.target_leverage:g}), "
               f"member exposure ${v['own_collateral_usd']:,.0f} -> ${v['target_collateral_usd']:,.0f}")
    if not (unsafe or off_leverage or off_weight):
        return no_action(ctx, f"{summary}: within bands", binding="in_band", target=target)
    if abs(v["target_collateral_usd"] - v["own_collateral_usd"]) < config.min_trade_usd and not unsafe:
        return no_action(ctx, f"{summary}: change below min_trade_usd", binding="min_trade_usd", target=target)
    why = "unsafe" if unsafe else ("leverage off target" if off_leverage else
                                   f"weights off by {reb.max_imbalance:.3f}" if reb else "rebalance")
    model = snapshot.loan_model()
    if health < target and ctx.flash_premium_bps is not None:
        decision = solver.atomic_deleverage(model, target, premium_bps=ctx.flash_premium_bps, depth=ctx.depth,
                                            limits=ctx.limits)
    elif health < target:
        decision = solver.deleverage(model, target, depth=ctx.depth, limits=ctx.limits)
    else:
        if unsafe:
            return no_action(ctx, f"{summary}: unsafe but already above target", binding="none", target=target)
        borrow = config.boost_borrow or model.largest("debt")
        supply = config.boost_supply or model.largest("collateral")
        if borrow is None or supply is None:
            return no_action(ctx, f"{summary}: boost needs a debt and a collateral asset", binding="no_assets")
        if ctx.flash_premium_bps is not None:
            decision = solver.atomic_boost(model, target, borrow_asset=borrow, supply_asset=supply, depth=ctx.depth,
                                           limits=ctx.limits, premium_bps=ctx.flash_premium_bps)
        else:
            decision = solver.boost(model, target, borrow_asset=borrow, supply_asset=supply, depth=ctx.depth,
                                    limits=ctx.limits)
    return decision.model_copy(update={"reason": f"{summary} ({why}): {decision.reason}"})
