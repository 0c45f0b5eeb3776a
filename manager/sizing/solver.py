"""The one deleverage / boost solver, over a per-protocol loan model (``manager.sizing.loan``).

Every lending decision of the strategies goes through here, for Aave V3 and Morpho Blue alike; the protocol enters
only through its ``LoanModel`` (exact health after signed deltas, borrow gates, rooms, venues):

- ``deleverage`` / ``atomic_deleverage``: sell collateral for debt toward a target health (rounds of withdraw ->
  swap -> repay, or one flash-loan transaction: flash -> repay first -> withdraw -> swap legs -> repay flash). The
  model's exact engine sizes the direct rounds (``LoanModel.deleverage_rounds``, in the protocol's folder: e.g.
  multi-collateral rounds on a pool revision's integer rules, or shares math with interest accrued to the block);
  the atomic form is one solver for every protocol, ``atomic_pair_deleverage``: one collateral/debt pair per
  transaction (chosen by the model), the smallest integer sale whose exact health after ``model.after`` reaches
  the target (bisection), else the exact optimum within the pools' depth, the caps and the collateral
  (``partial`` when the pools bind).
- ``boost`` / ``atomic_boost``: borrow the debt asset, buy collateral with it, supply it, down to a target health
  (notes §6: ``HF_t = (S + y(Δ)·LT_k) / (D + Δ·(1+p))``). One solver for both protocols: each round's borrow is the
  largest integer whose **exact** health after the supply (the model's ``after``) is >= the target (borrow sizes
  round down), within the model's borrow gate (Aave ``validateBorrow`` of the revision; Morpho ``_isHealthy``
  after the borrow and market liquidity), the model's rooms (Aave: reserve liquidity, borrow cap, isolation
  ceiling, the collateral's supply-cap room; Morpho: the market's free liquidity), the per-action / per-day USD caps
  and the pools' depth within ``limits.max_slippage_bps`` (every venue of the pair, merged: ``sizing.venues``).
  Without a flash loan the borrow lands before the supply, so it must pass the gate alone and keep the health
  >= ``limits.safety_floor_hf`` (k rounds: borrow -> swap -> supply); with one (flash ``Δ``, swap, supply, borrow
  ``Δ + premium``) the gate applies to the final borrow with the new collateral counted.
- ``close`` / ``collateral_switch``: the price automations' one-transaction actions (``LoanModel.close_position`` /
  ``switch_collateral``, on the shared helpers of ``sizing.automations``).

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from manager.domain import SizingDecision, SizingStep
from manager.sizing._checks import BadInputError, NoDebtError, largest_passing, non_negative, target_health
from manager.sizing.caps import SizingLimits, describe_binding, usd_cap_wei
from manager.sizing.fixed import WAD, percent_mul
from manager.sizing.fixed import flash_amount as _flash_amount
from manager.sizing.loan import DeleverageOptions, LoanAsset, LoanModel, LoanSnapshot
from manager.sizing.venues import DepthEntry, Leg, VenueSet

PARTIAL_REASON = "partial: depth-limited, will continue next block"
DepthMap = Mapping[tuple[str, str], DepthEntry]


def model_of(position: LoanModel | LoanSnapshot) -> LoanModel:
    """The loan model of a snapshot (or the model itself)."""
    return position if isinstance(position, LoanModel) else position.loan_model()


# ------------------------------------------------------------------------------------------------ deleverage
def deleverage(
    position: LoanModel | LoanSnapshot,
    target_hf: float,
    *,
    depth: DepthMap | None = None,
    limits: SizingLimits | None = None,
    wallet_wei: Mapping[str, int] | None = None,
    wallet_mode: Literal["repay", "supply"] = "repay",
    collateral_order: tuple[str, ...] | None = None,
    no_route: Iterable[tuple[str, str]] = (),
    flash_premium_bps: int | None = None,
    swap_haircut_bps: int = 100,
    safety_floor_hf: float = 1.01,
    max_rounds: int = 8,
) -> SizingDecision:
    """Deleverage rounds (withdraw -> swap -> repay) toward ``target_hf``; wallet funds first when given.

    ``wallet_wei`` (asset -> wei the caller allows spending) finishes an interrupted plan / repays from the wallet
    first; ``wallet_mode="supply"`` adds collateral tokens instead. ``collateral_order`` / ``no_route`` pick the
    collateral sold (multi-collateral loans). ``swap_haircut_bps``: a sale's value below the oracle without a depth
    curve where the model values sales that way (Morpho); ``safety_floor_hf`` / ``max_rounds`` apply without
    ``limits`` there. ``flash_premium_bps``: flash-loan-funded rounds (Aave).
    """
    model = model_of(position)
    opts = DeleverageOptions(wallet_wei=wallet_wei, wallet_mode=wallet_mode, collateral_order=collateral_order,
                             no_route=tuple(no_route), flash_premium_bps=flash_premium_bps,
                             swap_haircut_bps=swap_haircut_bps, safety_floor_hf=safety_floor_hf,
                             max_rounds=max_rounds)
    return model.deleverage_rounds(target_hf, depth=depth, limits=limits, opts=opts)


def atomic_deleverage(
    position: LoanModel | LoanSnapshot,
    target_hf: float,
    *,
    premium_bps: int,
    depth: DepthMap | None = None,
    limits: SizingLimits | None = None,
    collateral_order: tuple[str, ...] | None = None,
    swap_haircut_bps: int = 100,
) -> SizingDecision:
    """One atomic deleverage (flash -> repay first -> withdraw -> swap legs -> repay flash) toward ``target_hf``."""
    model = model_of(position)
    opts = DeleverageOptions(collateral_order=collateral_order, swap_haircut_bps=swap_haircut_bps)
    return model.atomic_deleverage(target_hf, premium_bps=premium_bps, depth=depth, limits=limits, opts=opts)


def atomic_pair_deleverage(
    model: LoanModel,
    target_hf: float,
    *,
    collateral: LoanAsset | str,
    debt: LoanAsset | str,
    premium_bps: int,
    sale: VenueSet,
    limits: SizingLimits | None = None,
    fallback_note: str = "",
) -> SizingDecision:
    """One atomic deleverage of ONE collateral/debt pair, for any loan model: the smallest integer sale ``x`` of
    ``collateral`` whose guaranteed output (``sale``: the merged venues, or the oracle less a haircut) repays
    ``F`` (``F + percentMul(F, premium) <= out``, never more than the debt) so that the exact health of
    ``model.after({collateral: -x}, {debt: -F})`` reaches the target; found by bisection on the integer sale
    (health rises with the sale while it is efficient). Bounded by the collateral, the pools' depth within
    ``limits.max_slippage_bps`` and the per-action / per-day USD caps; short of the target it is the largest
    action within them (``partial`` when the pools bound it). Steps: flash_loan F, repay F, withdraw x, swap legs.
    """
    from manager.sizing.atomic import ATOMIC_NOTE

    t = target_health("target_hf", target_hf)
    prem = _premium(premium_bps)
    limits = limits or SizingLimits()
    k = collateral if isinstance(collateral, LoanAsset) else model.line(collateral)
    j = debt if isinstance(debt, LoanAsset) else model.line(debt)
    whole = j.debt_wei
    if whole == 0:
        raise NoDebtError(f"no {j.symbol} debt: nothing to deleverage", field="debt_wei", value=0)
    hf0 = model.health()
    base: dict[str, Any] = dict(position=model.name, health_before=hf0, target_health=t,
                                block_number=model.block_number)
    if hf0 >= t:
        return SizingDecision(action="none", projected_health=hf0, binding_constraint="already_at_target",
                              reason=f"HF {hf0:.6f} >= target {t:g}", best_reachable_health=hf0, **base)
    bounds: dict[str, float] = {"collateral_exhausted": float(k.collateral_wei), "pool_depth": sale.cap_wei}
    if k.usd_per_wei is not None:
        bounds["per_action_cap"] = usd_cap_wei(limits.per_action_usd, k.usd_per_wei)
        bounds["per_day_cap"] = usd_cap_wei(limits.per_day_remaining_usd, k.usd_per_wei)
    x_clear = _sale_clearing(sale, whole, prem, k.collateral_wei)
    if x_clear is not None:
        bounds["debt_repaid"] = float(x_clear)
    bound_name = min(bounds, key=lambda n: bounds[n])
    x_max = min(k.collateral_wei, math.floor(bounds[bound_name]) if math.isfinite(bounds[bound_name])
                else k.collateral_wei)

    def outcome(x: int) -> tuple[int, float]:
        """(repay wei, exact health) for a sale of ``x`` collateral wei."""
        if x <= 0:
            return 0, hf0
        out = math.floor(sale.model.out_wei(min(float(x), sale.model.max_in_wei)))
        f = min(_flash_amount(out, prem), whole)
        return f, model.after({k.asset: -x}, {j.asset: -f}).health()

    solve_t = t * (1 + 1e-6)
    _, h_max = outcome(x_max)
    top, binding = x_max, bound_name
    if h_max < solve_t:
        # NOTE: past the pools' efficient size a larger sale lowers the health (price impact): the best
        # reachable health is at the exact optimum of the (quasi-concave) health over the integer sale
        top = _argmax_health(lambda x: outcome(x)[1], x_max)
        if outcome(top)[1] <= h_max * (1 + 1e-9):  # flat (integer rounding) or still rising at the bound
            top = x_max
        else:
            binding = "price_impact"
    if outcome(top)[1] >= solve_t:
        # the smallest x with health >= target (health rises with the sale up to ``top``), to 1e-9 of the sale;
        # bracketed around the linear estimate (notes §6: x = (t·D - S) / (t·g·c_j/(1+p) - c_k·LT_k))
        s_now, d_now = model.weighted()
        den = t * sale.model.marginal_rate * j.value_per_wei / (1 + prem / 1e4) - k.value_per_wei * k.weight
        est = (t * d_now - s_now) / den if den > 0 else top / 2
        est_i = min(top, max(1, int(est))) if math.isfinite(est) else top
        lo, hi = _bracket(lambda x: outcome(x)[1] >= solve_t, est_i, top)
        while hi - lo > max(1, hi // 10**9):
            mid = (lo + hi) // 2
            if outcome(mid)[1] >= solve_t:
                hi = mid
            else:
                lo = mid
        x, binding = hi, "target_health"
    else:
        x = top
    f, h = outcome(x)
    if x > 0 and binding != "target_health" and k.usd_per_wei is not None and x * k.usd_per_wei < limits.min_action_usd:
        # NOTE: an action cut below the dust size by the user's own cap is bound by that cap
        dust = binding if binding in ("per_action_cap", "per_day_cap") else "min_action_usd"
        return SizingDecision(action="none", projected_health=hf0, binding_constraint=dust, feasible=False,
                              best_reachable_health=hf0, reason=f"cannot deleverage toward HF {t:g}: bound by {dust}",
                              **base)
    if x <= 0 or f <= 0 or h <= hf0:
        why = f"cannot deleverage toward HF {t:g}: bound by {describe_binding(binding, limits)}"
        depth_limited = binding in ("pool_depth", "price_impact")
        if depth_limited:  # NOTE: e.g. this block's more urgent sales took the pools' depth
            why += f"; {PARTIAL_REASON} (no depth left within the max slippage this block)"
        return SizingDecision(action="none", projected_health=hf0, binding_constraint=binding, feasible=False,
                              best_reachable_health=hf0, reason=why, partial=depth_limited, **base)
    same = k.asset.lower() == j.asset.lower() and k.symbol == j.symbol
    legs = sale.legs(0.0, x) if not same and (sale.split or len(sale.venues[0].fees_pips) > 1) else None
    if legs is not None:  # per-leg floors can sum a few wei under the merged model's output
        f = min(f, _flash_amount(sum(lg.min_out_wei for lg in legs), prem))
        h = model.after({k.asset: -x}, {j.asset: -f}).health()
    need_out = f + percent_mul(f, prem)
    swaps: list[SizingStep]
    if same:  # the collateral is the debt token: repaid without a swap
        swaps = []
    elif legs is None:
        swaps = [SizingStep(kind="swap", asset=k.asset, symbol=k.symbol, amount_wei=x, asset_out=j.asset,
                            symbol_out=j.symbol, min_amount_out_wei=need_out, projected_health=h)]
    else:
        swaps = [SizingStep(kind="swap", asset=k.asset, symbol=k.symbol, amount_wei=lg.amount_in_wei,
                            asset_out=j.asset, symbol_out=j.symbol, min_amount_out_wei=lg.min_out_wei,
                            path=lg.tokens, fees_pips=lg.fees_pips, projected_health=h) for lg in legs]
    steps = [SizingStep(kind="flash_loan", asset=j.asset, symbol=j.symbol, amount_wei=f),
             SizingStep(kind="repay", asset=j.asset, symbol=j.symbol, amount_wei=f,
                        projected_health=model.after(None, {j.asset: -f}).health()),
             SizingStep(kind="withdraw", asset=k.asset, symbol=k.symbol, amount_wei=x, projected_health=h), *swaps]
    feasible = h >= t - limits.tolerance_hf
    partial = not feasible and binding in ("pool_depth", "price_impact")
    parts = [f"deleverage HF {hf0:.4f} -> {h:.4f} (target {t:g}) in 1 round", f"{ATOMIC_NOTE}; flash premium {prem} bps"]
    if sale.split:
        parts.append(f"sale split over {sale.describe()}")
    if math.isinf(sale.cap_wei) and fallback_note:
        parts.append(fallback_note)
    if partial:
        parts.append(f"{PARTIAL_REASON} (best reachable HF now {h:.4f})")
    elif not feasible:
        parts.append(f"target not reachable: stopped by {binding}; best reachable HF {h:.4f}")
    notional = x * k.usd_per_wei if k.usd_per_wei is not None else 0.0
    deltas = {k.symbol: -x}
    deltas[j.symbol] = deltas.get(j.symbol, 0) - f if not same else -x + f
    return SizingDecision(
        action="deleverage", steps=tuple(steps), deltas_wei=deltas, projected_health=h,
        binding_constraint=binding, reason="; ".join(parts), feasible=feasible, best_reachable_health=h,
        notional_usd=notional, collateral_deltas_wei={k.symbol: -x}, debt_deltas_wei={j.symbol: -f}, rounds=1,
        uses_flash_loan=True, partial=partial, **base,
    )


# ------------------------------------------------------------------------------------------------ boost
def boost(
    position: LoanModel | LoanSnapshot,
    target_hf: float,
    *,
    borrow_asset: str | None = None,
    supply_asset: str | None = None,
    depth: DepthMap | None = None,
    limits: SizingLimits | None = None,
    flash_premium_bps: int | None = None,
) -> SizingDecision:
    """Rounds that lower the health to ``target_hf`` by borrowing ``borrow_asset`` and supplying ``supply_asset``.

    ``target_hf`` must be > 1 and >= ``limits.safety_floor_hf``. Assets by address or symbol; default: the largest
    debt and the largest collateral. See the module docstring for the gates.
    """
    target = target_health("target_hf", target_hf)
    limits = limits or SizingLimits()
    if target < limits.safety_floor_hf:
        raise BadInputError(f"target_hf={target_hf}: below safety_floor_hf={limits.safety_floor_hf}",
                            field="target_hf", value=target_hf)
    if flash_premium_bps is not None:
        non_negative("flash_premium_bps", flash_premium_bps)
        flash_premium_bps = int(flash_premium_bps)
    model = model_of(position)
    name = model.name
    hf_before = model.health()
    base: dict[str, Any] = dict(position=name, health_before=hf_before, target_health=target,
                                block_number=model.block_number)
    borrow_asset = borrow_asset or model.largest("debt")
    supply_asset = supply_asset or model.largest("collateral")
    if borrow_asset is None or supply_asset is None:
        return SizingDecision(action="none", projected_health=hf_before, binding_constraint="no_assets",
                              feasible=False, best_reachable_health=hf_before,
                              reason="boost needs a debt and a collateral asset", **base)
    j, k = model.line(borrow_asset), model.line(supply_asset)
    target_wad = math.ceil(target * WAD)
    floor_wad = math.ceil(limits.safety_floor_hf * WAD)
    blocked = model.boost_blocked(j, k)
    if blocked is None and j.usd_per_wei is None and (limits.per_action_usd is not None
                                                      or limits.per_day_remaining_usd is not None):
        # NOTE: a boost is never urgent: without a USD price the per-action / per-day caps cannot bound it
        blocked = ("no_usd_price", f"no USD price for {j.symbol}: the USD caps cannot bound a boost")
    if hf_before <= target and blocked is None:
        blocked = ("already_at_target", f"HF {hf_before:.6f} <= target {target:g}")
    if blocked:
        return SizingDecision(action="none", projected_health=hf_before, binding_constraint=blocked[0],
                              feasible=blocked[0] == "already_at_target", best_reachable_health=hf_before,
                              reason=blocked[1], **base)

    vs = model.venues(j, k, depth, limits)
    swap, depth_cap = vs.model, vs.cap_wei
    routed = vs.split or len(vs.venues[0].fees_pips) > 1
    usd_per_wei_j = j.usd_per_wei
    prem_bps = flash_premium_bps or 0
    day_left = limits.per_day_remaining_usd
    rooms, supply_room = model.boost_rooms(j, k)
    used = 0.0
    steps: list[SizingStep] = []
    total_borrow = total_supply = 0
    first_binding = None
    binding = "target_health"
    notional = 0.0
    cur = model
    for rnd in range(limits.max_rounds):
        out_used = swap.out_wei(used) if used > 0 else 0.0

        def supplied(b: int, _used: float = used, _out_used: float = out_used) -> int:
            return math.floor(swap.out_wei(_used + b) - _out_used) if b > 0 else 0

        bounds: dict[str, float] = {n: float(max(0, r - total_borrow)) for n, r in rooms.items()}
        if usd_per_wei_j is not None:
            bounds["per_action_cap"] = usd_cap_wei(limits.per_action_usd, usd_per_wei_j)
            bounds["per_day_cap"] = usd_cap_wei(day_left, usd_per_wei_j)
        bounds["pool_depth"] = max(0.0, depth_cap - used)
        if supply_room is not None:
            room_in = swap.input_for_output(out_used + max(0, supply_room - total_supply)) - used
            bounds["supply_cap"] = max(0.0, room_in)
        hard = min(bounds.values())
        hard_i = math.floor(hard) if math.isfinite(hard) else None

        def after(b: int, _m: LoanModel = cur, _s: Any = supplied) -> LoanModel:
            debt_add = b + (percent_mul(b, prem_bps) if flash_premium_bps is not None else 0)
            return _m.after({k.asset: _s(b)}, {j.asset: debt_add})

        s_now, d_now = cur.weighted()
        g = swap.marginal_rate * k.value_per_wei / j.value_per_wei
        den = target * (1 + prem_bps / 1e4) - g * k.weight
        guess_f = (s_now - target * d_now) / den / j.value_per_wei if den > 0 else 1e30
        guess = max(1, int(min(guess_f, hard if math.isfinite(hard) else 1e30)) + 1)

        def ok_target(b: int, _after: Any = after, _h: int | None = hard_i) -> bool:
            if _h is not None and b > _h:
                return False
            return bool(_after(b).health_wad() >= target_wad)

        cands = {"target_health": _largest(ok_target, guess)}
        if hard_i is not None:
            cands[min(bounds, key=lambda n: bounds[n])] = hard_i
        if flash_premium_bps is None:
            # The borrow lands before the supply: the protocol's gate and the safety floor on the borrow alone.
            cands["ltv_gate"] = _largest(lambda b, _m=cur: _m.borrow_ok(j.asset, b), guess)
            cands["safety_floor"] = _largest(
                lambda b, _m=cur: _m.after(None, {j.asset: b}).health_wad() >= floor_wad, guess)
        else:
            def ltv_final(b: int, _m: LoanModel = cur, _s: Any = supplied, _h: int | None = hard_i) -> bool:
                if _h is not None and b > _h:
                    return False
                fee = percent_mul(b, prem_bps)
                return _m.after({k.asset: _s(b)}).borrow_ok(j.asset, b + fee)
            cands["ltv_gate"] = _largest(ltv_final, guess)
        b = min(cands.values())
        # Ties: a hard bound that equals the target-capped size is what binds (the target may lie beyond it).
        tied = [n for n in cands if cands[n] == b]
        binding = next((n for n in tied if n != "target_health"), "target_health")
        if binding != "target_health" and "target_health" in tied and hard_i is not None and b < hard_i:
            binding = "target_health"
        if b <= 0:
            break
        y = supplied(b)
        if y <= 0:
            binding = "dust"
            break
        legs = vs.legs(used, b) if routed else None
        fee = percent_mul(b, prem_bps) if flash_premium_bps is not None else 0
        if legs is not None and sum(lg.min_out_wei for lg in legs) < y:
            y = sum(lg.min_out_wei for lg in legs)
            new = cur.after({k.asset: y}, {j.asset: b + fee})
        else:
            new = after(b)
        if first_binding is None:
            first_binding = binding
        h_new = new.health()
        if flash_premium_bps is not None:
            steps += [
                SizingStep(kind="flash_loan", asset=j.asset, symbol=j.symbol, amount_wei=b, round=rnd),
                *_swaps(j, k, b, y, rnd, legs),
                SizingStep(kind="supply", asset=k.asset, symbol=k.symbol, amount_wei=y, round=rnd,
                           projected_health=cur.after({k.asset: y}).health()),
                SizingStep(kind="borrow", asset=j.asset, symbol=j.symbol, amount_wei=b + fee, round=rnd,
                           projected_health=h_new),
            ]
        else:
            steps += [
                SizingStep(kind="borrow", asset=j.asset, symbol=j.symbol, amount_wei=b, round=rnd,
                           projected_health=cur.after(None, {j.asset: b}).health()),
                *_swaps(j, k, b, y, rnd, legs),
                SizingStep(kind="supply", asset=k.asset, symbol=k.symbol, amount_wei=y, round=rnd,
                           projected_health=h_new),
            ]
        total_borrow += b + fee
        total_supply += y
        used += b
        x_usd = b * usd_per_wei_j if usd_per_wei_j is not None else 0.0
        notional += x_usd
        if day_left is not None:
            day_left = max(0.0, day_left - x_usd)
        cur = new
        if binding == "target_health" or binding in ("per_day_cap", "pool_depth", "borrow_cap", "reserve_liquidity",
                                                     "isolation_debt_ceiling", "supply_cap"):
            break
    h_final = cur.health()
    if not steps:
        return SizingDecision(action="none", projected_health=hf_before, binding_constraint=binding, feasible=False,
                              best_reachable_health=hf_before, reason=f"cannot boost: bound by {binding}", **base)
    if usd_per_wei_j is not None and notional < limits.min_action_usd and binding != "target_health":
        return SizingDecision(action="none", projected_health=hf_before, binding_constraint="min_action_usd",
                              feasible=False, best_reachable_health=hf_before,
                              reason=f"boost of {notional:.2f} USD is below min_action_usd", **base)
    feasible = h_final <= target + limits.tolerance_hf and h_final >= target
    rounds = len({s.round for s in steps})
    parts = [f"boost HF {hf_before:.4f} -> {h_final:.4f} (target {target:g}) in {rounds} round(s)"]
    if swap.source == "oracle_fallback":
        parts.append(f"no depth curve: valued at oracle less {limits.fallback_fee_bps:g} bps fee and "
                     f"{limits.max_slippage_bps:g} bps slippage haircut")
    if not feasible:
        parts.append(f"stopped by {binding}; closest reachable HF {h_final:.4f}")
    return SizingDecision(
        action="boost", steps=tuple(steps), projected_health=h_final,
        binding_constraint=(first_binding or "target_health") if feasible else binding,
        reason="; ".join(parts), feasible=feasible, best_reachable_health=h_final, notional_usd=notional,
        deltas_wei=_net({k.symbol: total_supply}, {j.symbol: total_borrow}),
        collateral_deltas_wei={k.symbol: total_supply}, debt_deltas_wei={j.symbol: total_borrow},
        rounds=rounds, uses_flash_loan=flash_premium_bps is not None, **base,
    )


def atomic_boost(
    position: LoanModel | LoanSnapshot,
    target_hf: float,
    *,
    premium_bps: int,
    borrow_asset: str | None = None,
    supply_asset: str | None = None,
    depth: DepthMap | None = None,
    limits: SizingLimits | None = None,
) -> SizingDecision:
    """One atomic boost: flash ``F`` -> buy collateral (legs) -> supply -> borrow ``F + premium`` for the owner.

    The borrow is rounded down (the largest whose exact health after the supply is >= the target).
    """
    prem = _premium(premium_bps)
    limits = (limits or SizingLimits()).model_copy(update={"max_rounds": 1})
    d = boost(position, target_hf, borrow_asset=borrow_asset, supply_asset=supply_asset, depth=depth, limits=limits,
              flash_premium_bps=prem)
    if d.action == "none" or not d.steps:
        return d
    partial = not d.feasible and d.binding_constraint in ("pool_depth", "price_impact")
    reason = f"{d.reason}; atomic: one transaction (flash loan -> swap -> supply -> borrow -> repay flash)"
    if partial:
        reason += f"; {PARTIAL_REASON}"
    return d.model_copy(update={"reason": reason, "partial": partial})


# ------------------------------------------------------------------------------------------------ automations
def close(
    position: LoanModel | LoanSnapshot,
    *,
    out_asset: str,
    premium_bps: int,
    depth: DepthMap | None = None,
    limits: SizingLimits | None = None,
    fraction: float = 1.0,
    debt_asset: str | None = None,
    collateral_asset: str | None = None,
    name: str = "",
) -> SizingDecision:
    """Close the position in one transaction (``fraction < 1``: repay that share of the debt, where supported)."""
    model = model_of(position)
    return model.close_position(out_asset=out_asset, premium_bps=premium_bps, depth=depth, limits=limits, fraction=fraction,
                        debt_asset=debt_asset, collateral_asset=collateral_asset, name=name)


def collateral_switch(
    position: LoanModel | LoanSnapshot,
    *,
    from_asset: str,
    to_asset: str,
    floor_hf: float,
    premium_bps: int,
    depth: DepthMap | None = None,
    limits: SizingLimits | None = None,
    name: str = "",
) -> SizingDecision:
    """Move collateral ``from_asset`` -> ``to_asset`` in one transaction, final health >= ``floor_hf``."""
    model = model_of(position)
    return model.switch_collateral(from_asset=from_asset, to_asset=to_asset, floor_hf=floor_hf,
                                    premium_bps=premium_bps, depth=depth, limits=limits, name=name)


# ------------------------------------------------------------------------------------------------ helpers
def _premium(premium_bps: int) -> int:
    if isinstance(premium_bps, bool) or int(premium_bps) != premium_bps or not 0 <= premium_bps < 10_000:
        raise BadInputError(f"premium_bps={premium_bps}: must be an int in [0, 10000)", field="premium_bps",
                            value=premium_bps)
    return int(premium_bps)


def _sale_clearing(sale: VenueSet, debt_wei: int, prem: int, have_wei: int) -> int | None:
    """The smallest integer sale whose guaranteed output repays the whole ``debt_wei`` after the flash premium
    (None: not within ``have_wei`` / the quoted depth)."""
    def covers(x: int) -> bool:
        out = math.floor(sale.model.out_wei(min(float(x), sale.model.max_in_wei)))
        return _flash_amount(out, prem) >= debt_wei

    if not covers(have_wei):
        return None
    raw = sale.model.input_for_output(debt_wei + percent_mul(debt_wei, prem))
    guess = min(have_wei, max(1, math.ceil(raw))) if math.isfinite(raw) else have_wei
    lo, hi = _bracket(covers, guess, have_wei)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if covers(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _bracket(ok: Any, guess: int, top: int) -> tuple[int, int]:
    """(lo, hi) with ``ok(hi)`` and not ``ok(lo)`` (or lo = 0) around ``guess``, for a false-then-true predicate on
    [0, top] with ``ok(top)``."""
    w = max(1, guess // 1000)
    hi = min(top, guess + w)
    lo = max(0, guess - w)
    while not ok(hi):
        lo, w = hi, w * 8
        hi = min(top, guess + w)
    while lo > 0 and ok(lo):
        hi, w = lo, w * 8
        lo = max(0, guess - w)
    return lo, hi


def _argmax_health(health: Any, x_max: int) -> int:
    """The integer sale in [0, x_max] with the highest health (ternary search: the health is quasi-concave in the
    sale); the smallest such sale on a plateau."""
    lo, hi = 0, x_max
    while hi - lo > max(2, hi // 10**9):  # to 1e-9 of the sale
        m1 = lo + (hi - lo) // 3
        m2 = hi - (hi - lo) // 3
        if health(m1) < health(m2):
            lo = m1 + 1
        else:
            hi = m2
    return max((lo, (lo + hi) // 2, hi), key=lambda x: (health(x), -x))


def _largest(ok: Any, guess: int) -> int:
    return largest_passing(ok, guess)


def _swaps(j: LoanAsset, k: LoanAsset, b: int, y: int, rnd: int, legs: list[Leg] | None) -> list[SizingStep]:
    """The boost's purchase: one swap, or one leg per venue (split / two-hop) with its own minimum out."""
    if legs is None:
        return [SizingStep(kind="swap", asset=j.asset, symbol=j.symbol, amount_wei=b, asset_out=k.asset,
                           symbol_out=k.symbol, min_amount_out_wei=y, round=rnd)]
    return [SizingStep(kind="swap", asset=j.asset, symbol=j.symbol, amount_wei=lg.amount_in_wei, asset_out=k.asset,
                       symbol_out=k.symbol, min_amount_out_wei=lg.min_out_wei, path=lg.tokens, fees_pips=lg.fees_pips,
                       round=rnd) for lg in legs]


def _net(coll: dict[str, int], debt: dict[str, int]) -> dict[str, int]:
    out = dict(coll)
    for s, v in debt.items():
        out[s] = out.get(s, 0) - v
    return out


__all__ = ["PARTIAL_REASON", "atomic_boost", "atomic_deleverage", "atomic_pair_deleverage", "boost", "close", "collateral_switch",
           "deleverage", "model_of"]
