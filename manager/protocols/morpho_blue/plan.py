"""Morpho Blue decisions and plans: deleverage / boost as a ``SizingDecision``, and decision -> unsigned calls.

``decide_deleverage`` / ``decide_atomic_deleverage`` / ``decide_boost`` are thin calls into the one solver
(``manager.sizing.solver``) over the position's loan model (``MorphoPositionSnapshot.loan_model()``: interest
accrued to the snapshot's timestamp, exact shares math): withdraw -> swap -> repay rounds, sized from the
collateral -> loan pool's depth curve when one is given (else the oracle less a haircut, said in the reason)
within ``SizingLimits`` (USD caps, safety floor, rounds); a boost borrows -> swaps -> supplies collateral.
``build_steps`` maps those steps onto calls, one sizing step -> one or two calls:

- ``withdraw`` -> ``Morpho.withdrawCollateral(params, amount, account, account)``
- ``swap``     -> ``token_in.approve(router, amount)`` (exact) + ``SwapRouter.exactInput`` single hop,
                  ``amountOutMinimum`` from the Morpho oracle price (either direction) and never below the
                  step's ``min_amount_out_wei`` (what the next repay spends / the supply adds)
- ``supply``   -> ``collateral.approve(morpho, amount)`` + ``Morpho.supplyCollateral(params, amount, account)``
- ``borrow``   -> ``Morpho.borrow(params, amount, 0, account, account)``
- ``repay``    -> ``loan.approve(morpho, amount)`` + ``Morpho.repay(params, amount, 0, account)``; a repay
                  of the whole debt goes by shares (``repay(params, 0, shares, account)``, pulling
                  ``toAssetsUp(shares)``, approved exactly)

Every call carries ``usd_value`` (the step's amount at the oracle feeds' USD prices) so the policy's
per-transaction cap applies to it. The Morpho oracle price is the common base for the swap bounds: ``price_in = IOracle.price()`` and
``price_out = 10**(36 + dL - dC)``, so the oracle output is ``floor(amount * price / 1e36)``. Pure: no RPC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from manager.domain import DepthCurve, SizingDecision, SizingStep
from manager.errors import NeverSubmitError
from manager.execution.calls import erc20_approve
from manager.execution.types import TxStep
from manager.protocols.morpho_blue import encode as enc
from manager.protocols.morpho_blue import math as mm
from manager.protocols.morpho_blue.types import MorphoPositionSnapshot
from manager.protocols.uniswap_v3 import encode as uni
from manager.sizing.caps import SizingLimits
from manager.sizing.venues import DepthEntry

DEFAULT_FEE_PIPS = 3000
DEFAULT_DEADLINE_S = 600


class UnplannableMorphoDecision(NeverSubmitError):
    """The decision cannot be turned into Morpho calls (unknown asset, unsupported step kind)."""


@dataclass(frozen=True)
class MorphoPlanContext:
    protocol_kind: ClassVar[str] = "morpho_blue"  # the planner finds the adapter by it (wiring)
    morpho: str
    router: str  # Uniswap V3 SwapRouter or SwapRouter02 (``router_kind``)
    account: str
    max_slippage_bps: int
    fees_pips: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (symbol in, symbol out) -> fee
    deadline_s: int = DEFAULT_DEADLINE_S
    router_kind: str = "swap_router"  # "swap_router" | "swap_router02" (manager.protocols.uniswap_v3.router)
    atomic: Any = None  # manager.execution.planner.AtomicSetup: the signer's executor (atomic path)


def curves_for(snap: MorphoPositionSnapshot,
               depth: Mapping[tuple[str, str], DepthEntry] | None) -> tuple[DepthCurve, ...]:
    """Every venue (pool / fee tier / two-hop route) selling the collateral for the loan token, deepest first:
    keyed by addresses or by symbols (``MorphoLoanModel.curves``)."""
    model = snap.loan_model()
    return model.curves(model.collateral, model.loan, depth)


def _usd_per_wei(price_usd: float | None, decimals: int) -> float | None:
    if price_usd is None or not math.isfinite(price_usd) or price_usd <= 0:
        return None
    return float(price_usd / 10**decimals)


def decide_deleverage(snap: MorphoPositionSnapshot, target_hf: float, *, swap_haircut_bps: int = 100,
                      safety_floor_hf: float = 1.01, max_rounds: int = 8,
                      depth: Mapping[tuple[str, str], DepthCurve] | None = None,
                      limits: SizingLimits | None = None,
                      wallet_wei: Mapping[str, int] | None = None) -> SizingDecision:
    """The deleverage decision for ``snap`` (rounds of withdraw -> swap -> repay) toward ``target_hf``: a thin call
    into the one solver, ``manager.sizing.solver.deleverage``, over the position's loan model
    (``manager.protocols.morpho_blue.decide`` sizes the rounds with the exact shares math).

    ``depth`` ((token_in, token_out) addresses or symbols -> ``DepthCurve``): the collateral -> loan curve,
    when present, values every sale (guaranteed output = quotes less ``limits.swap_tolerance_bps``, the pool
    used cumulatively over the rounds, each round within the pool's depth at ``limits.max_slippage_bps``).
    Without it a sale is valued at the oracle price less ``swap_haircut_bps`` and the reason says so.
    ``wallet_wei`` (token address -> wei the caller allows spending): collateral tokens in the wallet are sold
    and the loan tokens repaid first, in a decision of their own (``repay_from_wallet``: finishing a plan that
    stopped half-way, e.g. at the withdraw safety floor); the next tick plans further rounds from fresh state.
    ``limits`` (``SizingLimits``) adds the per-action / per-day USD caps on the collateral sold (USD from the
    oracle's feeds), the dust threshold, and replaces ``safety_floor_hf`` / ``max_rounds`` with its own.
    """
    from manager.sizing.solver import deleverage

    return deleverage(snap.loan_model(), target_hf, depth=depth, limits=limits, wallet_wei=wallet_wei,
                      swap_haircut_bps=swap_haircut_bps, safety_floor_hf=safety_floor_hf, max_rounds=max_rounds)


def decide_atomic_deleverage(snap: MorphoPositionSnapshot, target_hf: float, *, premium_bps: int,
                             depth: Mapping[tuple[str, str], DepthEntry] | None = None,
                             limits: SizingLimits | None = None, swap_haircut_bps: int = 100) -> SizingDecision:
    """One atomic deleverage (flash -> repay first -> withdrawCollateral -> swap legs -> repay flash) of ``snap``
    toward ``target_hf``: ``manager.sizing.solver.atomic_deleverage`` on the market accrued to the snapshot, the
    sale split over every venue of the pair in ``depth``."""
    from manager.sizing.solver import atomic_deleverage

    return atomic_deleverage(snap.loan_model(), target_hf, premium_bps=premium_bps, depth=depth, limits=limits,
                             swap_haircut_bps=swap_haircut_bps)


def decide_boost(snap: MorphoPositionSnapshot, target_hf: float, *, premium_bps: int | None = None,
                 depth: Mapping[tuple[str, str], DepthEntry] | None = None,
                 limits: SizingLimits | None = None) -> SizingDecision:
    """A boost of ``snap`` down to ``target_hf`` (borrow the loan token -> buy collateral -> supplyCollateral):
    ``manager.sizing.solver.boost`` (direct rounds), or with ``premium_bps`` one atomic boost (flash -> swap legs ->
    supplyCollateral -> borrow -> repay flash) through ``manager.sizing.solver.atomic_boost``."""
    from manager.sizing.solver import atomic_boost, boost

    if premium_bps is not None:
        return atomic_boost(snap.loan_model(), target_hf, premium_bps=premium_bps, depth=depth, limits=limits)
    return boost(snap.loan_model(), target_hf, depth=depth, limits=limits)


def step_usd(step: SizingStep, snap: MorphoPositionSnapshot) -> float:
    """USD value of a sizing step's amount (collateral or loan token, from the oracle's feeds); 0 if unknown."""
    if step.asset.lower() == snap.params.collateral_token.lower():
        per = _usd_per_wei(snap.collateral_price_usd, snap.collateral_decimals)
    elif step.asset.lower() == snap.params.loan_token.lower():
        per = _usd_per_wei(snap.loan_price_usd, snap.loan_decimals)
    else:
        per = None
    # NOTE: without a USD feed the step cannot be valued; the decision's reason says the caps did not apply.
    return step.amount_wei * per if per is not None else 0.0


def _swap(step: SizingStep, snap: MorphoPositionSnapshot, ctx: MorphoPlanContext) -> list[TxStep]:
    # collateral -> loan (a deleverage) or loan -> collateral (a boost), both at the Morpho oracle price
    loan_price = 10 ** (36 + snap.loan_decimals - snap.collateral_decimals)
    selling_collateral = step.asset.lower() == snap.params.collateral_token.lower()
    price_in, price_out = ((snap.market.oracle_price, loan_price) if selling_collateral
                           else (loan_price, snap.market.oracle_price))
    dec_in, dec_out = ((snap.collateral_decimals, snap.loan_decimals) if selling_collateral
                       else (snap.loan_decimals, snap.collateral_decimals))
    oracle_out = uni.oracle_amount_out_wei(step.amount_wei, price_in_base=price_in, price_out_base=price_out,
                                           decimals_in=dec_in, decimals_out=dec_out)
    need = step.min_amount_out_wei or 0
    if oracle_out <= 0:
        raise UnplannableMorphoDecision(f"swap of {step.amount_wei} {step.symbol} is worth nothing at the oracle")
    # NOTE: the tightest slippage that still guarantees the repay's amount, within the policy maximum.
    slippage = ctx.max_slippage_bps if need <= 0 else max(0, min(ctx.max_slippage_bps,
                                                                 10_000 - -(-need * 10_000 // oracle_out)))
    fee = ctx.fees_pips.get((step.symbol, step.symbol_out or ""),
                            ctx.fees_pips.get((step.symbol_out or "", step.symbol), DEFAULT_FEE_PIPS))
    usd = step_usd(step, snap)
    while True:
        call = uni.exact_input(ctx.router, tokens=[step.asset, step.asset_out or ""], fees_pips=[fee],
                               recipient=ctx.account, amount_in_wei=step.amount_wei, price_in_base=price_in,
                               price_out_base=price_out, decimals_in=dec_in,
                               decimals_out=dec_out, slippage_bps=slippage,
                               deadline_unix_s=snap.block_timestamp + ctx.deadline_s, usd_value=usd,
                               router_kind=ctx.router_kind)
        assert call.swap is not None
        if (call.swap.min_amount_out_wei or 0) >= need or slippage == 0:
            break
        slippage -= 1
    if (call.swap.min_amount_out_wei or 0) < need:
        raise UnplannableMorphoDecision(f"swap min out {call.swap.min_amount_out_wei} < the repay's {need}")
    approve = erc20_approve(step.asset, ctx.router, step.amount_wei, usd_value=usd,
                            label=f"approve router {step.amount_wei} {step.symbol}")
    return [approve, call.model_copy(update={"label": f"swap {step.amount_wei} {step.symbol} -> {step.symbol_out} "
                                                       f"(min {call.swap.min_amount_out_wei})"})]


def build_steps(decision: SizingDecision, snap: MorphoPositionSnapshot, ctx: MorphoPlanContext) -> tuple[TxStep, ...]:
    """The calls that carry out ``decision`` in order (see the module docstring)."""
    params = snap.params
    out: list[TxStep] = []
    m, p = snap.market_now, snap.position
    for step in decision.steps:
        tag = f"{step.amount_wei} {step.symbol}"
        usd = step_usd(step, snap)
        if step.kind == "withdraw":
            if step.asset != params.collateral_token:
                raise UnplannableMorphoDecision(f"withdraw of {step.asset}: not this market's collateral")
            p = mm.apply_withdraw_collateral(p, step.amount_wei)
            out.append(enc.withdraw_collateral(ctx.morpho, params, step.amount_wei, ctx.account, ctx.account,
                                               usd_value=usd)
                       .model_copy(update={"label": f"withdrawCollateral {tag}"}))
        elif step.kind == "swap":
            out.extend(_swap(step, snap, ctx))
        elif step.kind == "repay":
            if step.asset != params.loan_token:
                raise UnplannableMorphoDecision(f"repay of {step.asset}: not this market's loan token")
            whole = mm.to_assets_up(p.borrow_shares, m.total_borrow_assets, m.total_borrow_shares)
            if step.amount_wei >= whole:  # close by shares: repay-by-assets could leave dust shares
                # NOTE: interest accrues until the repay is mined; 1 bp of headroom on the approval.
                allowance = whole + whole // 10_000 + 1
                whole_usd = step_usd(step.model_copy(update={"amount_wei": whole}), snap)
                out.append(enc.approve_for_morpho(ctx.morpho, params.loan_token, allowance, usd_value=whole_usd)
                           .model_copy(update={"label": f"approve morpho {allowance} {step.symbol}"}))
                out.append(enc.repay(ctx.morpho, params, ctx.account, shares=p.borrow_shares, usd_value=whole_usd)
                           .model_copy(update={"label": f"repay all {p.borrow_shares} shares"}))
                m, p, _ = mm.apply_repay_shares(m, p, p.borrow_shares)
            else:
                out.append(enc.approve_for_morpho(ctx.morpho, params.loan_token, step.amount_wei, usd_value=usd)
                           .model_copy(update={"label": f"approve morpho {tag}"}))
                out.append(enc.repay(ctx.morpho, params, ctx.account, assets_wei=step.amount_wei, usd_value=usd)
                           .model_copy(update={"label": f"repay {tag}"}))
                m, p = mm.apply_repay_assets(m, p, step.amount_wei)
        elif step.kind == "supply":
            if step.asset.lower() != params.collateral_token.lower():
                raise UnplannableMorphoDecision(f"supply of {step.asset}: not this market's collateral")
            out.append(enc.approve_for_morpho(ctx.morpho, params.collateral_token, step.amount_wei, usd_value=usd))
            out.append(enc.supply_collateral(ctx.morpho, params, step.amount_wei, ctx.account, usd_value=usd))
        elif step.kind == "borrow":
            if step.asset.lower() != params.loan_token.lower():
                raise UnplannableMorphoDecision(f"borrow of {step.asset}: not this market's loan token")
            out.append(enc.borrow(ctx.morpho, params, ctx.account, ctx.account, assets_wei=step.amount_wei,
                                  usd_value=usd))
        else:
            raise UnplannableMorphoDecision(f"step kind '{step.kind}' is not supported for Morpho Blue")
    return tuple(out)


__all__ = ["MorphoPlanContext", "UnplannableMorphoDecision", "build_steps", "curves_for", "decide_atomic_deleverage",
           "decide_boost", "decide_deleverage", "step_usd"]
