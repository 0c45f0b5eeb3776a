"""Keep a collateralised debt position's health factor inside a band.

Below ``trigger_health`` the position is deleveraged (collateral withdrawn, sold, debt repaid) back to
``target_health``; above ``upper_health`` (when set) it is boosted (borrow, buy collateral, supply) down
to ``target_health`` (in rounds, no borrow takes the health below the trigger). Between the two nothing happens. After an action the strategy waits
``cooldown_s`` seconds of chain time before acting again, unless the health factor is below
``emergency_health`` (then it acts at once).

The trigger may instead (or also) come from the risk model of the sizing core
(``risk.trigger_health_factor``): the health at which the chance of touching 1.0 before an action lands
is ``epsilon``, given the collateral's volatility and the reaction time. The effective trigger is the
larger of the two, capped ``MIN_GAP_HF`` below the target.

Protocols: any lending snapshot; the strategy sees it through its loan model (``snapshot.loan_model()``,
``manager.sizing.loan``: the protocol's exact health after signed deltas) and decides with the one
deleverage/boost solver (``manager.sizing.solver``), in its atomic form (one flash-loan transaction through the
signer's executor) when the runtime offers it, else in rounds (withdraw -> swap -> repay; borrow -> swap -> supply).
It never dispatches on the protocol.

The bands are checked when the config is loaded: ``1 < emergency <= trigger < target < upper`` with at
least ``MIN_GAP_HF`` between trigger, target and upper (a narrower band would act on noise and
oscillate between deleverage and boost).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from manager.domain import SizingDecision
from manager.sizing import solver
from manager.sizing.loan import LoanModel, LoanSnapshot, Side
from manager.sizing.risk import ewma_volatility, trigger_health_factor
from strategies.api import StrategyConfig, StrategyContext, no_action

INTERFACE_VERSION = 1
MIN_GAP_HF = 0.05
SECONDS_PER_YEAR = 365.25 * 86_400


class RiskTrigger(StrategyConfig):
    """Derive the trigger from volatility: P(touch HF 1.0 within ``reaction_s``) <= ``epsilon``."""

    asset: str = Field(min_length=1, description="Collateral symbol whose volatility drives the trigger.")
    sigma_annual: float | None = Field(default=None, gt=0, le=20,
                                       description="Annualised volatility; default: EWMA of observed prices.")
    reaction_s: float = Field(default=60.0, gt=0, description="Detection + inclusion time, seconds.")
    epsilon: float = Field(default=0.001, gt=0, lt=1, description="Accepted probability of touching 1.0.")
    min_observations: int = Field(default=20, ge=3, description="Prices needed before the EWMA is used.")


class Config(StrategyConfig):
    """Parameters of ``cdp_health`` (health factors are plain numbers; 1.0 = liquidatable)."""

    trigger_health: float | None = Field(default=None, gt=1.0, le=100,
                                         description="Deleverage when HF < this.")
    target_health: float = Field(gt=1.0, le=100, description="HF after an action.")
    upper_health: float | None = Field(default=None, gt=1.0, le=100,
                                       description="Boost when HF > this; unset = never boost.")
    emergency_health: float = Field(default=1.05, ge=1.0, le=100,
                                    description="Below this the cooldown is ignored.")
    cooldown_s: float = Field(default=60.0, ge=0, le=30 * 86_400, description="Chain seconds between two actions.")
    risk_trigger: RiskTrigger | None = None
    boost_borrow: str | None = Field(default=None, description="Debt asset to borrow on boost (default: largest debt).")
    boost_supply: str | None = Field(default=None,
                                     description="Collateral to buy on boost (default: largest collateral).")
    collateral_order: Annotated[tuple[str, ...], Field(strict=False)] | None = Field(default=None,
                                                     description="Collateral to sell first (symbols); default: cheapest.")
    use_wallet_funds: Literal["none", "collateral", "supply", "all"] = Field(
        default="collateral",
        description="Wallet tokens a deleverage may spend before withdrawing: 'collateral' = sell tokens of the "
                    "position's collateral assets that are not also borrowed (e.g. collateral an interrupted "
                    "plan withdrew but did not sell) and repay, 'supply' = add those tokens as collateral "
                    "instead (no swap), 'all' = also the debt tokens (repay from the wallet), "
                    "'none' = never touch the wallet. Except with 'none', debt-token proceeds of an interrupted "
                    "plan's swaps (swap mined, repay not) are spent to finish it.")

    @field_validator("target_health")
    @classmethod
    def _target_above_trigger(cls, target: float, info: ValidationInfo) -> float:
        trigger = info.data.get("trigger_health")
        if trigger is not None and not target >= trigger + MIN_GAP_HF - 1e-12:
            raise ValueError(f"target_health {target:g} must be above trigger_health {trigger:g} by at least "
                             f"{MIN_GAP_HF:g} (bands must not cross)")
        return target

    @field_validator("upper_health")
    @classmethod
    def _upper_above_target(cls, upper: float | None, info: ValidationInfo) -> float | None:
        target = info.data.get("target_health")
        if upper is not None and target is not None and not upper >= target + MIN_GAP_HF - 1e-12:
            raise ValueError(f"upper_health {upper:g} must be above target_health {target:g} by at least "
                             f"{MIN_GAP_HF:g} (bands must not cross)")
        return upper

    @field_validator("emergency_health")
    @classmethod
    def _emergency_below_trigger(cls, emergency: float, info: ValidationInfo) -> float:
        trigger = info.data.get("trigger_health")
        target = info.data.get("target_health")
        if trigger is not None and emergency > trigger:
            raise ValueError(f"emergency_health {emergency:g} must not be above trigger_health {trigger:g}")
        if target is not None and emergency >= target:
            raise ValueError(f"emergency_health {emergency:g} must be below target_health {target:g}")
        return emergency

    @model_validator(mode="after")
    def _needs_a_trigger(self) -> Config:
        if self.trigger_health is None and self.risk_trigger is None:
            raise ValueError("set trigger_health, risk_trigger, or both")
        if (self.boost_borrow is not None or self.boost_supply is not None) and self.upper_health is None:
            raise ValueError("boost_borrow/boost_supply are set but upper_health is not: boosting is off")
        return self


def effective_trigger(config: Config, ctx: StrategyContext) -> tuple[float, str]:
    """The trigger in force now and where it came from (``configured`` or ``risk_model``)."""
    trigger = config.trigger_health or 0.0
    source = "configured"
    risk = config.risk_trigger
    if risk is not None:
        sigma = risk.sigma_annual
        if sigma is None:
            prices = ctx.price_history.get(risk.asset, ())
            if len(prices) >= risk.min_observations:
                periods = SECONDS_PER_YEAR / max(ctx.block_time_s, 1e-3)
                sigma = ewma_volatility(prices, periods)
        if sigma is not None and sigma > 0:
            risk_h = trigger_health_factor(sigma, risk.reaction_s, risk.epsilon)
            if risk_h > trigger:
                trigger, source = risk_h, "risk_model"
    if trigger <= 1.0:  # risk model not ready yet and no configured trigger: act only in an emergency
        trigger, source = config.emergency_health, "emergency_only"
    cap = config.target_health - MIN_GAP_HF
    if trigger > cap:
        trigger, source = cap, f"{source}_capped"
    return trigger, source


def _largest(snapshot: LoanSnapshot, side: Side) -> str | None:
    """Symbol of the position's largest collateral or debt by value (the boost's default assets)."""
    return snapshot.loan_model().largest(side)


def decide(config: Config, snapshot: LoanSnapshot, ctx: StrategyContext) -> SizingDecision | None:
    health = ctx.health
    if not math.isfinite(health):
        return no_action(ctx, "no debt: nothing to manage", binding="no_debt")
    trigger, source = effective_trigger(config, ctx)
    low = health < trigger
    finishing = (not low and ctx.finish_to_health is not None and health < min(ctx.finish_to_health,
                                                                                config.target_health))
    if finishing and ctx.finish_to_health is not None:  # a plan that stopped part-way is finished toward its target
        low, trigger, source = True, min(ctx.finish_to_health, config.target_health), "finishing an interrupted plan"
    high = config.upper_health is not None and health > config.upper_health
    if not (low or high):
        return no_action(ctx, f"HF {health:.4f} inside band [{trigger:.4f} ({source}), "
                              f"{config.upper_health or math.inf:g}]", binding="in_band", target=config.target_health)
    if ctx.last_action_s is not None and health >= config.emergency_health:
        waited = ctx.block_timestamp - ctx.last_action_s
        if waited < config.cooldown_s:
            return no_action(ctx, f"HF {health:.4f} outside band but in cooldown ({waited:.0f}/{config.cooldown_s:g} s)",
                             binding="cooldown", target=config.target_health)
    model = snapshot.loan_model()
    atomic = ctx.flash_premium_bps is not None
    note = ctx.path_note
    # a sale valued at the protocol's oracle (no depth curve, where the model values sales that way) keeps at least
    # the max slippage below it
    slippage = int(ctx.limits.max_slippage_bps) if math.isfinite(ctx.limits.max_slippage_bps) else 100
    haircut = max(1, slippage)
    if low:
        wallet = model.spendable_wallet(config.use_wallet_funds, ctx.wallet_wei, ctx.interrupted_proceeds_wei)
        if atomic and not wallet:
            decision = solver.atomic_deleverage(model, config.target_health,
                                                premium_bps=int(ctx.flash_premium_bps or 0), depth=ctx.depth,
                                                limits=ctx.limits, collateral_order=config.collateral_order,
                                                swap_haircut_bps=haircut)
        else:
            if atomic:  # NOTE: tokens in the wallet (e.g. a half-finished direct plan's) are spent first, directly
                note = "path: direct (wallet funds to spend first)"
            if any(ctx.interrupted_proceeds_wei.get(a.lower(), 0) for a in wallet):
                note = (note + "; " if note else "") + ("finishing a part-executed plan from the chain state: its swap "
                                                        "proceeds in the wallet repay first")
            decision = solver.deleverage(model, config.target_health, depth=ctx.depth, limits=ctx.limits,
                                         collateral_order=config.collateral_order, no_route=ctx.no_route,
                                         wallet_wei=wallet,
                                         wallet_mode="supply" if config.use_wallet_funds == "supply" else "repay",
                                         swap_haircut_bps=haircut)
        why = f"HF {health:.4f} < trigger {trigger:.4f} ({source})"
    else:
        decision_or_none = _boost(config, model, ctx, trigger)
        if decision_or_none is None:
            return no_action(ctx, "boost needs a debt and a collateral asset", binding="no_assets")
        decision = decision_or_none
        why = f"HF {health:.4f} > upper {config.upper_health:g}"
    decision = decision.model_copy(update={"position": ctx.position, "reason": f"{why}: {decision.reason}"})
    return _with_path(decision, note)


def _boost(config: Config, model: LoanModel, ctx: StrategyContext, trigger: float) -> SizingDecision | None:
    """Boost down to the target: one atomic boost when the runtime offers the executor, else rounds.

    In rounds each borrow lands before its supply: it may not take the health below the lower band (``trigger``,
    and never below ``limits.safety_floor_hf``), so a plan that stops after a borrow never leaves the position
    where the strategy would have to deleverage it.
    """
    borrow = config.boost_borrow or model.largest("debt")
    supply = config.boost_supply or model.largest("collateral")
    if borrow is None or supply is None:
        return None
    if ctx.flash_premium_bps is not None:
        return solver.atomic_boost(model, config.target_health, borrow_asset=borrow, supply_asset=supply,
                                   premium_bps=int(ctx.flash_premium_bps), depth=ctx.depth, limits=ctx.limits)
    floor = max(ctx.limits.safety_floor_hf, trigger)
    limits = ctx.limits if floor == ctx.limits.safety_floor_hf else ctx.limits.model_copy(
        update={"safety_floor_hf": floor})
    return solver.boost(model, config.target_health, borrow_asset=borrow, supply_asset=supply, depth=ctx.depth,
                        limits=limits)


def _with_path(decision: SizingDecision, note: str) -> SizingDecision:
    """The decision's reason with the execution path (atomic or direct) and why."""
    if not note or decision.action == "none":
        return decision
    return decision.model_copy(update={"reason": f"{decision.reason}; {note}"})
