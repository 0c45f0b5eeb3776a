"""Caps and limits: per-action and per-day USD caps, pool-depth cap, supply/borrow cap room, dust.

``SizingLimits`` is the one limits value every solver takes. Each solver computes a dict of
named upper bounds and takes the tightest with ``tightest``, so every decision names its binding
constraint. Supply/borrow-cap room mirrors Aave v3.0 ``ValidationLogic.validateSupply`` /
``validateBorrow`` (caps in whole tokens, 0 = no cap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import Field

from manager.domain import Frozen, ReserveState
from manager.sizing._checks import BadInputError
from manager.sizing.fixed import ray_mul


class SizingLimits(Frozen):
    """Limits for one decision. USD amounts are plain dollars; ``None`` means "no cap"."""

    per_action_usd: float | None = Field(default=None, gt=0)
    per_day_remaining_usd: float | None = Field(default=None, ge=0)
    max_slippage_bps: float = Field(default=50.0, ge=0, lt=10_000)  # depth cap; fallback haircut
    swap_tolerance_bps: float = Field(default=10.0, ge=0, lt=10_000)  # min-out below the quoted curve
    fallback_fee_bps: float = Field(default=30.0, ge=0, lt=10_000)  # pool fee assumed without a curve
    service_fee_bps: float = Field(default=0.0, ge=0, lt=10_000)  # taken from the sell input
    min_action_usd: float = Field(default=10.0, ge=0)  # dust: smaller actions are not worth the gas
    safety_floor_hf: float = Field(default=1.02, ge=1.0)  # each withdraw/borrow keeps HF >= this
    tolerance_hf: float = Field(default=0.005, ge=0)  # feasible when projected >= target - tolerance
    max_rounds: int = Field(default=12, ge=1, le=100)


def describe_binding(binding: str, limits: SizingLimits) -> str:
    """A binding constraint as the user reads it: the user's own cap (config key and value) when that is it.

    ``per_action_cap`` is ``[limits] per_tx_usd``, ``per_day_cap`` is ``per_day_usd`` (what is left today),
    ``pool_depth`` / ``price_impact`` are measured at ``max_slippage_bps``; other names are returned as they are.
    """
    if binding == "per_action_cap" and limits.per_action_usd is not None:
        return f"per_tx_usd (your per-transaction cap, ${limits.per_action_usd:,.2f})"
    if binding == "per_day_cap" and limits.per_day_remaining_usd is not None:
        return f"per_day_usd (your daily cap; ${limits.per_day_remaining_usd:,.2f} left today)"
    if binding in ("pool_depth", "price_impact", "slippage_vs_oracle"):
        return f"{binding} within max_slippage_bps (your slippage cap, {limits.max_slippage_bps:g} bps)"
    return binding


def tightest(bounds: Mapping[str, float]) -> tuple[str, float]:
    """The smallest bound and its name (ties go to the first one given)."""
    if not bounds:
        return "none", math.inf
    name = min(bounds, key=lambda k: bounds[k])
    value = bounds[name]
    if math.isnan(value) or value < 0:
        raise BadInputError(f"bound {name}={value}: must be >= 0", field=name, value=value)
    return name, value


def usd_cap_wei(cap_usd: float | None, usd_per_wei: float) -> float:
    """A USD cap as an input size in wei (inf when there is no cap)."""
    if cap_usd is None:
        return math.inf
    if usd_per_wei <= 0 or not math.isfinite(usd_per_wei):
        raise BadInputError(f"usd_per_wei={usd_per_wei}: must be > 0", field="usd_per_wei", value=usd_per_wei)
    return cap_usd / usd_per_wei


def supply_cap_room_wei(reserve: ReserveState) -> int | None:
    """``supplyCap*10^dec - (scaledSupply + accruedToTreasury)·index`` (None = no cap), floored at 0."""
    if reserve.supply_cap_tokens == 0:
        return None
    supplied = reserve.total_supply_wei + ray_mul(reserve.accrued_to_treasury_scaled, reserve.liquidity_index_ray)
    # NOTE: totalSupply is itself scaled·index rounded; keep 1 wei of margin for that rounding.
    return int(max(0, reserve.supply_cap_tokens * 10**reserve.decimals - supplied - 1))


def borrow_cap_room_wei(reserve: ReserveState) -> int | None:
    """``borrowCap*10^dec - (totalStable + totalVariable)`` (None = no cap), floored at 0."""
    if reserve.borrow_cap_tokens == 0:
        return None
    total = reserve.total_variable_debt_wei + reserve.total_stable_debt_wei
    return int(max(0, reserve.borrow_cap_tokens * 10**reserve.decimals - total - 1))


def is_dust(value_usd: float, limits: SizingLimits) -> bool:
    return value_usd < limits.min_action_usd
