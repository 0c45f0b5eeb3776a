"""Move a position's collateral from one asset to another in ONE transaction, health kept above a floor.

The executor's ``switchCollateral(Plan)`` (``manager/atomic``): flash-borrow ``to`` (B), supply it for the owner,
withdraw the ``from`` collateral (A), sell A -> B (legs sized on pool depth within ``[limits] max_slippage_bps``,
the protocol's ``LoanModel.switch_collateral``), repay the flash loan, supply the B left; the contract
reverts unless the owner's final health >= ``min_health``. The debt is untouched. Runs at once, or when the oracle
price of ``when_asset`` crosses ``when_below_usd`` / ``when_above_usd``; done once no A collateral is left.

Positions whose protocol can hold several collaterals (the loan model says when it cannot:
``LoanModel.unsupported("collateral_switch")``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from manager.domain import SizingDecision
from manager.sizing import solver
from manager.sizing.loan import LoanSnapshot
from strategies._price import needs_atomic, oracle_price_usd, with_path
from strategies.api import StrategyConfig, StrategyContext, no_action

INTERFACE_VERSION = 1


class Config(StrategyConfig):
    """Parameters of ``collateral_switch``."""

    from_asset: str = Field(min_length=1, alias="from", description="Collateral symbol to move out of (A).")
    to_asset: str = Field(min_length=1, alias="to", description="Collateral symbol to move into (B).")
    min_health: float = Field(gt=1.0, le=100, description="Floor of the final health (checked on chain).")
    when_asset: str | None = Field(default=None, description="Oracle symbol of the optional price condition.")
    when_below_usd: float | None = Field(default=None, gt=0)
    when_above_usd: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.from_asset == self.to_asset:
            raise ValueError(f"from and to are both {self.from_asset}")
        has_level = self.when_below_usd is not None or self.when_above_usd is not None
        if has_level != (self.when_asset is not None):
            raise ValueError("when_asset and one of when_below_usd / when_above_usd go together")
        if self.when_below_usd is not None and self.when_above_usd is not None:
            raise ValueError("set at most one of when_below_usd and when_above_usd")
        return self


def levels(config: Config) -> list[tuple[str, str, float, str, str]]:
    if config.when_asset is None:
        return []
    side = "below" if config.when_below_usd is not None else "above"
    return [(config.when_asset, side, float(config.when_below_usd or config.when_above_usd or 0.0), "switch",
             f"when_{side}_usd")]


def armed(config: Config, ctx: StrategyContext) -> list[dict[str, Any]]:
    base = {"kind": "collateral_switch", "role": "switch", "from": config.from_asset, "to": config.to_asset,
            "min_health": config.min_health}
    if config.when_asset is None:
        return [{**base, "asset": None, "side": None, "level_usd": None, "price_usd": None, "distance_pct": 0.0}]
    price = oracle_price_usd(ctx, config.when_asset)
    (asset, side, level, _r, _f), = levels(config)
    dist = None if price is None else (price - level) / price * 100 * (1 if side == "below" else -1)
    return [{**base, "asset": asset, "side": side, "level_usd": level, "price_usd": price, "distance_pct": dist}]


def decide(config: Config, snapshot: LoanSnapshot, ctx: StrategyContext) -> SizingDecision | None:
    model = snapshot.loan_model()
    refused = model.unsupported("collateral_switch")
    if refused is not None:
        return no_action(ctx, f"collateral_switch: {refused}", binding="unsupported")
    why = f"collateral switch {config.from_asset} -> {config.to_asset}"
    if config.when_asset is not None:
        price = oracle_price_usd(ctx, config.when_asset)
        if price is None:
            return no_action(ctx, f"no oracle reading for {config.when_asset}", binding="no_price")
        (_a, side, level, _r, _f), = levels(config)
        if not (price <= level if side == "below" else price >= level):
            return no_action(ctx, f"armed: {why} when {config.when_asset} {side} {level:,.2f} (now {price:,.2f})",
                             binding="armed")
        why += f" ({config.when_asset} {price:,.2f} {side} {level:,.2f})"
    held = next((a for a in model.assets() if a.symbol == config.from_asset and a.collateral_wei > 0), None)
    held_usd = (model.value_usd(held.asset, held.collateral_wei) or 0.0) if held is not None else 0.0
    if held is None or held_usd < ctx.limits.min_action_usd:  # NOTE: interest accrued after the switch is dust
        return no_action(ctx, f"{why}: no {config.from_asset} collateral left (${held_usd:,.2f}): done",
                         binding="armed")
    blocked = needs_atomic(ctx, why)
    if blocked is not None:
        return blocked
    if ctx.aave_flash_premium_bps is None:
        return no_action(ctx, f"{why}: needs the Aave pool's flash loan of {config.to_asset} (premium not read)",
                         binding="no_atomic_path")
    d = solver.collateral_switch(model, from_asset=config.from_asset, to_asset=config.to_asset,
                                 floor_hf=config.min_health, premium_bps=int(ctx.aave_flash_premium_bps),
                                 depth=ctx.depth, limits=ctx.limits, name=ctx.position)
    return with_path(d, ctx, why)
