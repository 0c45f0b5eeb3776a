"""Aave V3 plans: a direct-path ``SizingDecision`` -> encoded, unsigned ``TxStep`` calls on the Pool and the router.

One sizing step becomes one or two calls (Aave V3 Pool and Uniswap V3 SwapRouter, see
``manager.protocols.aave_v3.encode`` / ``manager.protocols.uniswap_v3.encode``):

- ``withdraw`` -> ``Pool.withdraw(asset, amount, account)``
- ``swap``     -> ``token.approve(router, amount)`` (exact) + ``exactInput`` single hop on the context's router
                  (SwapRouter, or SwapRouter02 wrapped in ``multicall(deadline, ...)``: ``router_kind``); the
                  minimum output is oracle-derived (policy checks it against the oracle) and never below
                  the sizing core's guaranteed output (what the next repay/supply spends)
- ``repay``    -> ``token.approve(pool, amount)`` + ``Pool.repay(asset, amount, 2, account)``
- ``borrow``   -> ``Pool.borrow(asset, amount, 2, 0, account)``
- ``supply``   -> ``token.approve(pool, amount)`` + ``Pool.supply(asset, amount, account, 0)``

Pure: no RPC. ``allowed_calls`` gives the (contract, selector) allow-list these plans need. (Moved here from
``manager.execution.planner``, which reaches it through ``AaveV3Adapter.build_steps``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from manager.domain import SizingDecision, SizingStep
from manager.execution.calls import erc20_approve, selector_of
from manager.execution.planner import (
    DEFAULT_DEADLINE_S,
    AtomicSetup,
    UnplannableDecision,
    swap_fee_pips,
)
from manager.execution.types import TxStep
from manager.protocols.aave_v3 import encode as aave
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.protocols.uniswap_v3 import encode as uni
from manager.protocols.uniswap_v3.router import router_selectors

POOL_FUNCTIONS = ("supply(address,uint256,address,uint16)", "withdraw(address,uint256,address)",
                  "borrow(address,uint256,uint256,uint16,address)", "repay(address,uint256,uint256,address)")


@dataclass(frozen=True)
class PlanContext:
    """Addresses and bounds the planner needs besides the decision and the snapshot."""

    protocol_kind: ClassVar[str] = "aave_v3"

    pool: str  # Aave V3 Pool
    router: str  # Uniswap V3 SwapRouter or SwapRouter02 (``router_kind``)
    account: str
    max_slippage_bps: int
    fees_pips: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (symbol in, symbol out) -> fee
    deadline_s: int = DEFAULT_DEADLINE_S
    max_block_age_blocks: int = 5
    router_kind: str = "swap_router"  # "swap_router" | "swap_router02" (manager.protocols.uniswap_v3.router)
    atomic: AtomicSetup | None = None


def allowed_calls(pool: str, router: str, tokens: Iterable[str], router_kind: str = "swap_router") -> dict[str, set[str]]:
    """The (contract -> selectors) allow-list that plans built here need (the router's: ``router_selectors``)."""
    calls: dict[str, set[str]] = {
        pool: {selector_of(sig) for sig in POOL_FUNCTIONS},
        router: router_selectors(router_kind),
    }
    for token in tokens:
        calls.setdefault(token, set()).add(selector_of("approve(address,uint256)"))
    return calls


def _usd(snapshot: LendingPositionSnapshot, asset: str, amount_wei: int) -> float:
    r = snapshot.reserves[asset]
    return float(amount_wei * r.price_base / 10**r.decimals / snapshot.base_unit)


def _swap(step: SizingStep, snapshot: LendingPositionSnapshot, ctx: PlanContext) -> list[TxStep]:
    if step.asset_out is None:
        raise UnplannableDecision(f"swap step of round {step.round} has no output asset")
    r_in, r_out = snapshot.reserves[step.asset], snapshot.reserves[step.asset_out]
    oracle_out = uni.oracle_amount_out_wei(step.amount_wei, price_in_base=r_in.price_base,
                                           price_out_base=r_out.price_base, decimals_in=r_in.decimals,
                                           decimals_out=r_out.decimals)
    need = step.min_amount_out_wei or 0
    if oracle_out <= 0:
        raise UnplannableDecision(f"swap of {step.amount_wei} {step.symbol} is worth nothing at the oracle")
    # NOTE: the tightest slippage that still guarantees the sizing core's output, within the policy maximum.
    slippage = ctx.max_slippage_bps if need <= 0 else max(0, min(ctx.max_slippage_bps,
                                                                    10_000 - -(-need * 10_000 // oracle_out)))
    usd = _usd(snapshot, step.asset, step.amount_wei)
    while True:
        # NOTE: the sizing core may route a leg (a split over fee tiers, a two-hop path): its path is the one valued.
        tokens = list(step.path) if step.path else [step.asset, step.asset_out]
        fees = list(step.fees_pips) if step.fees_pips else [swap_fee_pips(ctx.fees_pips, step)]
        call = uni.exact_input(ctx.router, tokens=tokens, fees_pips=fees,
                               recipient=ctx.account, amount_in_wei=step.amount_wei, price_in_base=r_in.price_base,
                               price_out_base=r_out.price_base, decimals_in=r_in.decimals,
                               decimals_out=r_out.decimals, slippage_bps=slippage,
                               deadline_unix_s=snapshot.block_timestamp + ctx.deadline_s, usd_value=usd,
                               router_kind=ctx.router_kind)
        assert call.swap is not None
        if (call.swap.min_amount_out_wei is not None and call.swap.min_amount_out_wei >= need) or slippage == 0:
            break
        slippage -= 1
    approve = erc20_approve(step.asset, ctx.router, step.amount_wei, usd_value=usd,
                            label=f"approve router {step.amount_wei} {step.symbol}")
    return [approve, call.model_copy(update={"label": f"swap {step.amount_wei} {step.symbol} -> {step.symbol_out} "
                                                       f"(min {call.swap.min_amount_out_wei})"})]


def build_steps(decision: SizingDecision, snapshot: LendingPositionSnapshot, ctx: PlanContext) -> tuple[TxStep, ...]:
    """The calls that carry out ``decision`` in order (see the module docstring)."""
    out: list[TxStep] = []
    for step in decision.steps:
        if step.asset not in snapshot.reserves:
            raise UnplannableDecision(f"step {step.kind} names asset {step.asset} that is not an Aave reserve")
        usd = _usd(snapshot, step.asset, step.amount_wei)
        tag = f"{step.amount_wei} {step.symbol}"
        if step.kind == "withdraw":
            out.append(aave.withdraw(ctx.pool, step.asset, step.amount_wei, ctx.account, usd_value=usd)
                       .model_copy(update={"label": f"withdraw {tag}"}))
        elif step.kind == "swap":
            out.extend(_swap(step, snapshot, ctx))
        elif step.kind == "repay":
            out.append(aave.approve_for_pool(ctx.pool, step.asset, step.amount_wei, usd_value=usd)
                       .model_copy(update={"label": f"approve pool {tag}"}))
            out.append(aave.repay(ctx.pool, step.asset, step.amount_wei, ctx.account, usd_value=usd)
                       .model_copy(update={"label": f"repay {tag}"}))
        elif step.kind == "borrow":
            out.append(aave.borrow(ctx.pool, step.asset, step.amount_wei, ctx.account, usd_value=usd)
                       .model_copy(update={"label": f"borrow {tag}"}))
        elif step.kind == "supply":
            out.append(aave.approve_for_pool(ctx.pool, step.asset, step.amount_wei, usd_value=usd)
                       .model_copy(update={"label": f"approve pool {tag}"}))
            out.append(aave.supply(ctx.pool, step.asset, step.amount_wei, ctx.account, usd_value=usd)
                       .model_copy(update={"label": f"supply {tag}"}))
        else:
            raise UnplannableDecision(f"step kind '{step.kind}' is not supported by the planner "
                                      "(flash-loan rounds need a receiver contract)")
    return tuple(out)


__all__ = ["POOL_FUNCTIONS", "PlanContext", "allowed_calls", "build_steps"]
