"""Aave V3 as a ``LoanModel`` (``manager.sizing.loan``): how an Aave position's collateral and debt enter its health.

``AaveLoanModel``: an Aave V3 position as ``manager.protocols.aave_v3.math.ExactPosition`` (the rules of the pool's
revision, ``manager.protocols.aave_v3.rules``: v3.0 floors everything, v3.6 rounds debt up); value unit = the
oracle's base currency; weight = the (e-mode) liquidation threshold; health = ``wadDiv(Σ coll·LT, debt)``; borrow
gate = ``ValidationLogic.validateBorrow`` of the revision (``math.borrow_ok``), caps, liquidity, isolation ceiling.
Its engines: the multi-collateral deleverage rounds (``manager.protocols.aave_v3.deleverage``), the atomic pair
choice, the close / partial close / collateral switch (``manager.protocols.aave_v3.automations``).

Pure: no I/O (the snapshot type is only referenced, never imported at module level).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from manager.domain import SizingDecision
from manager.protocols.aave_v3.math import (
    DEBT_CEILING_DECIMALS,
    AssetLine,
    ExactPosition,
    borrow_ok,
    float_view,
)
from manager.sizing._checks import target_health
from manager.sizing.caps import SizingLimits, borrow_cap_room_wei, supply_cap_room_wei
from manager.sizing.loan import Capability, DeleverageOptions, LoanAsset, LoanModel, Side, WalletMode
from manager.sizing.venues import DepthEntry, VenueSet

if TYPE_CHECKING:
    from manager.protocols.aave_v3.types import LendingPositionSnapshot

PERCENTAGE_FACTOR = 10_000


@dataclass(frozen=True)
class AaveLoanModel(LoanModel):
    """An Aave V3 position (``ExactPosition``: the rules of its pool revision) and the snapshot it came from."""

    snapshot: LendingPositionSnapshot
    pos: ExactPosition
    emode_price_base: int | None = None

    @classmethod
    def of(cls, snapshot: LendingPositionSnapshot, *, emode_price_base: int | None = None) -> AaveLoanModel:
        from manager.protocols.aave_v3.math import exact_position

        return cls(snapshot, exact_position(snapshot, emode_price_base=emode_price_base), emode_price_base)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.snapshot.name or self.snapshot.account

    @property
    def account(self) -> str:  # type: ignore[override]
        return self.snapshot.account

    @property
    def block_number(self) -> int:  # type: ignore[override]
        return self.snapshot.block_number

    @property
    def block_timestamp(self) -> int:  # type: ignore[override]
        return self.snapshot.block_timestamp

    def assets(self) -> tuple[LoanAsset, ...]:
        usd = 1.0 / self.pos.base_unit
        return tuple(LoanAsset(asset=ln.asset, symbol=ln.symbol, decimals=ln.decimals,
                               collateral_wei=ln.collateral_wei, debt_wei=ln.debt_wei,
                               value_per_wei=ln.price_base / ln.unit, weight=ln.lt_bps / 1e4,
                               usd_per_wei=ln.price_base / ln.unit * usd) for ln in self.pos.lines)

    def largest(self, side: Side) -> str | None:
        # NOTE: the reserve's oracle price (not the e-mode price source) and the enabled-or-not balance, as before
        best, best_usd = None, 0.0
        for a in self.snapshot.assets:
            r = self.snapshot.reserves.get(a.asset)
            if r is None:
                continue
            amount = a.collateral_wei if side == "collateral" else a.variable_debt_wei + a.stable_debt_wei
            usd = amount * r.price_base / 10**r.decimals
            if amount > 0 and usd > best_usd:
                best, best_usd = a.symbol, usd
        return best

    def weighted(self) -> tuple[float, float]:
        v = float_view(self.pos)
        return v.weighted_collateral_base, v.debt_base

    def book_usd(self) -> tuple[float, float, float]:
        acc = self.pos.account()  # getUserAccountData, to the unit
        unit = self.pos.base_unit
        return acc.total_collateral_base / unit, acc.total_debt_base / unit, acc.current_liquidation_threshold_bps / 1e4

    def health_wad(self) -> int:
        return self.pos.health_factor_wad()

    def usd_terms(self) -> tuple[tuple[str, float, float, float], ...]:
        """Per reserve line: collateral (enabled) and debt at the oracle's base-currency price (USD on Aave's USD
        markets), weighted collateral at the line's (e-mode) liquidation threshold."""
        out = []
        for ln in self.pos.lines:
            px = ln.price_base / self.snapshot.base_unit
            coll = ln.collateral_wei / ln.unit * px if ln.counts_as_collateral else 0.0
            debt = ln.debt_wei / ln.unit * px if ln.counts_as_debt else 0.0
            out.append((ln.symbol, coll, coll * ln.lt_bps / PERCENTAGE_FACTOR, debt))
        return tuple(out)

    def after(self, collateral_deltas_wei: Mapping[str, int] | None = None,
              debt_deltas_wei: Mapping[str, int] | None = None) -> AaveLoanModel:
        deltas: dict[str, tuple[int, int]] = {}
        for a, d in (collateral_deltas_wei or {}).items():
            key = self.pos.line(a).asset
            deltas[key] = (deltas.get(key, (0, 0))[0] + d, deltas.get(key, (0, 0))[1])
        for a, d in (debt_deltas_wei or {}).items():
            key = self.pos.line(a).asset
            deltas[key] = (deltas.get(key, (0, 0))[0], deltas.get(key, (0, 0))[1] + d)
        # NOTE: one step per asset: the collateral change, then the debt change (``ExactPosition.with_deltas``)
        return AaveLoanModel(self.snapshot, self.pos.with_deltas(deltas), self.emode_price_base) if deltas else self

    def borrow_ok(self, asset: str, amount_wei: int) -> bool:
        return borrow_ok(self.pos, self.pos.line(asset), amount_wei)

    def boost_blocked(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[str, str] | None:
        snap = self.snapshot
        j, k = self.pos.line(borrow.asset), self.pos.line(supply.asset)
        rj, rk = snap.reserves[j.asset], snap.reserves[k.asset]
        # NOTE: v3.6 in an e-mode: the category's borrowable bitmap (j.emode_borrowable) replaces borrowingEnabled
        flag_off = not rj.borrowing_enabled and not (snap.emode_category_id != 0 and j.rules.emode_bitmaps)
        if not rj.active or rj.paused or rj.frozen or flag_off:
            return "reserve_state", f"{j.symbol} not borrowable"
        if not rk.active or rk.paused or rk.frozen:
            return "reserve_state", f"{k.symbol} does not accept supply"
        if k.lt_bps == 0:
            return "ltv_gate", f"{k.symbol} has LT 0: supplying it adds no borrowing power"
        if snap.emode_category_id != 0 and not j.emode_borrowable:
            return "emode", f"{j.symbol} not in e-mode category {snap.emode_category_id}"
        if snap.isolated_asset is not None and not rj.borrowable_in_isolation:
            return "isolation", f"{j.symbol} not borrowable in isolation mode"
        return None

    def boost_rooms(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[dict[str, int], int | None]:
        snap = self.snapshot
        rj, rk = snap.reserves[borrow.asset], snap.reserves[supply.asset]
        rooms: dict[str, int] = {"reserve_liquidity": max(0, rj.available_liquidity_wei)}
        room = borrow_cap_room_wei(rj)
        if room is not None:
            rooms["borrow_cap"] = room
        if snap.isolated_asset is not None:
            iso = snap.reserves.get(snap.isolated_asset)
            if iso is not None:
                scale = 10 ** max(0, borrow.decimals - DEBT_CEILING_DECIMALS)
                rooms["isolation_debt_ceiling"] = (max(0, iso.debt_ceiling_cents - iso.isolation_mode_total_debt_cents)
                                                   * scale + scale - 1)
        return rooms, supply_cap_room_wei(rk)

    def unsupported(self, what: Capability) -> str | None:
        return None

    def venues(self, sell: LoanAsset, buy: LoanAsset, depth: Mapping[tuple[str, str], DepthEntry] | None,
               limits: SizingLimits) -> VenueSet:
        from manager.protocols.aave_v3.deleverage import venues_for

        return venues_for(self.pos.line(sell.asset), self.pos.line(buy.asset), depth, limits)

    def spendable_wallet(self, mode: WalletMode, wallet_wei: Mapping[str, int],
                         interrupted_proceeds_wei: Mapping[str, int]) -> dict[str, int]:
        if mode == "none" or not wallet_wei:
            return {}
        snap = self.snapshot
        debt = {a.asset for a in snap.assets if a.variable_debt_wei or a.stable_debt_wei}
        collateral = {a.asset for a in snap.assets if a.collateral_enabled}
        allowed = debt | collateral if mode == "all" else collateral - debt
        out = {a: int(v) for a, v in wallet_wei.items() if a in allowed and v > 0}
        # NOTE: what an interrupted plan of this position swapped into the debt token (and never repaid) is the
        # plan's own money, not the user's: it is always spent to finish the plan (capped by the wallet balance).
        left = {a.lower(): w for a, w in interrupted_proceeds_wei.items()}
        for a, v in wallet_wei.items():
            if a in debt and a not in out and left.get(a.lower(), 0) > 0 and v > 0:
                out[a] = min(int(v), int(left[a.lower()]))
        return out

    def deleverage_rounds(self, target_hf: float, *, depth: Mapping[tuple[str, str], DepthEntry] | None,
                          limits: SizingLimits | None, opts: DeleverageOptions) -> SizingDecision:
        from manager.protocols.aave_v3.deleverage import plan_deleverage

        return plan_deleverage(self.snapshot, target_hf, depth=depth, limits=limits,
                               flash_premium_bps=opts.flash_premium_bps, emode_price_base=self.emode_price_base,
                               collateral_order=opts.collateral_order, wallet_wei=opts.wallet_wei,
                               wallet_mode=opts.wallet_mode, no_route=opts.no_route)

    def atomic_deleverage(self, target_hf: float, *, premium_bps: int,
                          depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                          opts: DeleverageOptions) -> SizingDecision:
        """One collateral/debt pair per transaction: the largest debt, the collateral that raises the health most
        per unit sold (largest ``HF_t·g - LT``: lowest LT, cheapest swap) or ``collateral_order``; with LTV-0
        collateral only an LTV-0 asset may be withdrawn (``validateHFAndLtv``). Sized by the one solver's
        ``atomic_pair_deleverage`` on the exact integer rules of the pool revision."""
        from manager.protocols.aave_v3.deleverage import deleverage_start, venues_for
        from manager.sizing.atomic import PARTIAL_PAIR_REASON
        from manager.sizing.caps import describe_binding
        from manager.sizing.solver import atomic_pair_deleverage

        t = target_health("target_hf", target_hf)
        lim = limits or SizingLimits()
        pos, name = self.pos, self.name
        hf0, base, done = deleverage_start(pos, name, t, self.block_number)
        if done is not None:
            return done
        j = max((ln for ln in pos.lines if ln.debt_wei > 0), key=lambda ln: ln.debt_base())
        cands = [ln for ln in pos.lines if ln.collateral_wei > 0]
        if any(ln.counts_as_collateral and ln.ltv_bps == 0 and ln.collateral_wei > 0 for ln in pos.lines):
            cands = [ln for ln in cands if ln.ltv_bps == 0 or not ln.counts_as_collateral]
        sales = {ln.asset: venues_for(ln, j, depth, lim) for ln in cands}

        def efficiency(k: AssetLine) -> float:
            lt = k.lt_bps / 1e4 if k.counts_as_collateral else 0.0
            g = sales[k.asset].model.marginal_rate * (j.price_base / j.unit) / (k.price_base / k.unit)
            return t * g - lt

        if opts.collateral_order:
            rank = {a: i for i, a in enumerate(opts.collateral_order)}
            cands = [k for k in cands if k.asset in rank or k.symbol in rank]
            cands.sort(key=lambda k: rank.get(k.asset, rank.get(k.symbol, 0)))
        else:
            cands = sorted((k for k in cands if efficiency(k) > 0), key=lambda k: -efficiency(k))
        if not cands:
            why = f"cannot deleverage toward HF {t:g}: bound by {describe_binding('collateral_exhausted', lim)}"
            return SizingDecision(action="none", projected_health=hf0, binding_constraint="collateral_exhausted",
                                  feasible=False, best_reachable_health=hf0, reason=why, **base)
        first: SizingDecision | None = None
        for k in cands:  # NOTE: a collateral whose pools have no depth left this block: the next one
            d = atomic_pair_deleverage(
                self, t, collateral=self.line(k.asset), debt=self.line(j.asset), premium_bps=premium_bps,
                sale=sales[k.asset], limits=lim,
                fallback_note=(f"no depth curve for {k.symbol}->{j.symbol}: valued at oracle less "
                               f"{lim.fallback_fee_bps:g} bps fee and {lim.max_slippage_bps:g} bps slippage haircut"))
            first = first or d
            if d.action != "none" or d.binding_constraint not in ("pool_depth", "price_impact",
                                                                  "collateral_exhausted"):
                break
        else:
            d = first if first is not None else d
        more = len([ln for ln in pos.lines if ln.debt_wei > 0]) > 1 or len(cands) > 1
        if d.action != "none" and not d.feasible and more and d.binding_constraint in ("collateral_exhausted",
                                                                                     "debt_repaid"):
            # NOTE: one collateral and one debt token per transaction; the next block sells the next one
            return d.model_copy(update={"reason": f"{d.reason}; {PARTIAL_PAIR_REASON}", "partial": True,
                                        "binding_constraint": "max_rounds"})
        return d

    def close_position(self, *, out_asset: str, premium_bps: int, depth: Mapping[tuple[str, str], DepthEntry] | None,
                       limits: SizingLimits | None, fraction: float, debt_asset: str | None,
                       collateral_asset: str | None, name: str) -> SizingDecision:
        from manager.protocols.aave_v3.automations import plan_atomic_close, plan_partial_close

        if fraction < 1:
            return plan_partial_close(self.snapshot, fraction, premium_bps=premium_bps, depth=depth, limits=limits,
                                      debt_asset=debt_asset, collateral_asset=collateral_asset, name=name)
        return plan_atomic_close(self.snapshot, out_asset=out_asset, premium_bps=premium_bps, depth=depth,
                                 limits=limits, debt_asset=debt_asset, collateral_asset=collateral_asset, name=name)

    def switch_collateral(self, *, from_asset: str, to_asset: str, floor_hf: float, premium_bps: int,
                          depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                          name: str) -> SizingDecision:
        from manager.protocols.aave_v3.automations import plan_collateral_switch

        return plan_collateral_switch(self.snapshot, from_asset=from_asset, to_asset=to_asset, floor_hf=floor_hf,
                                      premium_bps=premium_bps, depth=depth, limits=limits, name=name)


__all__ = ["AaveLoanModel"]
