"""Decision -> Plan: map a ``SizingDecision``'s steps onto encoded, unsigned ``TxStep`` calls.

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

Flash-loan rounds need a receiver contract this manager does not deploy: such decisions are refused.
Pure: no RPC. ``allowed_calls`` gives the (contract, selector) allow-list these plans need.

``build_plan`` also plans the other protocols, chosen by the plan context it is given:
``MorphoPlanContext`` -> ``manager.protocols.morpho_blue.plan.build_steps`` (Morpho Blue), and
``PerpPlanContext`` -> ``manager.protocols.synthetix_perps.encode.steps_for_decision`` (PerpsV2 margin
transfers and size cuts with a bounded fill price). ``morpho_allowed_calls`` / ``perp_allowed_calls``
give their allow-lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from manager.domain import LendingPositionSnapshot, SizingDecision, SizingStep
from manager.errors import NeverSubmitError
from manager.execution.calls import erc20_approve, selector_of
from manager.execution.types import Plan, Preconditions, TxStep
from manager.persistence import derive_plan_id
from manager.protocols.aave_v3 import encode as aave
from manager.protocols.uniswap_v3 import encode as uni
from manager.protocols.uniswap_v3.router import router_selectors

DEFAULT_FEE_PIPS = 3000
DEFAULT_DEADLINE_S = 600


class UnplannableDecision(NeverSubmitError):
    """The decision cannot be turned into calls this manager can send (e.g. a flash loan round)."""


@dataclass(frozen=True)
class PlanContext:
    """Addresses and bounds the planner needs besides the decision and the snapshot."""

    pool: str  # Aave V3 Pool
    router: str  # Uniswap V3 SwapRouter or SwapRouter02 (``router_kind``)
    account: str
    max_slippage_bps: int
    fees_pips: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (symbol in, symbol out) -> fee
    deadline_s: int = DEFAULT_DEADLINE_S
    max_block_age_blocks: int = 5
    router_kind: str = "swap_router"  # "swap_router" | "swap_router02" (manager.protocols.uniswap_v3.router)


@dataclass(frozen=True)
class PerpPlanContext:
    """What a Synthetix PerpsV2 plan needs: the account and the fill-price bound (bps off the exact fill)."""

    account: str
    max_slippage_bps: int
    max_block_age_blocks: int = 5


PERP_FUNCTIONS = ("transferMargin(int256)", "modifyPosition(int256,uint256)", "closePosition(uint256)")


def morpho_allowed_calls(morpho: str, router: str, tokens: Iterable[str],
                         router_kind: str = "swap_router") -> dict[str, set[str]]:
    """The allow-list of Morpho Blue plans: Morpho's write selectors, the router's swap, exact approvals."""
    from manager.protocols.morpho_blue.encode import allowed_selectors

    calls: dict[str, set[str]] = {morpho: {s.lower() for s in allowed_selectors()},
                                  router: router_selectors(router_kind)}
    for token in tokens:
        calls.setdefault(token, set()).add(selector_of("approve(address,uint256)"))
    return calls


def perp_allowed_calls(market_proxy: str) -> dict[str, set[str]]:
    """The allow-list of PerpsV2 plans: margin transfer, direct size change and close on the market proxy."""
    return {market_proxy: {selector_of(sig) for sig in PERP_FUNCTIONS}}


def merge_calls(*lists: dict[str, set[str]]) -> dict[str, set[str]]:
    """The union of several allow-lists (one signer managing positions on several protocols)."""
    out: dict[str, set[str]] = {}
    for calls in lists:
        for to, sels in calls.items():
            out.setdefault(to, set()).update(sels)
    return out


def allowed_calls(pool: str, router: str, tokens: Iterable[str], router_kind: str = "swap_router") -> dict[str, set[str]]:
    """The (contract -> selectors) allow-list that plans built here need (the router's: ``router_selectors``)."""
    calls: dict[str, set[str]] = {
        pool: {
            selector_of("supply(address,uint256,address,uint16)"),
            selector_of("withdraw(address,uint256,address)"),
            selector_of("borrow(address,uint256,uint256,uint16,address)"),
            selector_of("repay(address,uint256,uint256,address)"),
        },
        router: router_selectors(router_kind),
    }
    for token in tokens:
        calls.setdefault(token, set()).add(selector_of("approve(address,uint256)"))
    return calls


def _usd(snapshot: LendingPositionSnapshot, asset: str, amount_wei: int) -> float:
    r = snapshot.reserves[asset]
    return amount_wei * r.price_base / 10**r.decimals / snapshot.base_unit


def _fee(ctx: PlanContext, step: SizingStep) -> int:
    return ctx.fees_pips.get((step.symbol, step.symbol_out or ""), ctx.fees_pips.get((step.symbol_out or "", step.symbol),
                                                                                       DEFAULT_FEE_PIPS))


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
        call = uni.exact_input(ctx.router, tokens=[step.asset, step.asset_out], fees_pips=[_fee(ctx, step)],
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


def _steps_for(decision: SizingDecision, snapshot: Any, ctx: Any) -> tuple[TxStep, ...]:
    """Dispatch on the plan context: Aave (``PlanContext``), Morpho Blue, Synthetix PerpsV2."""
    from manager.protocols.morpho_blue.plan import MorphoPlanContext
    from manager.protocols.morpho_blue.plan import build_steps as morpho_steps

    if isinstance(ctx, MorphoPlanContext):
        try:
            return morpho_steps(decision, snapshot, ctx)
        except NeverSubmitError as exc:
            raise UnplannableDecision(str(exc)) from exc
    if isinstance(ctx, PerpPlanContext):
        from manager.protocols.synthetix_perps.encode import steps_for_decision

        try:
            steps = steps_for_decision(decision, snapshot, slippage_bps=ctx.max_slippage_bps)
        except ValueError as exc:
            raise UnplannableDecision(f"perp decision cannot be encoded: {exc}") from exc
        if not steps:
            raise UnplannableDecision(f"perp decision for {decision.position} has no margin or size change")
        return steps
    return build_steps(decision, snapshot, ctx)


def build_plan(decision: SizingDecision, snapshot: Any, ctx: Any, *,
               min_post_health: float | None = None,
               target_band: tuple[float, float] | None = None) -> Plan:
    """The ``Plan`` for ``decision`` decided at ``snapshot.block_number`` (idempotent plan id).

    ``ctx`` is a ``PlanContext`` (Aave V3), a ``MorphoPlanContext`` or a ``PerpPlanContext``.
    """
    if decision.action == "none" or not decision.steps:
        raise UnplannableDecision(f"decision for {decision.position} has nothing to do")
    if decision.uses_flash_loan:
        raise UnplannableDecision("flash-loan decisions need a receiver contract; not supported")
    block = decision.block_number if decision.block_number is not None else snapshot.block_number
    steps = _steps_for(decision, snapshot, ctx)
    max_age = getattr(ctx, "max_block_age_blocks", 5)
    # NOTE: each step is simulated right before it is sent, and a plan stopped half-way can leave the
    # position worse than either end (collateral withdrawn, debt not yet repaid), so the plan stays valid
    # long enough to finish: the start must be fresh (max_age), then a few blocks per step.
    valid_until = block + max_age + 4 * len(steps)
    return Plan(
        plan_id=derive_plan_id(decision, block),
        position=decision.position,
        kind=decision.action,
        account=ctx.account,
        block_number=block,
        steps=steps,
        preconditions=Preconditions(max_block_age_blocks=max_age, valid_until_block=valid_until,
                                    min_post_health=min_post_health, target_band=target_band),
        notional_usd=max(0.0, decision.notional_usd),
        health_before=decision.health_before,
    )


__all__ = ["PerpPlanContext", "PlanContext", "UnplannableDecision", "allowed_calls", "build_plan", "build_steps",
           "merge_calls", "morpho_allowed_calls", "perp_allowed_calls"]
