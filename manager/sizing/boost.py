"""Boost solver (leverage up): borrow the debt token, swap it into collateral, supply it.

Algebra (notes §6): ``HF_t = (S + y(Δ)·LT_k) / (D + Δ·(1+p))`` ⇒ for a linear swap
``Δ = (S - HF_t·D) / (HF_t·(1+p) - g·LT_k)``. Here the guaranteed swap output ``y`` comes from the
pool-depth curve (or the oracle fallback), and every round is sized **exactly**: the largest integer
borrow whose exact Aave v3.0 HF after the supply is >= the target (borrow sizes round down).

Gates per round, mirroring aave-v3-core v3.0 ``ValidationLogic.validateBorrow`` / ``validateSupply``:
- without a flash loan the borrow happens before the supply, so it must pass the LTV gate
  (``percentDiv(debt + amount, avgLtv) <= coll``) and keep HF >= ``limits.safety_floor_hf``;
  the plan then takes k rounds (borrow -> swap -> supply);
- with a flash loan (flash the debt token, swap, supply, then borrow ``Δ + premium`` to repay it),
  the LTV gate applies to the final borrow with the new collateral counted;
- borrow-cap room, reserve liquidity, isolation debt ceiling, supply-cap room of the collateral,
  per-action / per-day USD caps and the pool-depth cap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from manager.domain import SizingDecision, SizingStep
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing._checks import BadInputError, non_negative, target_health
from manager.sizing.aave import AssetLine, ExactPosition, _borrow_ok_v30, _largest, exact_position, float_view
from manager.sizing.caps import SizingLimits, borrow_cap_room_wei, supply_cap_room_wei, usd_cap_wei
from manager.sizing.deleverage import venues_for
from manager.sizing.fixed import WAD, percent_mul
from manager.sizing.venues import DepthEntry


def plan_boost(
    snapshot: LendingPositionSnapshot,
    target_hf: float,
    *,
    borrow_asset: str,
    supply_asset: str,
    depth: Mapping[tuple[str, str], DepthEntry] | None = None,
    limits: SizingLimits | None = None,
    flash_premium_bps: int | None = None,
    emode_price_base: int | None = None,
) -> SizingDecision:
    """Plan the rounds that lower HF to ``target_hf`` by borrowing ``borrow_asset`` and supplying ``supply_asset``.

    ``target_hf`` must be > 1 and >= ``limits.safety_floor_hf``. Assets may be given as address or symbol.
    """
    target = target_health("target_hf", target_hf)
    limits = limits or SizingLimits()
    if target < limits.safety_floor_hf:
        raise BadInputError(f"target_hf={target_hf}: below safety_floor_hf={limits.safety_floor_hf}",
                            field="target_hf", value=target_hf)
    if flash_premium_bps is not None:
        non_negative("flash_premium_bps", flash_premium_bps)
        flash_premium_bps = int(flash_premium_bps)
    pos = exact_position(snapshot, emode_price_base=emode_price_base)
    j = pos.line(borrow_asset)
    k = pos.line(supply_asset)
    name = snapshot.name or snapshot.account
    target_wad = math.ceil(target * WAD)
    floor_wad = math.ceil(limits.safety_floor_hf * WAD)
    hf_before = pos.health()
    base: dict[str, Any] = dict(position=name, health_before=hf_before, target_health=target, block_number=snapshot.block_number)
    rj = snapshot.reserves[j.asset]
    rk = snapshot.reserves[k.asset]
    blocked = None
    # NOTE: v3.6 in an e-mode: the category's borrowable bitmap (j.emode_borrowable) replaces borrowingEnabled
    flag_off = not rj.borrowing_enabled and not (snapshot.emode_category_id != 0 and j.rules.emode_bitmaps)
    if not rj.active or rj.paused or rj.frozen or flag_off:
        blocked = ("reserve_state", f"{j.symbol} not borrowable")
    elif not rk.active or rk.paused or rk.frozen:
        blocked = ("reserve_state", f"{k.symbol} does not accept supply")
    elif k.lt_bps == 0:
        blocked = ("ltv_gate", f"{k.symbol} has LT 0: supplying it adds no borrowing power")
    elif snapshot.emode_category_id != 0 and not j.emode_borrowable:
        blocked = ("emode", f"{j.symbol} not in e-mode category {snapshot.emode_category_id}")
    elif snapshot.isolated_asset is not None and not rj.borrowable_in_isolation:
        blocked = ("isolation", f"{j.symbol} not borrowable in isolation mode")
    if hf_before <= target and blocked is None:
        blocked = ("already_at_target", f"HF {hf_before:.6f} <= target {target:g}")
    if blocked:
        return SizingDecision(action="none", projected_health=hf_before, binding_constraint=blocked[0],
                              feasible=blocked[0] == "already_at_target", best_reachable_health=hf_before,
                              reason=blocked[1], **base)

    vs = venues_for(j, k, depth, limits)
    model, depth_cap = vs.model, vs.cap_wei
    routed = vs.split or len(vs.venues[0].fees_pips) > 1
    usd_per_wei_j = j.price_base / j.unit / snapshot.base_unit
    prem_bps = flash_premium_bps or 0
    day_left = limits.per_day_remaining_usd
    borrow_room = borrow_cap_room_wei(rj)
    supply_room = supply_cap_room_wei(rk)
    iso_room = None
    if snapshot.isolated_asset is not None:
        iso = snapshot.reserves.get(snapshot.isolated_asset)
        if iso is not None:
            scale = 10 ** max(0, j.decimals - 2)
            iso_room = max(0, iso.debt_ceiling_cents - iso.isolation_mode_total_debt_cents) * scale + scale - 1
    used = 0.0
    steps: list[SizingStep] = []
    total_borrow = total_supply = 0
    first_binding = None
    binding = "target_health"
    notional = 0.0
    for rnd in range(limits.max_rounds):
        out_used = model.out_wei(used) if used > 0 else 0.0

        def supplied(b: int, _used=used, _out_used=out_used) -> int:
            return math.floor(model.out_wei(_used + b) - _out_used) if b > 0 else 0

        bounds: dict[str, float] = {"reserve_liquidity": float(max(0, rj.available_liquidity_wei - total_borrow))}
        if borrow_room is not None:
            bounds["borrow_cap"] = float(max(0, borrow_room - total_borrow))
        if iso_room is not None:
            bounds["isolation_debt_ceiling"] = float(max(0, iso_room - total_borrow))
        bounds["per_action_cap"] = usd_cap_wei(limits.per_action_usd, usd_per_wei_j)
        bounds["per_day_cap"] = usd_cap_wei(day_left, usd_per_wei_j)
        bounds["pool_depth"] = max(0.0, depth_cap - used)
        if supply_room is not None:
            room_in = model.input_for_output(out_used + max(0, supply_room - total_supply)) - used
            bounds["supply_cap"] = max(0.0, room_in)
        hard = min(bounds.values())
        hard_i = math.floor(hard) if math.isfinite(hard) else None

        def after(b: int, _p=pos, _s=supplied) -> ExactPosition:
            debt_add = b + (percent_mul(b, prem_bps) if flash_premium_bps is not None else 0)
            return _p.with_deltas({k.asset: (_s(b), 0)}).with_deltas({j.asset: (0, debt_add)})

        view = float_view(pos)
        g = model.marginal_rate * (k.price_base / k.unit) / (j.price_base / j.unit)
        den = target * (1 + prem_bps / 1e4) - g * k.lt_bps / 1e4
        guess = (view.weighted_collateral_base - target * view.debt_base) / den / (j.price_base / j.unit) if den > 0 else 1e30
        guess = max(1, int(min(guess, hard if math.isfinite(hard) else 1e30)) + 1)

        def ok_target(b: int, _after=after, _h=hard_i) -> bool:
            if _h is not None and b > _h:
                return False
            return _after(b).health_factor_wad() >= target_wad

        cands = {"target_health": _largest(ok_target, guess)}
        if hard_i is not None:
            cands[min(bounds, key=lambda n: bounds[n])] = hard_i
        if flash_premium_bps is None:
            # The borrow lands before the supply: LTV gate and safety floor on the borrow alone.
            cands["ltv_gate"] = _largest(lambda b, _p=pos: _borrow_ok_v30(_p, j, b), guess)
            cands["safety_floor"] = _largest(
                lambda b, _p=pos: _p.with_deltas({j.asset: (0, b)}).health_factor_wad() >= floor_wad, guess)
        else:
            def ltv_final(b: int, _p=pos, _s=supplied, _h=hard_i) -> bool:
                if _h is not None and b > _h:
                    return False
                fee = percent_mul(b, prem_bps)
                return _borrow_ok_v30(_p.with_deltas({k.asset: (_s(b), 0)}), j, b + fee)
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
        if legs is not None and sum(lg.min_out_wei for lg in legs) < y:
            y = sum(lg.min_out_wei for lg in legs)
            fee_b = percent_mul(b, prem_bps) if flash_premium_bps is not None else 0
            new_pos = pos.with_deltas({k.asset: (y, 0)}).with_deltas({j.asset: (0, b + fee_b)})
        else:
            new_pos = after(b)
        if first_binding is None:
            first_binding = binding
        h_new = new_pos.health()
        fee = percent_mul(b, prem_bps) if flash_premium_bps is not None else 0
        if flash_premium_bps is not None:
            steps += [
                SizingStep(kind="flash_loan", asset=j.asset, symbol=j.symbol, amount_wei=b, round=rnd),
                *_swaps(j, k, b, y, rnd, legs),
                SizingStep(kind="supply", asset=k.asset, symbol=k.symbol, amount_wei=y, round=rnd,
                           projected_health=pos.with_deltas({k.asset: (y, 0)}).health()),
                SizingStep(kind="borrow", asset=j.asset, symbol=j.symbol, amount_wei=b + fee, round=rnd,
                           projected_health=h_new),
            ]
        else:
            steps += [
                SizingStep(kind="borrow", asset=j.asset, symbol=j.symbol, amount_wei=b, round=rnd,
                           projected_health=pos.with_deltas({j.asset: (0, b)}).health()),
                *_swaps(j, k, b, y, rnd, legs),
                SizingStep(kind="supply", asset=k.asset, symbol=k.symbol, amount_wei=y, round=rnd,
                           projected_health=h_new),
            ]
        total_borrow += b + fee
        total_supply += y
        used += b
        x_usd = b * usd_per_wei_j
        notional += x_usd
        if day_left is not None:
            day_left = max(0.0, day_left - x_usd)
        pos = new_pos
        if binding == "target_health" or binding in ("per_day_cap", "pool_depth", "borrow_cap", "reserve_liquidity",
                                                     "isolation_debt_ceiling", "supply_cap"):
            break
    h_final = pos.health()
    if not steps:
        return SizingDecision(action="none", projected_health=hf_before, binding_constraint=binding, feasible=False,
                              best_reachable_health=hf_before, reason=f"cannot boost: bound by {binding}", **base)
    if notional < limits.min_action_usd and binding != "target_health":
        return SizingDecision(action="none", projected_health=hf_before, binding_constraint="min_action_usd",
                              feasible=False, best_reachable_health=hf_before,
                              reason=f"boost of {notional:.2f} USD is below min_action_usd", **base)
    feasible = h_final <= target + limits.tolerance_hf and h_final >= target
    parts = [f"boost HF {hf_before:.4f} -> {h_final:.4f} (target {target:g}) in {len({s.round for s in steps})} round(s)"]
    if model.source == "oracle_fallback":
        parts.append(f"no depth curve: valued at oracle less {limits.fallback_fee_bps:g} bps fee and "
                     f"{limits.max_slippage_bps:g} bps slippage haircut")
    if not feasible:
        parts.append(f"stopped by {binding}; closest reachable HF {h_final:.4f}")
    rounds = len({s.round for s in steps})
    return SizingDecision(
        action="boost", steps=tuple(steps), projected_health=h_final,
        binding_constraint=(first_binding or "target_health") if feasible else binding,
        reason="; ".join(parts), feasible=feasible, best_reachable_health=h_final, notional_usd=notional,
        deltas_wei=_net({k.symbol: total_supply}, {j.symbol: total_borrow}),
        collateral_deltas_wei={k.symbol: total_supply}, debt_deltas_wei={j.symbol: total_borrow},
        rounds=rounds, uses_flash_loan=flash_premium_bps is not None, **base,
    )


def _swaps(j: AssetLine, k: AssetLine, b: int, y: int, rnd: int, legs: list[Any] | None) -> list[SizingStep]:
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


__all__ = ["AssetLine", "plan_boost"]
