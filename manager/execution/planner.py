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

**The atomic path** (``choose_path`` / ``build_atomic_steps``): when the signer has an executor contract
(``manager/atomic``) configured and granted and flash liquidity exists for the debt asset, a flash-loan
decision of the sizing core (``sizing.atomic``) becomes ONE call to the executor: ``deleverage(Plan)`` (flash ->
repay first -> withdraw -> swap legs -> repay flash -> on-chain health check) or ``boost(Plan)``. The flash
lender is Morpho Blue (fee-free) when it holds the whole debt of that asset, else Aave's ``flashLoanSimple``
with the premium read from the pool. Otherwise (no executor, grants missing, no flash liquidity, a tiny
position, wallet funds to spend) the direct path above runs; ``PathChoice.why`` says which and why, and goes
into the decision's reason. Every swap leg's minimum out is the sizing core's guarantee at the plan's block
(depth curves of that block), checked against the oracle amount by the policy.
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
from typing import Any, Literal

from manager.domain import AtomicReads, SizingDecision, SizingStep
from manager.errors import NeverSubmitError
from manager.execution.calls import erc20_approve, selector_of
from manager.execution.types import Plan, Preconditions, TxStep
from manager.persistence import derive_plan_id
from manager.protocols.aave_v3 import encode as aave
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.protocols.uniswap_v3 import encode as uni
from manager.protocols.uniswap_v3.router import router_selectors

DEFAULT_FEE_PIPS = 3000
DEFAULT_DEADLINE_S = 600


class UnplannableDecision(NeverSubmitError):
    """The decision cannot be turned into calls this manager can send (e.g. a flash loan round)."""


@dataclass(frozen=True)
class AtomicSetup:
    """The signer's executor contract (``manager/atomic``) and the flash lenders it may use."""

    executor: str
    aave_pool: str | None = None  # Aave V3 Pool: flashLoanSimple lender (and the Aave positions' pool)
    morpho: str | None = None  # Morpho Blue: fee-free flashLoan lender
    min_debt_usd: float = 0.0  # below this debt the direct path is used (gas dominates)


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
    atomic: AtomicSetup | None = None


@dataclass(frozen=True)
class PathChoice:
    """Atomic (one executor call funded by a flash loan) or direct (wallet transactions), and why."""

    path: Literal["atomic", "direct"]
    why: str
    flash_kind: Literal["aave", "morpho"] | None = None
    lender: str | None = None
    premium_bps: int | None = None

    @property
    def atomic(self) -> bool:
        return self.path == "atomic"


def _direct(why: str) -> PathChoice:
    return PathChoice("direct", f"path: direct ({why})")


def choose_path(ctx: Any, snapshot: Any, reads: AtomicReads | None) -> PathChoice:
    """The execution path for ``snapshot``'s next action at the block of ``reads`` (see the module docstring).

    Direct when: the plan context has no executor; the tick has no executor reads; the executor lacks a grant
    (aToken allowance below the collateral it may withdraw, no Morpho authorization); the debt is below
    ``AtomicSetup.min_debt_usd``; or neither lender can lend the whole debt of the asset.
    """
    setup: AtomicSetup | None = getattr(ctx, "atomic", None)
    if setup is None:
        return _direct("no executor contract configured for the signer")
    if reads is None:
        return _direct("executor state not read this tick")
    if reads.executor.lower() != setup.executor.lower():
        return _direct(f"executor read {reads.executor} is not the configured {setup.executor}")
    from manager.protocols.morpho_blue.types import MorphoPositionSnapshot

    if isinstance(snapshot, MorphoPositionSnapshot):
        debt_asset = snapshot.params.loan_token
        debt_wei = _morpho_debt(snapshot)
        debt_usd = debt_wei * (snapshot.loan_price_usd or 0.0) / 10**snapshot.loan_decimals
        if not reads.morpho_authorized:
            return _direct("executor not authorized on Morpho Blue (setAuthorization)")
    elif isinstance(snapshot, LendingPositionSnapshot):
        debts = [(a.variable_debt_wei + a.stable_debt_wei, a) for a in snapshot.assets
                 if a.variable_debt_wei + a.stable_debt_wei > 0]
        if not debts:
            return _direct("no debt")
        debt_asset = max(debts, key=lambda d: d[0] * snapshot.reserves[d[1].asset].price_base
                         / 10**snapshot.reserves[d[1].asset].decimals)[1].asset
        debt_wei = next(d for d, a in debts if a.asset == debt_asset)
        r = snapshot.reserves[debt_asset]
        debt_usd = debt_wei * r.price_base / 10**r.decimals / snapshot.base_unit
        for a in snapshot.assets:
            if a.collateral_wei > 0 and a.collateral_enabled:
                allowed = reads.withdraw_allowance_wei.get(a.asset.lower(), 0)
                if allowed < a.collateral_wei:
                    return _direct(f"executor's {a.symbol} aToken allowance {allowed} < collateral {a.collateral_wei}"
                                   " (grant more with posman executor grant)")
    else:
        return _direct("the atomic path covers Aave V3 and Morpho Blue positions")
    if debt_usd < setup.min_debt_usd:
        return _direct(f"debt ${debt_usd:,.2f} below the atomic path's ${setup.min_debt_usd:,.2f}: gas dominates")
    key = debt_asset.lower()
    morpho_has = reads.morpho_balance_wei.get(key, 0)
    if setup.morpho and reads.morpho and morpho_has >= debt_wei:
        return PathChoice("atomic", f"path: atomic (Morpho Blue flash loan, free: it holds {morpho_has} >= debt "
                                    f"{debt_wei})", flash_kind="morpho", lender=setup.morpho, premium_bps=0)
    aave_has = reads.aave_available_wei.get(key, 0)
    if (setup.aave_pool and reads.aave_premium_bps is not None and reads.aave_flash_enabled.get(key, False)
            and aave_has >= debt_wei):
        why = (f"path: atomic (Aave flashLoanSimple, premium {reads.aave_premium_bps} bps read from the pool; "
               + (f"Morpho Blue holds only {morpho_has}" if setup.morpho else "no Morpho Blue lender") + ")")
        return PathChoice("atomic", why, flash_kind="aave", lender=setup.aave_pool,
                          premium_bps=reads.aave_premium_bps)
    return _direct(f"no flash liquidity for the whole debt {debt_wei} (Morpho {morpho_has}, Aave {aave_has})")


