"""Decision -> Plan: map a ``SizingDecision``'s steps onto encoded, unsigned ``TxStep`` calls, through the
position's protocol adapter (``manager.protocols.registry``; the adapter is named by the plan context's
``protocol_kind``, which start-up wiring built with ``adapter.wire_position``).

**The direct path** (``build_plan`` of a decision without a flash loan): ``adapter.build_steps(decision, snapshot,
ctx)``: wallet transactions (withdraw -> approve + swap on the chain's swap venue -> approve + repay, or the
boost's borrow -> swap -> supply; a perp's margin transfer and size change). Every swap's minimum output is
oracle-derived (the policy checks it against the oracle) and never below the sizing core's guaranteed output.

**The atomic path** (``choose_path`` / ``build_atomic_steps``): when the signer has an executor contract
(``manager/atomic``) configured and granted and flash liquidity exists for the debt asset, a flash-loan
decision of the sizing core (``sizing.atomic``) becomes ONE call to the executor: ``deleverage(Plan)`` (flash ->
repay first -> withdraw -> swap legs -> repay flash -> on-chain health check) or ``boost(Plan)``. The flash
lender is Morpho Blue (fee-free) when it holds the whole debt of that asset, else Aave's ``flashLoanSimple``
with the premium read from the pool. Otherwise (no executor, grants missing, no flash liquidity, a tiny
position, wallet funds to spend) the direct path above runs; ``PathChoice.why`` says which and why, and goes
into the decision's reason. Every swap leg's minimum out is the sizing core's guarantee at the plan's block
(depth curves of that block), checked against the oracle amount by the policy. What differs per protocol
(the debt to flash and the grants it needs, the executor's target, the legs' oracle prices) comes from the
adapter (``atomic_debt``, ``atomic_target``, ``leg_price``).
Pure: no RPC. Each adapter's ``allowed_calls`` gives the (contract, selector) allow-list its plans need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from manager.domain import AtomicReads, SizingDecision, SizingStep
from manager.errors import NeverSubmitError
from manager.execution.types import Plan, Preconditions, TxStep
from manager.persistence import derive_plan_id
from manager.protocols import registry

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
    adapter = registry.find_adapter(snapshot)
    if adapter is None or adapter.family != "lending" or adapter.executor_protocol_id is None:
        return _direct(f"the atomic path covers {_atomic_titles()} positions")
    debt = adapter.atomic_debt(snapshot, reads)
    if isinstance(debt, str):
        return _direct(debt)
    debt_asset, debt_wei, debt_usd = debt.asset, debt.amount_wei, debt.usd
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


def _atomic_titles() -> str:
    """"Aave V3 and Morpho Blue": the protocols the executor contract has a target for."""
    return " and ".join(a.title for a in registry.adapters("lending") if a.executor_protocol_id is not None)


def swap_fee_pips(fees_pips: Mapping[tuple[str, str], int], step: SizingStep) -> int:
    """The pool fee of a swap step's pair from ``[[pools]]`` (either direction), else ``DEFAULT_FEE_PIPS``."""
    return fees_pips.get((step.symbol, step.symbol_out or ""),
                         fees_pips.get((step.symbol_out or "", step.symbol), DEFAULT_FEE_PIPS))


def adapter_for(ctx: Any, snapshot: Any = None) -> Any:
    """The adapter that plans with ``ctx`` (its ``protocol_kind``), else the snapshot's protocol's."""
    kind = getattr(ctx, "protocol_kind", None)
    if isinstance(kind, str):
        return registry.adapter(kind)
    adapter = registry.find_adapter(snapshot)
    if adapter is None:
        raise UnplannableDecision(f"no protocol adapter plans with a {type(ctx).__name__} context")
    return adapter


def merge_calls(*lists: dict[str, set[str]]) -> dict[str, set[str]]:
    """The union of several allow-lists (one signer managing positions on several protocols)."""
    out: dict[str, set[str]] = {}
    for calls in lists:
        for to, sels in calls.items():
            out.setdefault(to, set()).update(sels)
    return out


def _steps_for(decision: SizingDecision, snapshot: Any, ctx: Any) -> tuple[TxStep, ...]:
    """The direct path's calls, from the adapter that built ``ctx`` (``adapter.build_steps``)."""
    return tuple(adapter_for(ctx, snapshot).build_steps(decision, snapshot, ctx))


