"""Aave V3 sizing of the price automations (issue 16): close, partial close and collateral switch, one flash loan
each (reached through ``AaveLoanModel.close_position`` / ``switch_collateral``).

Each decision is one transaction through the user's ``PosmanExecutor`` (``manager/atomic``):

- ``plan_atomic_close`` (action ``close``): the executor's ``close(Plan)`` flash-borrows the
  WHOLE debt (read on chain at execution), repays it, withdraws the whole collateral, sells it (legs) and repays the
  flash loan. Ending in the debt token: the whole collateral is sold and the owner receives at least
  ``sum(leg min-outs) - debt - premium``; ending in the collateral token: only what covers the debt (with an
  interest buffer) plus the premium is sold, the rest of the collateral goes to the owner. The legs are sized on the
  pools' depth like a deleverage (``sizing.venues``: every pool / fee tier / route, cumulative impact, each leg's
  minimum out its own guarantee within ``limits.max_slippage_bps``). When the whole sale does not fit within the
  slippage limit, the decision is the largest deleverage the limit allows now (``partial``) and the next block
  carries on.
- ``plan_partial_close`` (action ``deleverage``): repay ``fraction`` of the debt (rounded up) with a flash loan and
  sell just the collateral that covers it: the executor's ``deleverage(Plan)``.
- ``plan_collateral_switch`` (action ``collateral_switch``): the executor's ``switchCollateral(Plan)``:
  flash-borrow B, supply it for the owner, withdraw A, sell A -> B, repay the flash loan, supply the B left; the
  owner's final health >= ``floor_hf`` is checked on chain (and here, with the exact Aave v3.0 integer math).

Health values come from ``manager.protocols.aave_v3.math`` (the pool revision's integer math); the shared helpers
are ``manager.sizing.automations``.
Amounts are integers in token units; the repay rounds up, sale outputs are floored guarantees. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from manager.domain import PositionAsset, SizingDecision, SizingStep
from manager.protocols.aave_v3.deleverage import PARTIAL_REASON, venues_for
from manager.protocols.aave_v3.math import AssetLine, exact_position
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing._checks import BadInputError
from manager.sizing.atomic import _premium
from manager.sizing.automations import CLOSE_NOTE, INTEREST_BUFFER_BPS
from manager.sizing.automations import none_decision as _none
from manager.sizing.automations import sale_cap_wei as _cap
from manager.sizing.automations import sale_for as _sale_for
from manager.sizing.automations import sale_swaps as _swaps
from manager.sizing.caps import SizingLimits, supply_cap_room_wei
from manager.sizing.fixed import flash_amount as _flash_amount
from manager.sizing.fixed import percent_mul
from manager.sizing.venues import DepthEntry, VenueSet


# ------------------------------------------------------------------------------------------------ Aave V3
def _pair(snapshot: LendingPositionSnapshot, debt: str | None, collateral: str | None) -> tuple[AssetLine, AssetLine]:
    pos = exact_position(snapshot)
    debts = [ln for ln in pos.lines if ln.debt_wei > 0]
    colls = [ln for ln in pos.lines if ln.collateral_wei > 0 and ln.counts_as_collateral]
    if not debts:
        raise BadInputError("the position has no debt", field="debt", value=0)
    d = pos.line(debt) if debt else max(debts, key=lambda ln: ln.debt_base())
    c = pos.line(collateral) if collateral else max(colls, key=lambda ln: ln.collateral_base()) if colls else None
    if c is None or c.collateral_wei == 0:
        raise BadInputError("the position has no collateral to sell", field="collateral", value=collateral)
    return d, c


def plan_atomic_close(snapshot: LendingPositionSnapshot, *, out_asset: str, premium_bps: int,
                      depth: Mapping[tuple[str, str], DepthEntry] | None = None, limits: SizingLimits | None = None,
                      debt_asset: str | None = None, collateral_asset: str | None = None,
                      name: str = "") -> SizingDecision:
    """Close an Aave V3 position (one collateral, one debt) in one transaction; the owner ends in ``out_asset``
    (symbol or address of the debt or the collateral asset). See the module docstring."""
    prem = _premium(premium_bps)
    limits = limits or SizingLimits()
    name = name or snapshot.name
    pos = exact_position(snapshot)
    h0 = pos.health()
    d, c = _pair(snapshot, debt_asset, collateral_asset)
    others = [ln for ln in pos.lines if ln.asset not in (d.asset, c.asset) and (ln.debt_wei > 0 or (
        ln.collateral_wei > 0 and ln.counts_as_collateral))]
    if others:
        return _none(name, snapshot.block_number, h0, "close covers one collateral and one debt asset; the position "
                     f"also holds {', '.join(ln.symbol for ln in others)}", "multi_asset")
    if out_asset not in (d.asset, d.symbol, c.asset, c.symbol):
        return _none(name, snapshot.block_number, h0, f"out asset {out_asset} is neither the debt ({d.symbol}) nor the "
                     f"collateral ({c.symbol})", "bad_out_asset")
    to_debt = out_asset in (d.asset, d.symbol)
    vs = venues_for(c, d, depth, limits)
    debt_buf = d.debt_wei + -(-d.debt_wei * INTEREST_BUFFER_BPS // 10_000)
    need = debt_buf + percent_mul(debt_buf, prem)
    if to_debt:
        x = c.collateral_wei
        if x > vs.cap_wei:
            return _partial(snapshot, d, c, vs, prem, name, h0, f"the whole {c.symbol} does not sell within "
                            f"{limits.max_slippage_bps:g} bps")
    else:
        found = _sale_for(vs, need, c.collateral_wei)
        if found is None:
            return _partial(snapshot, d, c, vs, prem, name, h0, f"the {c.symbol} sale covering the debt does not fit "
                            f"within {limits.max_slippage_bps:g} bps")
        x = found
    swaps = _swaps(vs, (c.asset, c.symbol), (d.asset, d.symbol), x, math.inf)
    got = sum(s.min_amount_out_wei or 0 for s in swaps)
    if got < need:
        return _partial(snapshot, d, c, vs, prem, name, h0, "the sale's guaranteed output does not cover the debt")
    min_out = got - need if to_debt else max(0, c.collateral_wei - x - 2)
    out = d if to_debt else c
    steps = (SizingStep(kind="flash_loan", asset=d.asset, symbol=d.symbol, amount_wei=d.debt_wei),
             SizingStep(kind="repay", asset=d.asset, symbol=d.symbol, amount_wei=d.debt_wei, projected_health=math.inf),
             SizingStep(kind="withdraw", asset=c.asset, symbol=c.symbol, amount_wei=c.collateral_wei,
                        projected_health=math.inf), *swaps)
    usd = c.collateral_wei * c.price_base / c.unit / snapshot.base_unit
    split = f"; sale split over {vs.describe()}" if vs.split else ""
    reason = (f"close: repay {d.debt_wei} {d.symbol}, withdraw {c.collateral_wei} {c.symbol}, sell {x} {c.symbol}; "
              f"the wallet gets >= {min_out} {out.symbol}{split}; {CLOSE_NOTE}; flash premium {prem} bps")
    return SizingDecision(position=name, action="close", steps=steps, health_before=h0, projected_health=math.inf,
                          binding_constraint="close", reason=reason, feasible=True, notional_usd=usd,
                          block_number=snapshot.block_number, deltas_wei={c.symbol: -c.collateral_wei,
                                                                          d.symbol: -d.debt_wei},
                          collateral_deltas_wei={c.symbol: -c.collateral_wei}, debt_deltas_wei={d.symbol: -d.debt_wei},
                          rounds=1, uses_flash_loan=True, close_out_asset=out.asset, close_min_out_wei=min_out)


def _partial(snapshot: LendingPositionSnapshot, d: AssetLine, c: AssetLine, vs: VenueSet, prem: int, name: str,
             h0: float, why: str) -> SizingDecision:
    """The largest deleverage the slippage limit allows now (the next block continues the close)."""
    x = min(c.collateral_wei, _cap(vs))
    if x <= 0:
        return _none(name, snapshot.block_number, h0, f"cannot close: {why}; no depth within the limit", "pool_depth")
    swaps = _swaps(vs, (c.asset, c.symbol), (d.asset, d.symbol), x, None)
    f = min(d.debt_wei, _flash_amount(sum(s.min_amount_out_wei or 0 for s in swaps), prem))
    return _deleverage(snapshot, d, c, f, x, swaps, name, h0, f"{why}: {PARTIAL_REASON}", prem, partial=True)


def _deleverage(snapshot: LendingPositionSnapshot, d: AssetLine, c: AssetLine, f: int, x: int,
                swaps: list[SizingStep], name: str, h0: float, why: str, prem: int, *,
                partial: bool = False) -> SizingDecision:
    pos = exact_position(snapshot)
    h1 = pos.with_deltas({d.asset: (0, -f)}).health()
    h = pos.with_deltas({d.asset: (0, -f), c.asset: (-x, 0)}).health()
    if f <= 0 or h <= h0:
        return _none(name, snapshot.block_number, h0, f"{why}; the sale would not raise the health", "no_gain")
    swaps = [s.model_copy(update={"projected_health": h}) for s in swaps]
    steps = (SizingStep(kind="flash_loan", asset=d.asset, symbol=d.symbol, amount_wei=f),
             SizingStep(kind="repay", asset=d.asset, symbol=d.symbol, amount_wei=f, projected_health=h1),
             SizingStep(kind="withdraw", asset=c.asset, symbol=c.symbol, amount_wei=x, projected_health=h), *swaps)
    usd = x * c.price_base / c.unit / snapshot.base_unit
    return SizingDecision(position=name, action="deleverage", steps=steps, health_before=h0, projected_health=h,
                          binding_constraint="pool_depth" if partial else "fraction", reason=(
                              f"{why}: repay {f} {d.symbol}, sell {x} {c.symbol}, HF {h0:.4f} -> {h:.4f}; atomic: one "
                              f"transaction; flash premium {prem} bps"), feasible=not partial, partial=partial,
                          notional_usd=usd, block_number=snapshot.block_number,
                          deltas_wei={c.symbol: -x, d.symbol: -f}, collateral_deltas_wei={c.symbol: -x},
                          debt_deltas_wei={d.symbol: -f}, rounds=1, uses_flash_loan=True, best_reachable_health=h)


def plan_partial_close(snapshot: LendingPositionSnapshot, fraction: float, *, premium_bps: int,
                       depth: Mapping[tuple[str, str], DepthEntry] | None = None, limits: SizingLimits | None = None,
                       debt_asset: str | None = None, collateral_asset: str | None = None,
                       name: str = "") -> SizingDecision:
    """Repay ``fraction`` (0, 1) of the debt (rounded up) in one atomic deleverage, selling only the collateral
    that covers it (plus the flash premium)."""
    if not 0 < fraction < 1:
        raise BadInputError(f"fraction={fraction}: must be in (0, 1) (1 = a full close)", field="fraction",
                            value=fraction)
    prem = _premium(premium_bps)
    limits = limits or SizingLimits()
    name = name or snapshot.name
    h0 = exact_position(snapshot).health()
    d, c = _pair(snapshot, debt_asset, collateral_asset)
    f = min(d.debt_wei, math.ceil(d.debt_wei * fraction))
    vs = venues_for(c, d, depth, limits)
    x = _sale_for(vs, f + percent_mul(f, prem), c.collateral_wei)
    if x is None:
        return _partial(snapshot, d, c, vs, prem, name, h0, f"repaying {fraction:.0%} of the debt does not fit within "
                        f"{limits.max_slippage_bps:g} bps")
    swaps = _swaps(vs, (c.asset, c.symbol), (d.asset, d.symbol), x, None)
    return _deleverage(snapshot, d, c, f, x, swaps, name, h0, f"close {fraction:.0%}", prem)


def plan_collateral_switch(snapshot: LendingPositionSnapshot, *, from_asset: str, to_asset: str, floor_hf: float,
                           premium_bps: int, depth: Mapping[tuple[str, str], DepthEntry] | None = None,
                           limits: SizingLimits | None = None, name: str = "") -> SizingDecision:
    """Move the whole ``from_asset`` collateral (A) into ``to_asset`` (B) in one transaction, final health >=
    ``floor_hf`` (see the module docstring). A sale beyond the slippage limit moves what the limit allows now."""
    prem = _premium(premium_bps)
    limits = limits or SizingLimits()
    name = name or snapshot.name
    reserve_b = next((r for r in snapshot.reserves.values() if to_asset in (r.asset, r.symbol)), None)
    if reserve_b is None:
        return _none(name, snapshot.block_number, None, f"{to_asset} is not a reserve of the pool", "bad_asset")
    if not any(a.asset == reserve_b.asset for a in snapshot.assets):  # B joins the position's lines
        snapshot = snapshot.model_copy(update={"assets": (*snapshot.assets, PositionAsset(
            asset=reserve_b.asset, symbol=reserve_b.symbol))})
    pos = exact_position(snapshot)
    h0 = pos.health()
    a = pos.line(from_asset)
    b = pos.line(reserve_b.asset)
    if a.asset == b.asset:
        raise BadInputError("from_asset and to_asset are the same reserve", field="to_asset", value=to_asset)
    if a.collateral_wei == 0:
        return _none(name, snapshot.block_number, h0, f"no {a.symbol} collateral left to switch: done", "done")
    if reserve_b.ltv_bps == 0 or reserve_b.frozen or reserve_b.paused or not reserve_b.active:
        return _none(name, snapshot.block_number, h0, f"{b.symbol} cannot be supplied as collateral (LTV 0, frozen, "
                     "paused or inactive)", "bad_asset")
    vs = venues_for(a, b, depth, limits)
    x = min(a.collateral_wei, _cap(vs))
    partial = x < a.collateral_wei
    if x <= 0:
        return _none(name, snapshot.block_number, h0, f"no {a.symbol}->{b.symbol} depth within "
                     f"{limits.max_slippage_bps:g} bps", "pool_depth")
    swaps = _swaps(vs, (a.asset, a.symbol), (b.asset, b.symbol), x, None)
    got = sum(s.min_amount_out_wei or 0 for s in swaps)
    f = _flash_amount(got, prem)
    supplied = got - percent_mul(f, prem)
    liquidity = getattr(reserve_b, "available_liquidity_wei", None)
    if liquidity is not None and liquidity < f:
        return _none(name, snapshot.block_number, h0, f"the pool lends only {liquidity} {b.symbol} < flash {f}",
                     "flash_liquidity")
    room = supply_cap_room_wei(reserve_b)
    if room is not None and supplied > room:
        return _none(name, snapshot.block_number, h0, f"{b.symbol} supply cap room {room} < {supplied}", "supply_cap")
    h = pos.with_deltas({a.asset: (-x, 0), b.asset: (supplied, 0)}).health()
    if h < floor_hf:
        return _none(name, snapshot.block_number, h0, f"switch {a.symbol} -> {b.symbol} would end at HF {h:.4f} < floor "
                     f"{floor_hf:g}: not sent", "health_floor")
    swaps = [s.model_copy(update={"projected_health": h}) for s in swaps]
    steps = (SizingStep(kind="flash_loan", asset=b.asset, symbol=b.symbol, amount_wei=f),
             SizingStep(kind="supply", asset=b.asset, symbol=b.symbol, amount_wei=f),
             SizingStep(kind="withdraw", asset=a.asset, symbol=a.symbol, amount_wei=x, projected_health=h), *swaps)
    usd = x * a.price_base / a.unit / snapshot.base_unit
    reason = (f"collateral switch {x} {a.symbol} -> >= {supplied} {b.symbol}, HF {h0:.4f} -> {h:.4f} (floor "
              f"{floor_hf:g}); atomic: one transaction (flash {b.symbol} -> supply -> withdraw {a.symbol} -> swap -> "
              f"repay flash); flash premium {prem} bps" + (f"; {PARTIAL_REASON}" if partial else ""))
    return SizingDecision(position=name, action="collateral_switch", steps=steps, health_before=h0, projected_health=h,
                          target_health=floor_hf, binding_constraint="pool_depth" if partial else "switch",
                          reason=reason, feasible=True, partial=partial, notional_usd=usd,
                          block_number=snapshot.block_number, deltas_wei={a.symbol: -x, b.symbol: supplied},
                          collateral_deltas_wei={a.symbol: -x, b.symbol: supplied}, rounds=1, uses_flash_loan=True,
                          flash_premium_bps=prem)


__all__ = ["INTEREST_BUFFER_BPS", "plan_atomic_close", "plan_collateral_switch", "plan_partial_close"]