def _morpho_debt(snapshot: Any) -> int:
    from manager.sizing import morpho as mm

    return mm.borrowed_assets(snapshot.market_now, snapshot.position)


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
        # NOTE: the sizing core may route a leg (a split over fee tiers, a two-hop path): its path is the one valued.
        tokens = list(step.path) if step.path else [step.asset, step.asset_out]
        fees = list(step.fees_pips) if step.fees_pips else [_fee(ctx, step)]
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
               target_band: tuple[float, float] | None = None,
               path: PathChoice | None = None) -> Plan:
    """The ``Plan`` for ``decision`` decided at ``snapshot.block_number`` (idempotent plan id).

    ``ctx`` is a ``PlanContext`` (Aave V3), a ``MorphoPlanContext`` or a ``PerpPlanContext``. A flash-loan
    decision needs ``path`` = an atomic ``PathChoice`` (``choose_path``): it becomes one executor call.
    """
    if decision.action == "none" or not decision.steps:
        raise UnplannableDecision(f"decision for {decision.position} has nothing to do")
    block = decision.block_number if decision.block_number is not None else snapshot.block_number
    if decision.uses_flash_loan:
        if path is None or not path.atomic or getattr(ctx, "atomic", None) is None:
            raise UnplannableDecision("a flash-loan decision needs the atomic path (an executor contract and a "
                                      "flash lender); " + (path.why if path is not None else "no path chosen"))
        steps = build_atomic_steps(decision, snapshot, ctx, path, plan_id=derive_plan_id(decision, block))
    else:
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


def atomic_allowed_calls(executor: str) -> dict[str, set[str]]:
    """The executor's entry points (``manager.atomic.encode.allowed_calls``) as an allow-list to merge."""
    from manager.atomic.encode import allowed_calls as executor_calls

    out: dict[str, set[str]] = {}
    for to, sel in executor_calls(executor):
        out.setdefault(to, set()).add(sel.lower())
    return out


def _price_of(snapshot: Any, asset: str) -> tuple[int, int]:
    """(price in a common base, decimals) of ``asset`` for the oracle amount of a leg."""
    from manager.protocols.morpho_blue.types import MorphoPositionSnapshot

    if isinstance(snapshot, MorphoPositionSnapshot):
        # Morpho oracle: collateral in loan units scaled 1e36 + dL - dC; loan priced at 10**(36 + dL - dC).
        if asset.lower() == snapshot.params.collateral_token.lower():
            return snapshot.market.oracle_price, snapshot.collateral_decimals
        return 10 ** (36 + snapshot.loan_decimals - snapshot.collateral_decimals), snapshot.loan_decimals
    r = snapshot.reserves[asset]
    return r.price_base, r.decimals