def build_plan(decision: SizingDecision, snapshot: Any, ctx: Any, *,
               min_post_health: float | None = None,
               target_band: tuple[float, float] | None = None,
               path: PathChoice | None = None) -> Plan:
    """The ``Plan`` for ``decision`` decided at ``snapshot.block_number`` (idempotent plan id).

    ``ctx`` is the plan context of the position's adapter (``wire_position``). A flash-loan
    decision needs ``path`` = an atomic ``PathChoice`` (``choose_path``): it becomes one executor call.
    """
    if decision.action == "none" or not decision.steps:
        raise UnplannableDecision(f"decision for {decision.position} has nothing to do")
    block = decision.block_number if decision.block_number is not None else snapshot.block_number
    plan_id = derive_plan_id(decision, block)
    if decision.uses_flash_loan:
        if path is None or not path.atomic or getattr(ctx, "atomic", None) is None:
            raise UnplannableDecision("a flash-loan decision needs the atomic path (an executor contract and a "
                                      "flash lender); " + (path.why if path is not None else "no path chosen"))
        steps = build_atomic_steps(decision, snapshot, ctx, path, plan_id=plan_id)
    else:
        steps = _steps_for(decision, snapshot, ctx)
    max_age = getattr(ctx, "max_block_age_blocks", 5)
    # NOTE: each step is simulated right before it is sent, and a plan stopped half-way can leave the
    # position worse than either end (collateral withdrawn, debt not yet repaid), so the plan stays valid
    # long enough to finish: the start must be fresh (max_age), then a few blocks per step.
    valid_until = block + max_age + 4 * len(steps)
    return Plan(
        plan_id=plan_id,
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


def _price_of(snapshot: Any, asset: str, ctx: Any = None) -> tuple[int, int]:
    """(price in a common base, decimals) of ``asset`` for the oracle amount of a leg (``adapter.leg_price``)."""
    return tuple(adapter_for(ctx, snapshot).leg_price(snapshot, asset))  # type: ignore[return-value]


def _atomic_legs(swaps: list[SizingStep], snapshot: Any, ctx: Any) -> list[Any]:
    from manager.atomic.encode import SwapLeg, pack_path

    legs = []
    for st in swaps:
        if st.asset_out is None:
            raise UnplannableDecision(f"swap leg of {st.amount_wei} {st.symbol} has no output asset")
        tokens = list(st.path) if st.path else [st.asset, st.asset_out]
        fees = list(st.fees_pips) if st.fees_pips else [swap_fee_pips(ctx.fees_pips, st)]
        p_in, d_in = _price_of(snapshot, st.asset, ctx)
        p_out, d_out = _price_of(snapshot, st.asset_out, ctx)
        oracle_out = registry.venue(getattr(ctx, "venue_kind", None)).swap_encoder().oracle_amount_out_wei(st.amount_wei, price_in_base=p_in, price_out_base=p_out,
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


def build_atomic_steps(decision: SizingDecision, snapshot: Any, ctx: Any, path: PathChoice, *,
                       plan_id: str = "") -> tuple[TxStep, ...]:
    """The one executor call of an atomic decision (``sizing.atomic``, ``sizing.automations``): deleverage, boost,
    close or collateral switch."""
    import math

    from manager.atomic import encode as E
    from manager.sizing.atomic import min_health_wad

    setup: AtomicSetup = ctx.atomic
    assert path.flash_kind is not None and path.lender is not None and path.premium_bps is not None
    flash = E.FlashSource(path.flash_kind, path.lender, int(path.premium_bps))
    adapter = adapter_for(ctx, snapshot)
    target = adapter.atomic_target(snapshot, ctx)
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
        if not adapter.supports_collateral_switch or withdraw is None or setup.aave_pool is None:
            raise UnplannableDecision("a collateral switch needs an Aave V3 position, its pool as flash lender and "
                                      "one withdraw")
        if decision.flash_premium_bps is None:
            raise UnplannableDecision("a collateral switch must be sized with the Aave pool's flash premium")
        aave_flash = E.FlashSource("aave", setup.aave_pool, int(decision.flash_premium_bps))
        floor_hf = decision.target_health or 1.0
        try:
            step = E.switch_step(setup.executor, pool=target.pool, from_asset=withdraw.asset, to_asset=f.asset,
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


__all__ = ["AtomicSetup", "PathChoice", "UnplannableDecision", "adapter_for", "atomic_allowed_calls",
           "build_atomic_steps", "build_plan", "choose_path", "merge_calls", "swap_fee_pips"]
