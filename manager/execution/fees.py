"""EIP-1559 fees: base-fee-aware max fee, urgency-escalated priority fee, caps, clamp, RBF bumps, budget.

- ``quote_fees``: ``max_priority = tip_for(urgency)``, ``max_fee = base_fee * headroom(urgency) + priority``
  (the headroom covers several blocks of +12.5 % base-fee growth). Normal caps (``max_fee_gwei``,
  ``max_priority_fee_gwei``) apply unless the position's health is below ``emergency_health``; the hard
  clamp (``hard_max_fee_gwei``, ``hard_max_priority_fee_gwei``) always applies.
- ``bump_fees``: a replacement must raise *both* fields by at least 12.5 % (geth's txpool rule is 10 %;
  other clients want more) and at least reach a fresh quote; it never exceeds the clamp.
- ``check_fee_budget``: the worst-case gas cost (gas limit x max fee, in USD) must not exceed a
  fraction of the expected loss avoided (more is allowed in an emergency).

Pure functions of their inputs; no RPC.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from manager.domain import Frozen
from manager.errors import PolicyViolation
from manager.execution.types import FeeQuote

log = logging.getLogger("posman.execution.fees")

GWEI = 10**9
Urgency = Literal["low", "normal", "high", "emergency"]
URGENCY_ORDER: tuple[Urgency, ...] = ("low", "normal", "high", "emergency")
# RBF: both fee fields must grow by at least this much (per mille) over the replaced transaction.
RBF_BUMP_PER_MILLE = 125


class FeePolicy(Frozen):
    """Fee limits (gwei) and escalation. ``max_*`` are the normal caps, ``hard_max_*`` the clamp."""

    max_fee_gwei: float = Field(default=300.0, gt=0)
    max_priority_fee_gwei: float = Field(default=5.0, ge=0)
    hard_max_fee_gwei: float = Field(default=1_000.0, gt=0)
    hard_max_priority_fee_gwei: float = Field(default=50.0, ge=0)
    base_priority_fee_gwei: float = Field(default=0.5, ge=0)
    # priority fee multiplier and base-fee headroom per urgency level
    priority_multiplier: dict[str, float] = Field(
        default_factory=lambda: {"low": 1.0, "normal": 2.0, "high": 4.0, "emergency": 20.0}
    )
    base_fee_headroom: dict[str, float] = Field(
        default_factory=lambda: {"low": 1.25, "normal": 2.0, "high": 2.5, "emergency": 3.0}
    )
    emergency_health: float = Field(default=1.05, ge=1.0)
    high_health: float = Field(default=1.10, ge=1.0)  # below this (and above emergency): "high"
    budget_fraction: float = Field(default=0.25, gt=0)  # of the expected loss avoided
    emergency_budget_fraction: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> FeePolicy:
        if self.hard_max_fee_gwei < self.max_fee_gwei:
            raise ValueError("hard_max_fee_gwei must be >= max_fee_gwei")
        if self.hard_max_priority_fee_gwei < self.max_priority_fee_gwei:
            raise ValueError("hard_max_priority_fee_gwei must be >= max_priority_fee_gwei")
        for table in ("priority_multiplier", "base_fee_headroom"):
            missing = set(URGENCY_ORDER) - set(getattr(self, table))
            if missing:
                raise ValueError(f"{table} lacks {sorted(missing)}")
        return self

    @classmethod
    def from_limits(cls, limits: object, **overrides: float) -> FeePolicy:
        """From a ``manager.config.schema.LimitsConfig`` (max_fee_gwei, max_priority_fee_gwei, emergency_health)."""
        values = {
            "max_fee_gwei": limits.max_fee_gwei,  # type: ignore[attr-defined]
            "max_priority_fee_gwei": limits.max_priority_fee_gwei,  # type: ignore[attr-defined]
            "emergency_health": limits.emergency_health,  # type: ignore[attr-defined]
        }
        values["hard_max_fee_gwei"] = max(values["max_fee_gwei"] * 3, 1_000.0)
        values["hard_max_priority_fee_gwei"] = max(values["max_priority_fee_gwei"] * 10, 50.0)
        values.update(overrides)
        return cls(**values)


def _gwei_to_wei(gwei: float) -> int:
    return round(gwei * GWEI)


def urgency_for_health(health: float | None, policy: FeePolicy, default: Urgency = "normal") -> Urgency:
    """``emergency`` below ``emergency_health``, ``high`` below ``high_health``, else ``default``."""
    if health is None:
        return default
    if health < policy.emergency_health:
        return "emergency"
    if health < policy.high_health:
        return "high"
    return default


def quote_fees(base_fee_wei: int, urgency: Urgency, policy: FeePolicy) -> FeeQuote:
    """EIP-1559 fees for the next block given its ``base_fee_wei`` (see the module docstring)."""
    if urgency not in URGENCY_ORDER:
        raise ValueError(f"urgency {urgency!r} is not one of {URGENCY_ORDER}")
    priority = _gwei_to_wei(policy.base_priority_fee_gwei * policy.priority_multiplier[urgency])
    max_fee = int(base_fee_wei * policy.base_fee_headroom[urgency]) + priority
    return _apply_limits(max_fee, priority, base_fee_wei, urgency, policy)


def _apply_limits(max_fee: int, priority: int, base_fee_wei: int, urgency: Urgency, policy: FeePolicy) -> FeeQuote:
    capped = "none"
    if urgency != "emergency":  # below the emergency health the normal caps are waived
        cap_prio = _gwei_to_wei(policy.max_priority_fee_gwei)
        cap_fee = _gwei_to_wei(policy.max_fee_gwei)
        if priority > cap_prio:
            priority, capped = cap_prio, "max_priority_fee"
        if max_fee > cap_fee:
            max_fee, capped = cap_fee, "max_fee"
    hard_prio = _gwei_to_wei(policy.hard_max_priority_fee_gwei)
    hard_fee = _gwei_to_wei(policy.hard_max_fee_gwei)
    if priority > hard_prio:
        priority, capped = hard_prio, "hard_clamp"
    if max_fee > hard_fee:
        max_fee, capped = hard_fee, "hard_clamp"
    priority = min(priority, max_fee)  # EIP-1559: the tip can never exceed the max fee
    return FeeQuote(
        max_fee_per_gas_wei=max_fee,
        max_priority_fee_per_gas_wei=priority,
        base_fee_wei=base_fee_wei,
        urgency=urgency,
        capped_by=capped,
    )


def _bumped(value: int) -> int:
    """``value`` raised by 12.5 %, rounded up, and by at least 1 wei."""
    return max(value + 1, -(-value * (1000 + RBF_BUMP_PER_MILLE) // 1000))


def bump_fees(previous: FeeQuote, base_fee_wei: int, urgency: Urgency, policy: FeePolicy) -> FeeQuote | None:
    """Fees for a replacement of a transaction sent with ``previous``; ``None`` when limits forbid it.

    Both fields are at least +12.5 % over ``previous`` and at least a fresh quote at ``base_fee_wei``
    (with the tip escalated one level, at most to ``high``). The caps/clamp of ``urgency`` still apply: if they leave no room
    for a valid +12.5 % bump, there is no replacement (the caller keeps waiting on the original).
    """
    # NOTE: a bump escalates the tip one level but never *into* emergency: only health decides that
    # (and with it whether the normal caps are waived).
    level: Urgency = urgency if urgency in ("high", "emergency") else URGENCY_ORDER[URGENCY_ORDER.index(urgency) + 1]
    fresh = quote_fees(base_fee_wei, level, policy)
    need_fee = _bumped(previous.max_fee_per_gas_wei)
    need_prio = _bumped(previous.max_priority_fee_per_gas_wei)
    quote = _apply_limits(
        max(fresh.max_fee_per_gas_wei, need_fee),
        max(fresh.max_priority_fee_per_gas_wei, need_prio),
        base_fee_wei,
        level,
        policy,
    )
    if quote.max_fee_per_gas_wei < need_fee or quote.max_priority_fee_per_gas_wei < need_prio:
        log.warning(
            "event=rbf_refused reason=limits prev_max_fee_wei=%d prev_prio_wei=%d clamp=%s",
            previous.max_fee_per_gas_wei,
            previous.max_priority_fee_per_gas_wei,
            quote.capped_by,
        )
        return None
    return quote


class FeeBudget(BaseModel):
    """The worst-case gas cost of a plan weighed against the loss it avoids."""

    model_config = ConfigDict(frozen=True)

    gas_cost_usd: float
    allowed_usd: float | None
    expected_loss_avoided_usd: float | None


def check_fee_budget(
    *,
    total_gas: int,
    max_fee_per_gas_wei: int,
    native_price_usd: float,
    expected_loss_avoided_usd: float | None,
    urgency: Urgency,
    policy: FeePolicy,
) -> FeeBudget:
    """Refuse (``PolicyViolation``) when worst-case gas USD exceeds the budget share of the loss avoided.

    ``expected_loss_avoided_usd=None`` means the caller has no estimate: no budget is enforced (the
    fee caps still apply).
    """
    gas_cost_usd = total_gas * max_fee_per_gas_wei * native_price_usd / 10**18
    if expected_loss_avoided_usd is None:
        return FeeBudget(gas_cost_usd=gas_cost_usd, allowed_usd=None, expected_loss_avoided_usd=None)
    fraction = policy.emergency_budget_fraction if urgency == "emergency" else policy.budget_fraction
    allowed = expected_loss_avoided_usd * fraction
    if gas_cost_usd > allowed:
        raise PolicyViolation(
            f"fee budget: worst-case gas ${gas_cost_usd:,.2f} exceeds {fraction:.0%} of the expected loss "
            f"avoided ${expected_loss_avoided_usd:,.2f} (${allowed:,.2f})",
            rule="fee_budget",
            gas_cost_usd=gas_cost_usd,
            allowed_usd=allowed,
        )
    return FeeBudget(gas_cost_usd=gas_cost_usd, allowed_usd=allowed, expected_loss_avoided_usd=expected_loss_avoided_usd)


# --- the loss a risk-reducing plan avoids (what the fee budget weighs gas against) -------------------
RISK_REDUCING_ACTIONS = frozenset({"deleverage", "repay_from_wallet", "add_collateral", "perp_add_margin",
                                   "perp_reduce"})
# Aave V3 ``LiquidationLogic``: up to 50 % of the debt is closed per liquidation (DEFAULT_LIQUIDATION_CLOSE_FACTOR),
# all of it once health is below 0.95 (CLOSE_FACTOR_HF_THRESHOLD).
CLOSE_FACTOR = 0.5
FULL_CLOSE_HEALTH = 0.95
# the adverse move (in health units) treated as likely before the next decision: at or below 1 + this
# the liquidation is taken as certain
LIKELY_HEALTH_DROP = 0.10


def expected_loss_avoided_usd(*, action: str, health_before: float | None, debt_usd: float,
                              liquidation_bonus_bps: int, liquidation_loss_usd: float | None = None) -> float | None:
    """The USD loss a plan of ``action`` avoids: what a liquidation would cost, weighted by its likelihood.

    With ``liquidation_loss_usd`` (Aave: ``lending_liquidation_loss_usd``, the exact cost of the worst single
    ``liquidationCall`` under the pool version's rules - v3.3+ close factor, $2,000 thresholds, $1,000 leftover
    rule, bad debt) the loss is ``liquidation_loss_usd * proximity``. Without it (other protocols):
    ``loss = debt_at_risk_usd * bonus_fraction * proximity`` where

    - ``debt_at_risk_usd = debt_usd * close_factor``: the debt one liquidation may close (50 %, all of it
      below health 0.95, as Aave V3 ``LiquidationLogic``);
    - ``bonus_fraction = liquidation_bonus_bps / 10_000 - 1``: the collateral the liquidator takes on top
      of the debt it repays (Aave stores the bonus as 10_500 = 105 %; a value < 10_000 is read as the
      bonus itself, e.g. 500 = 5 %);
    - ``proximity = min(1, LIKELY_HEALTH_DROP / (health - 1))``: grows as health approaches 1 (1 at or
      below ``1 + LIKELY_HEALTH_DROP``, 0.1 at health 2.0).

    ``None`` (no budget is enforced) for actions that do not reduce liquidation risk (a boost's benefit
    is not a loss avoided), and when health or debt is unknown or there is no debt.
    """
    if action not in RISK_REDUCING_ACTIONS or health_before is None or not debt_usd > 0:
        return None
    margin = health_before - 1.0
    proximity = 1.0 if margin <= LIKELY_HEALTH_DROP else LIKELY_HEALTH_DROP / margin
    if liquidation_loss_usd is not None:
        return liquidation_loss_usd * proximity if liquidation_loss_usd > 0 else None
    bonus = liquidation_bonus_bps / 10_000 - 1.0 if liquidation_bonus_bps >= 10_000 else liquidation_bonus_bps / 10_000
    if bonus <= 0:
        return None
    close_factor = 1.0 if health_before < FULL_CLOSE_HEALTH else CLOSE_FACTOR
    return debt_usd * close_factor * bonus * proximity


def lending_liquidation_loss_usd(snapshot: object) -> float | None:
    """USD a lending position would lose to its worst single liquidation under its protocol's exact rules
    (the adapter's ``liquidation_loss_usd``; Aave V3: ``sizing.liquidation``, valued just below HF 1 when it is
    above); ``None`` for snapshots of no lending protocol, or when it cannot be evaluated."""
    from manager.protocols import registry

    adapter = registry.find_adapter(snapshot)
    if adapter is None or adapter.family != "lending":
        return None
    loss: float | None = adapter.liquidation_loss_usd(snapshot)
    return loss


def lending_debt_and_bonus(snapshot: object) -> tuple[float, int] | None:
    """Debt (USD) and the highest liquidation bonus (bps) of the enabled collateral of a lending position
    (the adapter's ``debt_and_bonus``; Aave V3: e-mode's bonus when in e-mode); ``None`` for other snapshots."""
    from manager.protocols import registry

    adapter = registry.find_adapter(snapshot)
    if adapter is None or adapter.family != "lending":
        return None
    out: tuple[float, int] | None = adapter.debt_and_bonus(snapshot)
    return out