def _atomic_legs(swaps: list[SizingStep], snapshot: Any, ctx: Any) -> list[Any]:
    from manager.atomic.encode import SwapLeg, pack_path

    legs = []
    for st in swaps:
        if st.asset_out is None:
            raise UnplannableDecision(f"swap leg of {st.amount_wei} {st.symbol} has no output asset")
        tokens = list(st.path) if st.path else [st.asset, st.asset_out]
        fees = list(st.fees_pips) if st.fees_pips else [_fee(ctx, st) if isinstance(ctx, PlanContext) else
                                                        _morpho_fee(ctx, st)]
        p_in, d_in = _price_of(snapshot, st.asset)
        p_out, d_out = _price_of(snapshot, st.asset_out)
        oracle_out = uni.oracle_amount_out_wei(st.amount_wei, price_in_base=p_in, price_out_base=p_out,
                                               decimals_in=d_in, decimals_out=d_out)
        min_out = int(st.min_amount_out_wei or 0)
        if min_out <= 0:
            raise UnplannableDecision(f"swap leg of {st.amount_wei} {st.symbol} has no minimum out")
        if oracle_out > 0 and min_out * 10_000 < oracle_out * (10_000 - ctx.max_slippage_bps):
            raise UnplannableDecision(
                f"swap leg {st.symbol}->{st.symbol_out} ({st.amount_wei} in, route {'/'.join(map(str, fees))}) min out "
                f"{min_out} is more than {ctx.max_slippage_bps} bps below the oracle amount {oracle_out} (pool price "
                "off the oracle); not sent")
        legs.append(SwapLeg(router=ctx.router, path=pack_path(tokens, fees), amount_in_wei=st.amount_wei,
                            min_out_wei=min_out, oracle_out_wei=oracle_out, slippage_bps=int(ctx.max_slippage_bps),
                            router_kind=getattr(ctx, "router_kind", "swap_router")))
    return legs


def _morpho_fee(ctx: Any, step: SizingStep) -> int:
    return ctx.fees_pips.get((step.symbol, step.symbol_out or ""),
                             ctx.fees_pips.get((step.symbol_out or "", step.symbol), DEFAULT_FEE_PIPS))


