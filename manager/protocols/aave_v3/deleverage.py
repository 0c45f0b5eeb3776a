"""Deleverage solver: which collateral to withdraw and sell, in which order, and how much debt to repay.

Algebra (notes §6): with ``S = Σ collBase_i·LT_i`` and ``D = Σ debtBase_j``, selling ``x`` base of
collateral k for a repay of ``y(x)`` base gives ``HF(x) = (S - x·LT_k) / (D - y(x))``. ``y`` comes
from the pool-depth curve (piecewise linear, so ``HF`` is a ratio of linear functions on each segment
and the target is solved exactly per segment), or from the oracle less fee and a slippage haircut.

- Order: collateral with the largest ``HF_t·g_k - LT_k`` first (lowest LT / cheapest swap); collateral
  that is also the debt token is repaid without a swap (``g = 1``). Largest debt first.
- Without a flash loan each withdraw must keep the exact HF >= ``limits.safety_floor_hf``, so the
  plan becomes k rounds (withdraw -> swap -> repay). With ``flash_premium_bps`` every round is one
  flash loan: flash ``F`` of the debt token -> repay ``F`` -> withdraw ``x`` -> swap ``x`` with
  ``min_amount_out = F + premium`` (premium = Aave v3.0 ``percentMul(F, FLASHLOAN_PREMIUM_TOTAL)``).
- Sales into one pool are cumulative within a plan (the pool is not assumed to recover between rounds).
- Rounding: the repay needed for the target is rounded **up**; the input is the smallest that
  guarantees it; every bound (balance, caps, floor) is respected with floors. Every round is
  re-checked with the exact Aave v3.0 integer math (``aave.ExactPosition``).
- Infeasible targets give the best reachable health and the constraint that stopped the plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from manager.domain import ActionKind, SizingDecision, SizingStep
from manager.protocols.aave_v3.math import AssetLine, ExactPosition, exact_position, float_view
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing._checks import BadInputError, NoDebtError, non_negative, target_health
from manager.sizing.caps import SizingLimits, describe_binding, supply_cap_room_wei, usd_cap_wei
from manager.sizing.depth import SwapModel
from manager.sizing.fixed import WAD, percent_mul
from manager.sizing.fixed import flash_amount as _flash_amount
from manager.sizing.venues import DepthEntry, VenueSet, lookup, venue_set

# What a depth-limited decision says: the largest action within the max slippage now, the rest next block.
PARTIAL_REASON = "partial: depth-limited, will continue next block"
DEPTH_LIMITED = frozenset({"pool_depth", "price_impact"})

# Solve a hair above the target so the floored avgLT of v3.0 cannot pull the exact HF below it.
_TARGET_MARGIN = 2e-4


def venues_for(
    sell: AssetLine,
    buy: AssetLine,
    depth: Mapping[tuple[str, str], DepthEntry] | None,
    limits: SizingLimits,
) -> VenueSet:
    """Every venue for selling ``sell`` into ``buy`` (pools / fee tiers / two-hop routes), merged.

    Without a depth curve: one oracle-valued venue (cap ``inf``); the debt token itself: the identity.
    """
    if sell.asset == buy.asset:
        return VenueSet.single(SwapModel.identity(), math.inf)
    curves = lookup(depth, ((sell.asset, buy.asset), (sell.symbol, buy.symbol)))
    oracle_rate = sell.price_base / buy.price_base * 10.0 ** (buy.decimals - sell.decimals)
    found = venue_set(curves, limits, oracle_rate)
    if found is not None:
        return found
    model = SwapModel.oracle(
        price_in_base=sell.price_base, price_out_base=buy.price_base, decimals_in=sell.decimals,
        decimals_out=buy.decimals, fee_bps=limits.fallback_fee_bps, haircut_bps=limits.max_slippage_bps,
    )
    return VenueSet.single(model.with_input_fee(limits.service_fee_bps), math.inf)


def swap_model_for(
    sell: AssetLine,
    buy: AssetLine,
    depth: Mapping[tuple[str, str], DepthEntry] | None,
    limits: SizingLimits,
) -> tuple[SwapModel, float]:
    """The guaranteed-output model for selling ``sell`` into ``buy``, and the pool-depth cap on the input (wei).

    Several venues for the pair are merged (``sizing.venues``). The cap is ``inf`` without a depth curve
    (oracle fallback) and for a sale of the debt token itself.
    """
    vs = venues_for(sell, buy, depth, limits)
    return vs.model, vs.cap_wei


@dataclass
class _Pair:
    model: SwapModel
    depth_cap_wei: float
    used_wei: float = 0.0
    exhausted: bool = False
    why: str = ""
    venues: VenueSet | None = None

    @classmethod
    def of(cls, vs: VenueSet) -> _Pair:
        return cls(vs.model, vs.cap_wei, venues=vs)

    @property
    def routed(self) -> bool:
        """The sale goes through venues the sizing core chose (a split, or a multi-hop route)."""
        return self.venues is not None and (self.venues.split or len(self.venues.venues[0].fees_pips) > 1)


def _needed_total(repay_wei: int, premium_bps: int | None) -> int:
    return repay_wei if premium_bps is None else repay_wei + percent_mul(repay_wei, premium_bps)


def _solve_round(
    s: float, d: float, ck: float, lt_k: float, cj: float, pair: _Pair, prem: float,
    debt_j_wei: int, target: float, bounds: dict[str, float],
) -> tuple[float, str, bool]:
    """Input ``x`` (wei of k) for this round, the binding name, and whether the target is reached.

    ``ck``/``cj`` are base per wei of collateral k / debt j; ``prem`` the flash premium fraction (0 if none).
    """
    m = pair.model
    used = pair.used_wei
    out_used = m.out_wei(used) if used > 0 else 0.0

    def repay(u: float) -> float:
        return min(debt_j_wei, (m.out_wei(used + u) - out_used) / (1 + prem))

    def hf(u: float) -> float:
        den = d - repay(u) * cj
        num = s - u * ck * lt_k
        return math.inf if den <= 0 else num / den

    # Input that clears debt j completely.
    x_clear = m.input_for_output(out_used + debt_j_wei * (1 + prem)) - used
    bounds = dict(bounds)
    bounds["debt_repaid"] = max(0.0, x_clear)
    bound_name = min(bounds, key=lambda k: bounds[k])
    bound = bounds[bound_name]
    best_u, best_h = 0.0, hf(0.0)
    for x0, x1, y0, slope in m.segments(used):
        u0, u1 = x0 - used, min(x1 - used, bound)
        if u1 < u0:
            break
        h1 = hf(u1)
        if h1 >= target:
            # Solve on this segment: repay(u) = a + b·u with a, b from the segment.
            b = slope / (1 + prem)
            a = (y0 - out_used) / (1 + prem) - b * u0
            den = target * cj * b - ck * lt_k
            if den > 0:
                u = (target * (d - cj * a) - s) / den
                u = min(max(u, u0), u1)
            else:
                u = u1
            return u, "target_health", True
        if h1 > best_h:
            best_u, best_h = u1, h1
        if u1 >= bound:
            break
    if best_u < bound * (1 - 1e-12) and bound > 0 and math.isfinite(bound):
        return best_u, "price_impact", False
    return best_u, bound_name, False


def deleverage_start(
    pos: ExactPosition, name: str, target: float, block_number: int,
) -> tuple[float, dict[str, Any], SizingDecision | None]:
    """The checks every Aave deleverage begins with: no debt or no counting collateral is bad input; a position
    already at ``target`` needs nothing (the returned decision). Returns ``(health, decision fields, decision)``."""
    acc = pos.account()
    if acc.total_debt_base == 0:
        raise NoDebtError(f"total_debt_base=0 for {name}: nothing to deleverage", field="total_debt_base", value=0)
    hf = pos.health()
    base: dict[str, Any] = dict(position=name, health_before=hf, target_health=target, block_number=block_number)
    if hf >= target:
        return hf, base, SizingDecision(action="none", projected_health=hf, binding_constraint="already_at_target",
                                        reason=f"HF {hf:.6f} >= target {target:g}", best_reachable_health=hf, **base)
    if acc.current_liquidation_threshold_bps == 0:
        raise BadInputError(f"liquidation_threshold_bps=0 for {name}: no collateral counts, deleverage impossible",
                            field="liquidation_threshold_bps", value=0)
    return hf, base, None


def plan_deleverage(
    snapshot: LendingPositionSnapshot,
    target_hf: float,
    *,
    depth: Mapping[tuple[str, str], DepthEntry] | None = None,
    limits: SizingLimits | None = None,
    flash_premium_bps: int | None = None,
    emode_price_base: int | None = None,
    collateral_order: tuple[str, ...] | None = None,
    wallet_wei: Mapping[str, int] | None = None,
    wallet_mode: str = "repay",
    no_route: Iterable[tuple[str, str]] = (),
) -> SizingDecision:
    """Plan the rounds that bring ``snapshot`` to ``target_hf`` (or as close as the constraints allow).

    ``wallet_wei`` (asset address or symbol -> wei the account holds and the caller allows using) is
    spent first, before any withdraw: the debt token repays directly ("repay from the wallet"), other
    reserve tokens are sold for the debt and repaid. This is also how a plan that stopped half-way
    (collateral withdrawn, not yet sold) is finished when the position sits at the safety floor.
    ``wallet_mode="supply"`` instead adds wallet tokens of the position's collateral assets as collateral
    (no swap, no slippage; bounded by the reserve's supply-cap room), before any withdraw.

    ``depth`` is keyed by (token_in, token_out) addresses (symbols also accepted). ``no_route``: (symbol or
    address in, out) pairs that have no pool: their collateral is never sold for that debt.
    ``flash_premium_bps`` (Aave ``FLASHLOAN_PREMIUM_TOTAL``) switches to flash-loan-funded rounds.
    ``collateral_order`` (assets or symbols) overrides the efficiency order.
    """
    target = target_health("target_hf", target_hf)
    limits = limits or SizingLimits()
    if flash_premium_bps is not None:
        non_negative("flash_premium_bps", flash_premium_bps)
        if int(flash_premium_bps) != flash_premium_bps or flash_premium_bps >= 10_000:
            raise BadInputError(f"flash_premium_bps={flash_premium_bps}: must be an int in [0, 10000)",
                                field="flash_premium_bps", value=flash_premium_bps)
        flash_premium_bps = int(flash_premium_bps)
    pos = exact_position(snapshot, emode_price_base=emode_price_base)
    name = snapshot.name or snapshot.account
    hf_before, base, done = deleverage_start(pos, name, target, snapshot.block_number)
    if done is not None:
        return done

    solve_target = target * (1 + _TARGET_MARGIN)
    prem = 0.0 if flash_premium_bps is None else flash_premium_bps / 10_000
    usd_per_base = 1.0 / snapshot.base_unit
    has_ltv0 = any(ln.counts_as_collateral and ln.ltv_bps == 0 and ln.collateral_wei > 0 for ln in pos.lines)

    def collateral_candidates(p: ExactPosition, debt: AssetLine) -> list[AssetLine]:
        cands = [ln for ln in p.lines if ln.collateral_wei > 0]
        if has_ltv0:  # v3.0 validateHFAndLtv: with LTV-0 collateral only an LTV-0 asset may be withdrawn
            cands = [ln for ln in cands if ln.ltv_bps == 0 or not ln.counts_as_collateral]
        return cands

    pairs: dict[tuple[str, str], _Pair] = {}

    def pair_for(k: AssetLine, j: AssetLine) -> _Pair:
        key = (k.asset, j.asset)
        if key not in pairs:
            pairs[key] = _Pair.of(venues_for(k, j, depth, limits))
        return pairs[key]

    def efficiency(k: AssetLine, j: AssetLine) -> float:
        lt = k.lt_bps / 1e4 if k.counts_as_collateral else 0.0
        g = pair_for(k, j).model.marginal_rate * (j.price_base / j.unit) / (k.price_base / k.unit)
        return target * g - lt

    final_binding = "target_health"
    reached = False
    fallback_used = False
    exhausted_debt: set[str] = set()
    if wallet_mode not in ("repay", "supply"):
        raise BadInputError(f"wallet_mode={wallet_mode!r}: allowed 'repay' or 'supply'", field="wallet_mode",
                            value=wallet_mode)
    wallet = _wallet_balances(pos, wallet_wei)
    # The wallet rounds come first; the withdraw rounds carry on from where they leave the plan.
    prog = _Progress(pos=pos, day_left_usd=limits.per_day_remaining_usd)
    if wallet and wallet_mode == "supply":
        _supply_from_wallet(prog, wallet, snapshot, limits, target, solve_target)
    elif wallet:
        _repay_from_wallet(prog, wallet, pair_for, limits, target, solve_target, usd_per_base)
    pos, steps, coll_delta, debt_delta = prog.pos, prog.steps, prog.coll_delta, prog.debt_delta
    notional_usd, day_left_usd, first_binding, rnd = prog.notional_usd, prog.day_left_usd, prog.first_binding, prog.rnd
    wallet_steps = rnd
    blocked = set(no_route)
    while rnd < limits.max_rounds:
        view = float_view(pos)
        if pos.health() >= target:
            reached = True
            break
        debts = sorted((ln for ln in pos.lines if ln.debt_wei > 0 and ln.asset not in exhausted_debt),
                       key=lambda ln: -ln.debt_base())
        if not debts:
            final_binding = "debt_repaid"
            break
        j = debts[0]
        cands = [k for k in collateral_candidates(pos, j) if not pair_for(k, j).exhausted
                 and (k.asset == j.asset or not ({(k.symbol, j.symbol), (k.asset, j.asset)} & blocked))]
        if collateral_order:
            rank = {a: i for i, a in enumerate(collateral_order)}
            cands = [k for k in cands if k.asset in rank or k.symbol in rank]
            cands.sort(key=lambda k: rank.get(k.asset, rank.get(k.symbol, 0)))
        else:
            cands = [k for k in cands if efficiency(k, j) > 0]
            cands.sort(key=lambda k: -efficiency(k, j))
        if not cands:
            reasons = [p.why for p in pairs.values() if p.exhausted and p.why]
            final_binding = reasons[-1] if reasons else "collateral_exhausted"
            break
        k = cands[0]
        pair = pair_for(k, j)
        fallback_used |= pair.model.source == "oracle_fallback"
        ck = k.price_base / k.unit
        cj = j.price_base / j.unit
        lt_k = k.lt_bps / 1e4 if k.counts_as_collateral else 0.0
        usd_per_wei_k = ck * usd_per_base
        bounds: dict[str, float] = {"collateral_exhausted": float(k.collateral_wei)}
        if flash_premium_bps is None and lt_k > 0:
            room_base = view.weighted_collateral_base - limits.safety_floor_hf * view.debt_base
            bounds["safety_floor"] = max(0.0, room_base / (lt_k * ck))
        bounds["per_action_cap"] = usd_cap_wei(limits.per_action_usd, usd_per_wei_k)
        bounds["per_day_cap"] = usd_cap_wei(day_left_usd, usd_per_wei_k)
        bounds["pool_depth"] = max(0.0, pair.depth_cap_wei - pair.used_wei)
        u, binding, hit = _solve_round(view.weighted_collateral_base, view.debt_base, ck, lt_k, cj, pair, prem,
                                       j.debt_wei, solve_target, bounds)
        x_wei, repay_wei, min_out = _integerize(pair, u, hit, bounds, j.debt_wei, flash_premium_bps, k is j or k.asset == j.asset)
        if x_wei > k.collateral_wei:  # the float bound can round above the integer balance
            x_wei = k.collateral_wei
            out_used = pair.model.out_wei(pair.used_wei) if pair.used_wei else 0.0
            out = math.floor(pair.model.out_wei(pair.used_wei + x_wei) - out_used)
            repay_wei = min(j.debt_wei, out if flash_premium_bps is None else _flash_amount(out, flash_premium_bps))
            min_out = _needed_total(repay_wei, flash_premium_bps)
        if x_wei <= 0 or repay_wei <= 0:
            final_binding = binding if binding != "target_health" else "dust"
            if binding in ("pool_depth", "price_impact", "collateral_exhausted"):
                pair.exhausted, pair.why = True, binding
                continue
            break
        # Exact re-check of the withdraw leg (no flash: each withdraw must keep HF >= floor).
        floor_wad = int(limits.safety_floor_hf * WAD)
        for _ in range(40):
            after_withdraw = pos.with_deltas({k.asset: (-x_wei, 0)})
            if flash_premium_bps is not None or after_withdraw.health_factor_wad() >= floor_wad:
                break
            x_wei = x_wei * 999 // 1000
            out = int(pair.model.out_wei(pair.used_wei + x_wei) - (pair.model.out_wei(pair.used_wei) if pair.used_wei else 0.0))
            repay_wei = min(j.debt_wei, out if flash_premium_bps is None else _flash_amount(out, flash_premium_bps))
            min_out = _needed_total(repay_wei, flash_premium_bps)
            binding = "safety_floor"
        else:
            final_binding = "safety_floor"
            break
        x_usd = x_wei * usd_per_wei_k
        if x_usd < limits.min_action_usd and not steps and not hit:
            # NOTE: an action cut below the dust size by the user's own cap is bound by that cap
            final_binding = binding if binding in ("per_action_cap", "per_day_cap") else "min_action_usd"
            break
        same = k.asset == j.asset
        legs = _legs(pair, x_wei, min_out) if not same else None
        if legs is not None:  # per-leg floors can sum a few wei under the merged model's output
            got = sum(lg.min_amount_out_wei or 0 for lg in legs)
            if got < min_out:
                repay_wei = min(repay_wei, got if flash_premium_bps is None else _flash_amount(got, flash_premium_bps))
                min_out = _needed_total(repay_wei, flash_premium_bps)
        new_pos = pos.with_deltas({k.asset: (-x_wei, 0)}).with_deltas({j.asset: (0, -repay_wei)})
        h_new = new_pos.health()
        if first_binding is None:
            first_binding = binding
        if flash_premium_bps is not None:
            h_repaid = pos.with_deltas({j.asset: (0, -repay_wei)}).health()
            steps.append(SizingStep(kind="flash_loan", asset=j.asset, symbol=j.symbol, amount_wei=repay_wei, round=rnd))
            steps.append(SizingStep(kind="repay", asset=j.asset, symbol=j.symbol, amount_wei=repay_wei, round=rnd,
                                    projected_health=h_repaid))
            steps.append(SizingStep(kind="withdraw", asset=k.asset, symbol=k.symbol, amount_wei=x_wei, round=rnd,
                                    projected_health=h_new))
            if not same:
                steps.extend(_swap_steps(k, j, x_wei, min_out, rnd, h_new, legs))
        else:
            steps.append(SizingStep(kind="withdraw", asset=k.asset, symbol=k.symbol, amount_wei=x_wei, round=rnd,
                                    projected_health=after_withdraw.health()))
            if not same:
                steps.extend(_swap_steps(k, j, x_wei, min_out, rnd, after_withdraw.health(), legs))
            steps.append(SizingStep(kind="repay", asset=j.asset, symbol=j.symbol, amount_wei=repay_wei, round=rnd,
                                    projected_health=h_new))
        coll_delta[k.symbol] = coll_delta.get(k.symbol, 0) - x_wei
        debt_delta[j.symbol] = debt_delta.get(j.symbol, 0) - repay_wei
        pair.used_wei += x_wei
        notional_usd += x_usd
        if day_left_usd is not None:
            day_left_usd = max(0.0, day_left_usd - x_usd)
        pos = new_pos
        rnd += 1
        final_binding = binding
        if repay_wei >= j.debt_wei:
            exhausted_debt.add(j.asset)
        if h_new >= target:
            reached = True
            break
        if binding in ("pool_depth", "price_impact"):
            pair.exhausted, pair.why = True, binding
        elif binding == "per_day_cap":
            break
    else:
        # NOTE: a round stopped by the pools (or a cap) says so, even when it was also the last round allowed.
        if not reached and final_binding not in DEPTH_LIMITED | {"per_action_cap", "per_day_cap"}:
            final_binding = "max_rounds"

    h_final = pos.health()
    reached = reached or h_final >= target
    if not steps:
        why = f"cannot deleverage toward HF {target:g}: bound by {describe_binding(final_binding, limits)}"
        if final_binding in DEPTH_LIMITED:  # NOTE: e.g. this block's more urgent sales took the pools' depth
            why += f"; {PARTIAL_REASON} (no depth left within the max slippage this block)"
        return SizingDecision(action="none", projected_health=hf_before, binding_constraint=final_binding,
                              feasible=False, best_reachable_health=hf_before, reason=why,
                              partial=final_binding in DEPTH_LIMITED, **base)
    feasible = h_final >= target - limits.tolerance_hf
    binding_out = (first_binding if first_binding not in (None, "target_health") else "target_health") if feasible else final_binding
    rounds = rnd
    parts = [f"deleverage HF {hf_before:.4f} -> {h_final:.4f} (target {target:g}) in {rounds} round(s)"]
    if flash_premium_bps is not None:
        parts.append(f"flash loan premium {flash_premium_bps} bps")
    if fallback_used:
        parts.append(f"no depth curve for some swaps: valued at oracle less {limits.fallback_fee_bps:g} bps fee "
                     f"and {limits.max_slippage_bps:g} bps slippage haircut")
    split = sorted({p.venues.describe() for p in pairs.values() if p.routed and p.used_wei > 0 and p.venues})
    if split:
        parts.append(f"sales split/routed over {'; '.join(split)}")
    partial = not feasible and final_binding in DEPTH_LIMITED
    if partial:
        parts.append(f"{PARTIAL_REASON} (stopped by {describe_binding(final_binding, limits)}; best reachable HF now {h_final:.4f})")
    elif not feasible:
        parts.append(f"target not reachable: stopped by {describe_binding(final_binding, limits)}; best reachable HF {h_final:.4f}")
    deltas: dict[str, int] = {}
    for sym, v in coll_delta.items():
        deltas[sym] = deltas.get(sym, 0) + v
    for sym, v in debt_delta.items():
        deltas[sym] = deltas.get(sym, 0) - v
    only_wallet = wallet_steps > 0 and not any(st.kind == "withdraw" for st in steps)
    if wallet_steps:
        parts.append(f"{wallet_steps} round(s) funded from the wallet")
    action: ActionKind = "deleverage"
    if only_wallet:
        action = "add_collateral" if all(st.kind == "supply" for st in steps) else "repay_from_wallet"
    return SizingDecision(
        action=action, steps=tuple(steps), deltas_wei=deltas, projected_health=h_final,
        binding_constraint=binding_out, reason="; ".join(parts), feasible=feasible,
        best_reachable_health=h_final, notional_usd=notional_usd, collateral_deltas_wei=coll_delta,
        debt_deltas_wei=debt_delta, rounds=rounds, uses_flash_loan=flash_premium_bps is not None, partial=partial,
        **base,
    )


@dataclass
class _Progress:
    """The plan so far: the position after its rounds, their steps and deltas, and the USD they spend."""

    pos: ExactPosition
    day_left_usd: float | None
    steps: list[SizingStep] = field(default_factory=list)
    coll_delta: dict[str, int] = field(default_factory=dict)
    debt_delta: dict[str, int] = field(default_factory=dict)
    notional_usd: float = 0.0
    rnd: int = 0
    first_binding: str | None = None

    def spend(self, usd: float) -> None:
        self.notional_usd += usd
        if self.day_left_usd is not None:
            self.day_left_usd = max(0.0, self.day_left_usd - usd)


def _wallet_balances(pos: ExactPosition, wallet_wei: Mapping[str, int] | None) -> dict[str, int]:
    """``wallet_wei`` (asset address or symbol -> wei) keyed by the position's asset addresses, zeros dropped."""
    wallet: dict[str, int] = {}
    for ln in pos.lines if wallet_wei else ():
        amount = wallet_wei.get(ln.asset, wallet_wei.get(ln.symbol, 0)) if wallet_wei else 0
        if int(amount) != amount or amount < 0:
            raise BadInputError(f"wallet_wei[{ln.symbol}]={amount!r}: must be a non-negative int",
                                field="wallet_wei", value=amount)
        if amount > 0:
            wallet[ln.asset] = int(amount)
    return wallet


def _supply_from_wallet(
    prog: _Progress, wallet: Mapping[str, int], snapshot: LendingPositionSnapshot, limits: SizingLimits,
    target: float, solve_target: float,
) -> None:
    """Supply rounds: wallet tokens of the collateral assets added as collateral, highest LT first.

    Each supply is what the target needs, within the wallet, the USD caps and the reserve's supply-cap room;
    the rest of the wallet is not sold in this mode.
    """
    usd_per_base = 1.0 / snapshot.base_unit
    for k in sorted((ln for ln in prog.pos.lines if ln.counts_as_collateral and wallet.get(ln.asset, 0) > 0
                     and ln.lt_bps > 0), key=lambda ln: -ln.lt_bps):
        if prog.pos.health() >= target or prog.rnd >= limits.max_rounds:
            break
        view = float_view(prog.pos)
        ck = k.price_base / k.unit
        need = math.ceil(max(0.0, solve_target * view.debt_base - view.weighted_collateral_base)
                         / (ck * k.lt_bps / 1e4)) + 1
        usd_per_wei_k = ck * usd_per_base
        usd_caps = [usd_cap_wei(limits.per_action_usd, usd_per_wei_k), usd_cap_wei(prog.day_left_usd, usd_per_wei_k)]
        int_caps = [wallet[k.asset], need]  # integers stay integers: float(1e18 - 1) == 1e18
        room = supply_cap_room_wei(snapshot.reserves[k.asset]) if k.asset in snapshot.reserves else None
        if room is not None:
            int_caps.append(room)
        x_wei = min([*int_caps, *(math.floor(c) for c in usd_caps if math.isfinite(c))])
        if x_wei <= 0 or (x_wei * usd_per_wei_k < limits.min_action_usd and prog.pos.with_deltas(
                {k.asset: (x_wei, 0)}).health() < target):
            continue
        prog.pos = prog.pos.with_deltas({k.asset: (x_wei, 0)})
        prog.steps.append(SizingStep(kind="supply", asset=k.asset, symbol=k.symbol, amount_wei=x_wei, round=prog.rnd,
                                     projected_health=prog.pos.health()))
        prog.coll_delta[k.symbol] = prog.coll_delta.get(k.symbol, 0) + x_wei
        prog.spend(x_wei * usd_per_wei_k)
        prog.rnd += 1
        prog.first_binding = prog.first_binding or "wallet_funds"


def _repay_from_wallet(
    prog: _Progress, wallet: dict[str, int], pair_for: Callable[[AssetLine, AssetLine], _Pair],
    limits: SizingLimits, target: float, solve_target: float, usd_per_base: float,
) -> None:
    """Repay rounds funded by the wallet: the debt token repays directly, then other reserve tokens are sold for it.

    Each round repays (largest debt first) what the target needs, within the wallet, the USD caps and the pool
    depth (sales share the pool with the withdraw rounds); wallet dust below ``min_action_usd`` stops a phase.
    """
    for phase in ("direct", "swap"):
        while prog.rnd < limits.max_rounds and prog.pos.health() < target:
            pos = prog.pos
            debts = sorted((ln for ln in pos.lines if ln.debt_wei > 0), key=lambda ln: -ln.debt_base())
            if not debts:
                break
            j = debts[0]
            view = float_view(pos)
            cj = j.price_base / j.unit
            need_wei = min(j.debt_wei, math.ceil(max(0.0, view.debt_base - view.weighted_collateral_base / solve_target)
                                                  / cj) + 1)
            if phase == "direct":
                k, x_wei, repay_wei = j, 0, min(wallet.get(j.asset, 0), need_wei)
            else:
                srcs = [ln for ln in pos.lines if wallet.get(ln.asset, 0) > 0 and ln.asset != j.asset]
                if not srcs:
                    break
                k = max(srcs, key=lambda ln: wallet[ln.asset] * ln.price_base / ln.unit)
                pair = pair_for(k, j)
                usd_per_wei_k = k.price_base / k.unit * usd_per_base
                caps = [usd_cap_wei(limits.per_action_usd, usd_per_wei_k), usd_cap_wei(prog.day_left_usd, usd_per_wei_k),
                        max(0.0, pair.depth_cap_wei - pair.used_wei)]
                # NOTE: the balance stays an int: float(2**54 - 1) == 2**54 would sell more than the wallet holds.
                max_x = min([wallet[k.asset], *(math.floor(c) for c in caps if math.isfinite(c))])
                out_used = pair.model.out_wei(pair.used_wei) if pair.used_wei else 0.0
                x_wei = math.ceil(pair.model.input_for_output(out_used + need_wei) - pair.used_wei - 1e-9)
                x_wei = max(1, min(x_wei, max_x))
                repay_wei = min(j.debt_wei, math.floor(pair.model.out_wei(pair.used_wei + x_wei) - out_used))
            if repay_wei <= 0:
                break
            new_pos = pos.with_deltas({j.asset: (0, -repay_wei)})
            h_new = new_pos.health()
            value_usd = (x_wei * k.price_base / k.unit if x_wei else repay_wei * cj) * usd_per_base
            if value_usd < limits.min_action_usd and h_new < target:
                break  # wallet dust: not worth a transaction (nor a round)
            if x_wei:
                legs = _legs(pair, x_wei, repay_wei)
                if legs is not None:
                    repay_wei = min(repay_wei, sum(lg.min_amount_out_wei or 0 for lg in legs))
                    new_pos = pos.with_deltas({j.asset: (0, -repay_wei)})
                    h_new = new_pos.health()
                prog.steps.extend(_swap_steps(k, j, x_wei, repay_wei, prog.rnd, pos.health(), legs))
                wallet[k.asset] -= x_wei
                pair.used_wei += x_wei
                x_usd = x_wei * k.price_base / k.unit * usd_per_base
            else:
                wallet[j.asset] -= repay_wei
                x_usd = repay_wei * cj * usd_per_base
            prog.steps.append(SizingStep(kind="repay", asset=j.asset, symbol=j.symbol, amount_wei=repay_wei,
                                         round=prog.rnd, projected_health=h_new))
            prog.debt_delta[j.symbol] = prog.debt_delta.get(j.symbol, 0) - repay_wei
            prog.spend(x_usd)
            prog.pos = new_pos
            prog.rnd += 1
            prog.first_binding = prog.first_binding or "wallet_funds"
            if phase == "direct" and wallet.get(j.asset, 0) <= 0:
                break
            if phase == "swap" and x_wei >= max_x:
                if wallet.get(k.asset, 0) <= 0:
                    continue
                break


def _legs(pair: _Pair, x_wei: int, min_out_wei: int) -> list[SizingStep] | None:
    """The sale of ``x_wei`` split over the pair's venues after what the plan already sold into them (None: one
    plain swap through the planner's configured pool). Each leg's ``min_amount_out_wei`` is its own guarantee."""
    if not pair.routed or pair.venues is None:
        return None
    out = []
    for lg in pair.venues.legs(pair.used_wei, x_wei):
        out.append(SizingStep(kind="swap", asset=lg.tokens[0], amount_wei=lg.amount_in_wei, asset_out=lg.tokens[-1],
                              min_amount_out_wei=lg.min_out_wei, path=lg.tokens, fees_pips=lg.fees_pips))
    return out


def _swap_steps(k: AssetLine, j: AssetLine, x_wei: int, min_out_wei: int, rnd: int, health: float | None,
                legs: list[SizingStep] | None) -> list[SizingStep]:
    """The swap step(s) of a round: one plain swap, or the legs of a split / routed sale."""
    if legs is None:
        return [SizingStep(kind="swap", asset=k.asset, symbol=k.symbol, amount_wei=x_wei, asset_out=j.asset,
                           symbol_out=j.symbol, min_amount_out_wei=min_out_wei, round=rnd, projected_health=health)]
    return [lg.model_copy(update={"symbol": k.symbol, "symbol_out": j.symbol, "round": rnd, "projected_health": health})
            for lg in legs]


def _integerize(
    pair: _Pair, u: float, hit: bool, bounds: dict[str, float], debt_j_wei: int,
    premium_bps: int | None, same_asset: bool,
) -> tuple[int, int, int]:
    """Token amounts for a round: (withdraw/sell wei, repay wei, swap min_amount_out wei).

    When the target binds the repay is rounded up and the input is the smallest that guarantees it;
    otherwise the input is floored inside its bound and the repay is what that input guarantees.
    """
    m = pair.model
    used = pair.used_wei
    out_used = m.out_wei(used) if used > 0 else 0.0
    bound = min(bounds.values())
    max_x = math.floor(bound) if math.isfinite(bound) else None
    prem = 0.0 if premium_bps is None else premium_bps / 10_000

    def guaranteed(x: int) -> int:
        return math.floor(m.out_wei(used + x) - out_used)

    def repay_from(out: int) -> int:
        r = out if premium_bps is None else _flash_amount(out, premium_bps)
        return min(r, debt_j_wei)

    if hit:
        repay_need = (m.out_wei(used + u) - out_used) / (1 + prem)
        repay = min(debt_j_wei, math.ceil(repay_need - 1e-9))
        need_out = _needed_total(repay, premium_bps)
        x = math.ceil(m.input_for_output(out_used + need_out) - used - 1e-9) if not same_asset else need_out
        # Guard float error: make sure the guaranteed output really covers the repay.
        while guaranteed(x) < need_out and (max_x is None or x < max_x):
            x += 1 + x // 10**9
        if max_x is not None and x > max_x:
            x = max_x
            repay = repay_from(guaranteed(x))
        return x, repay, _needed_total(repay, premium_bps)
    x = max(0, math.floor(u))
    if max_x is not None:
        x = min(x, max_x)
    repay = repay_from(guaranteed(x))
    if repay >= debt_j_wei and not same_asset:
        # Selling just enough to clear the debt: trim the input to the smallest that covers it.
        need = _needed_total(debt_j_wei, premium_bps)
        xi = math.ceil(m.input_for_output(out_used + need) - used - 1e-9)
        while guaranteed(xi) < need:
            xi += 1 + xi // 10**9
        x = min(x, xi)
    elif repay >= debt_j_wei:
        x = _needed_total(debt_j_wei, premium_bps)
    return x, repay, _needed_total(repay, premium_bps)