def build_atomic_steps(decision: SizingDecision, snapshot: Any, ctx: Any, path: PathChoice, *,
                       plan_id: str = "") -> tuple[TxStep, ...]:
    """The one executor call of an atomic decision (``sizing.atomic``, ``sizing.automations``): deleverage, boost,
    close or collateral switch."""
    import math

    from manager.atomic import encode as E
    from manager.protocols.morpho_blue.types import MorphoPositionSnapshot
    from manager.sizing.atomic import min_health_wad

    setup: AtomicSetup = ctx.atomic
    assert path.flash_kind is not None and path.lender is not None and path.premium_bps is not None
    flash = E.FlashSource(path.flash_kind, path.lender, int(path.premium_bps))
    if isinstance(snapshot, MorphoPositionSnapshot):
        target = E.LendingTarget("morpho_blue", snapshot.morpho, snapshot.params.as_tuple())
    else:
        target = E.LendingTarget("aave_v3", ctx.pool)
    steps = list(decision.steps)
    flashes = [st for st in steps if st.kind == "flash_loan"]
    if len(flashes) != 1 or len({st.round for st in steps}) != 1:
        raise UnplannableDecision(f"an atomic action is one flash-loan round; the decision has {len(flashes)} "
                                  f"flash loan(s) in {len({st.round for st in steps})} round(s)")
    f = flashes[0]
    swaps = [st for st in steps if st.kind == "swap"]
    legs = _atomic_legs(swaps, snapshot, ctx)
    usd = max(0.0, decision.notional_usd)
    pid = plan_id.encode()[:32]
    deadline = int(snapshot.block_timestamp) + int(getattr(ctx, "deadline_s", DEFAULT_DEADLINE_S))
    if decision.action == "deleverage":
        withdraw = next((st for st in steps if st.kind == "withdraw"), None)
        repay = next((st for st in steps if st.kind == "repay"), None)
        if withdraw is None or repay is None or repay.amount_wei != f.amount_wei:
            raise UnplannableDecision("an atomic deleverage needs flash = repay and one withdraw")
        if sum(lg.min_out_wei for lg in legs) < f.amount_wei + flash.premium_wei(f.amount_wei):
            raise UnplannableDecision("the swap legs' minimum outputs do not cover the flash loan and its premium")
        step = E.deleverage_step(setup.executor, target=target, debt_asset=f.asset, collateral_asset=withdraw.asset,
                                 repay_wei=f.amount_wei, withdraw_wei=withdraw.amount_wei, legs=legs, flash=flash,
                                 min_health_wad=max(E.WAD, min_health_wad(decision)), plan_id=pid,
                                 deadline_unix_s=deadline)
        label = (f"atomic deleverage: flash {f.amount_wei} {f.symbol} ({flash.kind}), repay, withdraw "
                 f"{withdraw.amount_wei} {withdraw.symbol}, {len(legs)} swap leg(s)")
    elif decision.action == "boost":
        supply = next((st for st in steps if st.kind == "supply"), None)
        if supply is None:
            raise UnplannableDecision("an atomic boost needs a supply step")
        projected = decision.projected_health or 0.0
        floor = max(1.01, projected * 0.99) if math.isfinite(projected) else 1.01
        step = E.boost_step(setup.executor, target=target, debt_asset=f.asset, collateral_asset=supply.asset,
                            borrow_wei=f.amount_wei, legs=legs, flash=flash,
                            min_supply_wei=sum(lg.min_out_wei for lg in legs),
                            min_health_wad=math.floor(floor * E.WAD), plan_id=pid, deadline_unix_s=deadline)
        label = (f"atomic boost: flash {f.amount_wei} {f.symbol} ({flash.kind}), {len(legs)} swap leg(s), supply "
                 f"{supply.symbol}, borrow for the owner")
    elif decision.action == "close":  # issue 16: the whole position in one executor call
        withdraw = next((st for st in steps if st.kind == "withdraw"), None)
        if withdraw is None or decision.close_out_asset is None:
            raise UnplannableDecision("an atomic close needs one withdraw and the asset the wallet ends in")
        if sum(lg.min_out_wei for lg in legs) < f.amount_wei + flash.premium_wei(f.amount_wei):
            raise UnplannableDecision("the swap legs' minimum outputs do not cover the debt and the flash premium")
        step = E.close_step(setup.executor, target=target, debt_asset=f.asset, collateral_asset=withdraw.asset,
                            legs=legs, flash=flash, out_asset=decision.close_out_asset,
                            min_out_wei=int(decision.close_min_out_wei), plan_id=pid, deadline_unix_s=deadline)
        label = (f"atomic close: flash the whole {f.symbol} debt ({flash.kind}), repay, withdraw all {withdraw.symbol}, "
                 f"{len(legs)} swap leg(s); the wallet gets >= {decision.close_min_out_wei} of "
                 f"{decision.close_out_asset}")
    elif decision.action == "collateral_switch":  # issue 16: collateral A -> B, Aave's flash loan of B
        withdraw = next((st for st in steps if st.kind == "withdraw"), None)
        if isinstance(snapshot, MorphoPositionSnapshot) or withdraw is None or setup.aave_pool is None:
            raise UnplannableDecision("a collateral switch needs an Aave V3 position, its pool as flash lender and "
                                      "one withdraw")
        if decision.flash_premium_bps is None:
            raise UnplannableDecision("a collateral switch must be sized with the Aave pool's flash premium")
        aave_flash = E.FlashSource("aave", setup.aave_pool, int(decision.flash_premium_bps))
        floor_hf = decision.target_health or 1.0
        try:
            step = E.switch_step(setup.executor, pool=ctx.pool, from_asset=withdraw.asset, to_asset=f.asset,
                                 flash_wei=f.amount_wei, withdraw_wei=withdraw.amount_wei, legs=legs, flash=aave_flash,
                                 min_health_wad=max(E.WAD, math.floor(floor_hf * E.WAD)), plan_id=pid,
                                 deadline_unix_s=deadline)
        except ValueError as exc:
            raise UnplannableDecision(f"collateral switch cannot be encoded: {exc}") from exc
        label = (f"atomic collateral switch: flash {f.amount_wei} {f.symbol} (aave), supply, withdraw "
                 f"{withdraw.amount_wei} {withdraw.symbol}, {len(legs)} swap leg(s), health >= {floor_hf:g}")
    else:
        raise UnplannableDecision(f"action '{decision.action}' has no atomic form")
    return (step.model_copy(update={"usd_value": usd, "label": label}),)


__all__ = ["AtomicSetup", "PathChoice", "PerpPlanContext", "PlanContext", "UnplannableDecision", "allowed_calls",
           "atomic_allowed_calls", "build_atomic_steps", "build_plan", "build_steps", "choose_path", "merge_calls",
           "morpho_allowed_calls", "perp_allowed_calls"]
