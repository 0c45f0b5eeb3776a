"""Per-protocol loan models: how collateral and debt enter a lending position's health, exactly.

A ``LoanModel`` is what the one deleverage/boost solver (``manager.sizing.solver``) and the strategies see of a
lending position, whatever the protocol: the assets that are collateral and debt (token units, their value per wei
in the model's own value unit, the weight with which collateral backs debt), the exact health now and after signed
deltas (the protocol's own integer rules and rounding), the protocol's gates on a borrow, and the swap venues of a
pair. A snapshot hands out its model (``LendingPositionSnapshot.loan_model()``, ``MorphoPositionSnapshot
.loan_model()``), so no caller dispatches on the snapshot's type.

- ``AaveLoanModel``: an Aave V3 position as ``sizing.aave.ExactPosition`` (the rules of the pool's revision,
  ``sizing.aave_rules``: v3.0 floors everything, v3.6 rounds debt up); value unit = the oracle's base currency;
  weight = the (e-mode) liquidation threshold; health = ``wadDiv(Σ coll·LT, debt)``; borrow gate =
  ``ValidationLogic.validateBorrow`` of the revision (``aave.borrow_ok``), caps, liquidity, isolation ceiling.
- ``MorphoLoanModel``: one Morpho Blue market position with the market accrued to the snapshot's block
  (``Morpho._accrueInterest``); value unit = loan-token wei; weight = LLTV; health = ``maxBorrow / borrowed``
  (``_isHealthy``: ``wMulDown(mulDivDown(c, price, 1e36), lltv)`` against ``toAssetsUp(shares)``); a borrow mints
  ``toSharesUp`` shares and must leave the position healthy and the market liquid; a repay burns ``toSharesDown``.

Pure: no I/O (the snapshot types are only referenced, never imported at module level).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from manager.domain import DepthCurve, SizingDecision
from manager.sizing import morpho as mm
from manager.sizing._checks import BadInputError, NoDebtError, target_health
from manager.sizing.aave import AssetLine, ExactPosition, borrow_ok, float_view
from manager.sizing.caps import SizingLimits, borrow_cap_room_wei, supply_cap_room_wei
from manager.sizing.depth import SwapModel
from manager.sizing.fixed import UINT256_MAX, WAD, mul_div_down
from manager.sizing.venues import DepthEntry, VenueSet, curves_of, venue_set

if TYPE_CHECKING:
    from manager.protocols.aave_v3.types import LendingPositionSnapshot

Side = Literal["collateral", "debt"]
WalletMode = Literal["none", "collateral", "supply", "all"]
# what a protocol may not do (``LoanModel.unsupported``): the strategies ask, never name the protocol
Capability = Literal["boost", "partial_close", "collateral_switch"]
DEBT_CEILING_DECIMALS = 2


@dataclass(frozen=True, slots=True)
class LoanAsset:
    """One asset of a loan as the solver sees it (token units; value in the model's own unit)."""

    asset: str  # token address
    symbol: str
    decimals: int
    collateral_wei: int  # counted as collateral (Aave: the aToken balance; Morpho: the market's collateral)
    debt_wei: int
    value_per_wei: float  # the model's value unit per token wei (Aave: base currency; Morpho: loan-token wei)
    weight: float  # fraction of its value that backs debt: Aave (e-mode) LT, Morpho LLTV; 0 = not collateral
    usd_per_wei: float | None  # USD per token wei (None: the protocol's oracle gives no USD price)


class LoanSnapshot(Protocol):
    """A position snapshot that hands out its loan model (every lending snapshot)."""

    name: str
    account: str
    block_number: int
    block_timestamp: int

    def loan_model(self) -> LoanModel: ...


class LoanModel(ABC):
    """How collateral and debt of one lending position enter its health, exactly (see the module docstring)."""

    name: str
    account: str
    block_number: int
    block_timestamp: int

    # ---- the assets ---------------------------------------------------------------------------
    @abstractmethod
    def assets(self) -> tuple[LoanAsset, ...]:
        """Every asset with a balance (or a flag) in the position."""

    def line(self, asset: str) -> LoanAsset:
        """The asset by address (any case) or symbol; ``BadInputError`` when the position does not hold it."""
        for a in self.assets():
            if a.asset == asset or a.asset.lower() == asset.lower() or a.symbol == asset:
                return a
        raise BadInputError(f"asset={asset!r}: not in this position", field="asset", value=asset)

    def find(self, asset: str) -> LoanAsset | None:
        try:
            return self.line(asset)
        except BadInputError:
            return None

    def largest(self, side: Side) -> str | None:
        """Symbol of the largest collateral or debt by value (None when the side is empty)."""
        best, best_v = None, 0.0
        for a in self.assets():
            amount = a.collateral_wei if side == "collateral" else a.debt_wei
            v = amount * a.value_per_wei
            if amount > 0 and v > best_v:
                best, best_v = a.symbol, v
        return best

    def value_usd(self, asset: str, amount_wei: int) -> float | None:
        a = self.find(asset)
        if a is None or a.usd_per_wei is None:
            return None
        return amount_wei * a.usd_per_wei

    def weighted(self) -> tuple[float, float]:
        """(Σ collateral value · weight, Σ debt value) in the model's value unit (floats: for guesses only)."""
        s = sum(a.collateral_wei * a.value_per_wei * a.weight for a in self.assets())
        d = sum(a.debt_wei * a.value_per_wei for a in self.assets())
        return s, d

    @abstractmethod
    def book_usd(self) -> tuple[float, float, float]:
        """(collateral USD, debt USD, weighted liquidation threshold as a fraction), the protocol's own numbers."""

    # ---- exact health -----------------------------------------------------------------------------
    @abstractmethod
    def health_wad(self) -> int:
        """The protocol's health factor as a WAD, exactly (``UINT256_MAX`` without debt)."""

    def health(self) -> float:
        """The exact health as a float (``inf`` without debt)."""
        h = self.health_wad()
        return math.inf if h >= UINT256_MAX else h / WAD

    @abstractmethod
    def after(self, collateral_deltas_wei: Mapping[str, int] | None = None,
              debt_deltas_wei: Mapping[str, int] | None = None) -> LoanModel:
        """The position after signed deltas (asset address or symbol -> wei), collateral first, then debt, with the
        protocol's own bookkeeping (Aave: scaled balances; Morpho: borrow shares minted up / burned down)."""

    def health_after(self, collateral_deltas_wei: Mapping[str, int] | None = None,
                     debt_deltas_wei: Mapping[str, int] | None = None) -> float:
        return self.after(collateral_deltas_wei, debt_deltas_wei).health()

    # ---- protocol gates -----------------------------------------------------------------------------
    @abstractmethod
    def borrow_ok(self, asset: str, amount_wei: int) -> bool:
        """Whether the protocol lets this position borrow ``amount_wei`` more of ``asset`` now (health/LTV gates)."""

    @abstractmethod
    def boost_blocked(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[str, str] | None:
        """(binding, reason) when the protocol refuses borrowing ``borrow`` or supplying ``supply``; None if allowed."""

    @abstractmethod
    def boost_rooms(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[dict[str, int], int | None]:
        """The protocol's static rooms for a boost: borrow-side bounds (name -> wei of ``borrow``) and the supply-cap
        room of ``supply`` (wei; None = no cap)."""

    def unsupported(self, what: Capability) -> str | None:
        """Why the protocol cannot do ``what`` (None: it can)."""
        return None

    # ---- swaps ------------------------------------------------------------------------------------
    @abstractmethod
    def venues(self, sell: LoanAsset, buy: LoanAsset, depth: Mapping[tuple[str, str], DepthEntry] | None,
               limits: SizingLimits) -> VenueSet:
        """Every venue selling ``sell`` for ``buy`` (merged), else one valued at the protocol's oracle."""

    # ---- wallet -----------------------------------------------------------------------------------
    @abstractmethod
    def spendable_wallet(self, mode: WalletMode, wallet_wei: Mapping[str, int],
                         interrupted_proceeds_wei: Mapping[str, int]) -> dict[str, int]:
        """The wallet balances a deleverage may spend under ``use_wallet_funds = mode`` (asset -> wei)."""

    # ---- the protocol's exact deleverage engines (called by ``sizing.solver``) ----------------------
    @abstractmethod
    def _deleverage(self, target_hf: float, *, depth: Mapping[tuple[str, str], DepthEntry] | None,
                    limits: SizingLimits | None, opts: DeleverageOptions) -> SizingDecision: ...

    @abstractmethod
    def _atomic_deleverage(self, target_hf: float, *, premium_bps: int,
                           depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                           opts: DeleverageOptions) -> SizingDecision: ...

    @abstractmethod
    def _close(self, *, out_asset: str, premium_bps: int, depth: Mapping[tuple[str, str], DepthEntry] | None,
               limits: SizingLimits | None, fraction: float, debt_asset: str | None,
               collateral_asset: str | None, name: str) -> SizingDecision: ...

    def _collateral_switch(self, *, from_asset: str, to_asset: str, floor_hf: float, premium_bps: int,
                           depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                           name: str) -> SizingDecision:
        raise BadInputError(f"collateral switch: {self.unsupported('collateral_switch')}", field="protocol",
                            value=type(self).__name__)


@dataclass(frozen=True)
class DeleverageOptions:
    """What a deleverage may use besides the target (see ``sizing.solver.deleverage``)."""

    wallet_wei: Mapping[str, int] | None = None
    wallet_mode: Literal["repay", "supply"] = "repay"
    collateral_order: tuple[str, ...] | None = None
    no_route: Iterable[tuple[str, str]] = ()
    flash_premium_bps: int | None = None  # Aave direct plan with flash-loan rounds
    swap_haircut_bps: int = 100  # the sale's value below the oracle without a depth curve (Morpho)
    safety_floor_hf: float = 1.01  # Morpho, without ``limits``
    max_rounds: int = 8  # Morpho, without ``limits``


# ================================================================================================ Aave V3
@dataclass(frozen=True)
class AaveLoanModel(LoanModel):
    """An Aave V3 position (``ExactPosition``: the rules of its pool revision) and the snapshot it came from."""

    snapshot: LendingPositionSnapshot
    pos: ExactPosition
    emode_price_base: int | None = None

    @classmethod
    def of(cls, snapshot: LendingPositionSnapshot, *, emode_price_base: int | None = None) -> AaveLoanModel:
        from manager.sizing.aave import exact_position

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
        from manager.sizing.deleverage import venues_for

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

    def _deleverage(self, target_hf: float, *, depth: Mapping[tuple[str, str], DepthEntry] | None,
                    limits: SizingLimits | None, opts: DeleverageOptions) -> SizingDecision:
        from manager.sizing.deleverage import plan_deleverage

        return plan_deleverage(self.snapshot, target_hf, depth=depth, limits=limits,
                               flash_premium_bps=opts.flash_premium_bps, emode_price_base=self.emode_price_base,
                               collateral_order=opts.collateral_order, wallet_wei=opts.wallet_wei,
                               wallet_mode=opts.wallet_mode, no_route=opts.no_route)

    def _atomic_deleverage(self, target_hf: float, *, premium_bps: int,
                           depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                           opts: DeleverageOptions) -> SizingDecision:
        """One collateral/debt pair per transaction: the largest debt, the collateral that raises the health most
        per unit sold (largest ``HF_t·g - LT``: lowest LT, cheapest swap) or ``collateral_order``; with LTV-0
        collateral only an LTV-0 asset may be withdrawn (``validateHFAndLtv``). Sized by the one solver's
        ``atomic_pair_deleverage`` on the exact integer rules of the pool revision."""
        from manager.sizing.atomic import PARTIAL_PAIR_REASON
        from manager.sizing.caps import describe_binding
        from manager.sizing.deleverage import venues_for
        from manager.sizing.solver import atomic_pair_deleverage

        t = target_health("target_hf", target_hf)
        lim = limits or SizingLimits()
        pos, name = self.pos, self.name
        acc = pos.account()
        if acc.total_debt_base == 0:
            raise NoDebtError(f"total_debt_base=0 for {name}: nothing to deleverage", field="total_debt_base", value=0)
        hf0 = pos.health()
        base: dict[str, Any] = dict(position=name, health_before=hf0, target_health=t, block_number=self.block_number)
        if hf0 >= t:
            return SizingDecision(action="none", projected_health=hf0, binding_constraint="already_at_target",
                                  reason=f"HF {hf0:.6f} >= target {t:g}", best_reachable_health=hf0, **base)
        if acc.current_liquidation_threshold_bps == 0:
            raise BadInputError(f"liquidation_threshold_bps=0 for {name}: no collateral counts, deleverage "
                                "impossible", field="liquidation_threshold_bps", value=0)
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

    def _close(self, *, out_asset: str, premium_bps: int, depth: Mapping[tuple[str, str], DepthEntry] | None,
               limits: SizingLimits | None, fraction: float, debt_asset: str | None,
               collateral_asset: str | None, name: str) -> SizingDecision:
        from manager.sizing.automations import plan_atomic_close, plan_partial_close

        if fraction < 1:
            return plan_partial_close(self.snapshot, fraction, premium_bps=premium_bps, depth=depth, limits=limits,
                                      debt_asset=debt_asset, collateral_asset=collateral_asset, name=name)
        return plan_atomic_close(self.snapshot, out_asset=out_asset, premium_bps=premium_bps, depth=depth,
                                 limits=limits, debt_asset=debt_asset, collateral_asset=collateral_asset, name=name)

    def _collateral_switch(self, *, from_asset: str, to_asset: str, floor_hf: float, premium_bps: int,
                           depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                           name: str) -> SizingDecision:
        from manager.sizing.automations import plan_collateral_switch

        return plan_collateral_switch(self.snapshot, from_asset=from_asset, to_asset=to_asset, floor_hf=floor_hf,
                                      premium_bps=premium_bps, depth=depth, limits=limits, name=name)


# ================================================================================================ Morpho Blue
@dataclass(frozen=True)
class MorphoLoanModel(LoanModel):
    """One Morpho Blue market position, the market accrued to the block (``market``), exact shares math.

    ``market`` carries the loan/collateral token addresses and symbols; USD prices come from the oracle's feeds
    when it exposes them (None: USD caps cannot apply, and the decisions say so).
    """

    market: mm.MorphoMarket
    position: mm.MorphoPosition
    name: str
    account: str
    block_number: int
    block_timestamp: int
    loan_usd: float | None = None  # USD per loan token (whole)
    collateral_usd: float | None = None  # USD per collateral token (whole)
    collateral_usd_per_wei: float | None = None  # overrides ``collateral_usd`` (a caller's own USD per wei)

    @classmethod
    def of(cls, snap: Any) -> MorphoLoanModel:
        """From a ``MorphoPositionSnapshot``: the market accrued to its block (``market_now``)."""
        m = snap.market_now.model_copy(update={
            "loan_token": snap.params.loan_token, "collateral_token": snap.params.collateral_token,
            "loan_symbol": snap.loan_symbol, "collateral_symbol": snap.collateral_symbol})
        return cls(market=m, position=snap.position, name=snap.name or snap.account, account=snap.account,
                   block_number=snap.block_number, block_timestamp=snap.block_timestamp,
                   loan_usd=snap.loan_price_usd, collateral_usd=snap.collateral_price_usd)

    # ---- assets -----------------------------------------------------------------------------------
    @property
    def price(self) -> float:
        """Loan wei per collateral wei at the oracle."""
        return self.market.oracle_price / mm.ORACLE_PRICE_SCALE

    def _usd(self, per_token: float | None, decimals: int) -> float | None:
        if per_token is None or not math.isfinite(per_token) or per_token <= 0:
            return None
        return per_token / float(10**decimals)

    def assets(self) -> tuple[LoanAsset, ...]:
        m = self.market
        return (
            LoanAsset(asset=m.collateral_token, symbol=m.collateral_symbol, decimals=m.collateral_decimals,
                      collateral_wei=self.position.collateral_wei, debt_wei=0, value_per_wei=self.price,
                      weight=m.lltv_wad / WAD,
                      usd_per_wei=(self.collateral_usd_per_wei if self.collateral_usd_per_wei is not None
                                   else self._usd(self.collateral_usd, m.collateral_decimals))),
            LoanAsset(asset=m.loan_token, symbol=m.loan_symbol, decimals=m.loan_decimals, collateral_wei=0,
                      debt_wei=mm.borrowed_assets(m, self.position), value_per_wei=1.0, weight=0.0,
                      usd_per_wei=self._usd(self.loan_usd, m.loan_decimals)),
        )

    @property
    def collateral(self) -> LoanAsset:
        return self.assets()[0]

    @property
    def loan(self) -> LoanAsset:
        return self.assets()[1]

    def _is(self, asset: str, token: str, symbol: str) -> bool:
        return asset.lower() == token.lower() or (bool(symbol) and asset == symbol)

    def book_usd(self) -> tuple[float, float, float]:
        c, d = self.collateral, self.loan
        return (c.collateral_wei * (c.usd_per_wei or 0.0), d.debt_wei * (d.usd_per_wei or 0.0),
                self.market.lltv_wad / WAD)

    # ---- health -----------------------------------------------------------------------------------
    def health_wad(self) -> int:
        b = mm.borrowed_assets(self.market, self.position)
        if b == 0:
            return UINT256_MAX
        return mul_div_down(mm.max_borrow(self.market, self.position), WAD, b)

    def health(self) -> float:
        return mm.health_factor(self.market, self.position)

    def healthy(self) -> bool:
        return mm.is_healthy(self.market, self.position)

    def after(self, collateral_deltas_wei: Mapping[str, int] | None = None,
              debt_deltas_wei: Mapping[str, int] | None = None) -> MorphoLoanModel:
        m, p = self.market, self.position
        for asset, d in (collateral_deltas_wei or {}).items():
            if not self._is(asset, m.collateral_token, m.collateral_symbol):
                raise BadInputError(f"collateral delta of {asset}: not this market's collateral", field="asset",
                                    value=asset)
            if d < 0:
                p = mm.apply_withdraw_collateral(p, -d)
            elif d > 0:
                p = p.model_copy(update={"collateral_wei": p.collateral_wei + d})
        for asset, d in (debt_deltas_wei or {}).items():
            if not self._is(asset, m.loan_token, m.loan_symbol):
                raise BadInputError(f"debt delta of {asset}: not this market's loan token", field="asset", value=asset)
            if d > 0:  # Morpho.borrow(assets): toSharesUp shares minted, both totals grow
                shares = mm.to_shares_up(d, m.total_borrow_assets, m.total_borrow_shares)
                m = m.model_copy(update={"total_borrow_assets": m.total_borrow_assets + d,
                                         "total_borrow_shares": m.total_borrow_shares + shares})
                p = p.model_copy(update={"borrow_shares": p.borrow_shares + shares})
            elif d < 0:
                if -d >= mm.borrowed_assets(m, p):  # the whole debt goes by shares
                    m, p, _ = mm.apply_repay_shares(m, p, p.borrow_shares)
                else:
                    m, p = mm.apply_repay_assets(m, p, -d)
        return replace(self, market=m, position=p)

    # ---- gates ------------------------------------------------------------------------------------
    def borrow_ok(self, asset: str, amount_wei: int) -> bool:
        """``Morpho.borrow``: healthy afterwards and ``totalBorrowAssets <= totalSupplyAssets``."""
        if amount_wei <= 0:
            return True
        nxt = self.after(None, {asset: amount_wei})
        return nxt.healthy() and nxt.market.total_borrow_assets <= nxt.market.total_supply_assets

    def boost_blocked(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[str, str] | None:
        m = self.market
        if not self._is(borrow.asset, m.loan_token, m.loan_symbol):
            return "market", f"{borrow.symbol}: a boost borrows this market's loan token {m.loan_symbol}"
        if not self._is(supply.asset, m.collateral_token, m.collateral_symbol):
            return "market", f"{supply.symbol}: a boost supplies this market's collateral {m.collateral_symbol}"
        return None

    def boost_rooms(self, borrow: LoanAsset, supply: LoanAsset) -> tuple[dict[str, int], int | None]:
        m = self.market
        return {"reserve_liquidity": max(0, m.total_supply_assets - m.total_borrow_assets)}, None

    def unsupported(self, what: Capability) -> str | None:
        if what == "collateral_switch":
            return "a Morpho Blue market has one collateral (switching means another market)"
        if what == "partial_close":
            return "a partial close of a Morpho Blue position is not supported"
        return None

    # ---- swaps ------------------------------------------------------------------------------------
    def curves(self, sell: LoanAsset, buy: LoanAsset,
               depth: Mapping[tuple[str, str], DepthEntry] | None) -> tuple[DepthCurve, ...]:
        """Every venue (pool / fee tier / two-hop route) selling ``sell`` for ``buy``, keyed by addresses or symbols;
        only curves that really trade this pair (a symbol key could name another market's token)."""
        if not depth:
            return ()
        keys = [(sell.asset, buy.asset), (sell.asset.lower(), buy.asset.lower()), (sell.symbol, buy.symbol)]
        entry = next((depth[k] for k in keys if k in depth), None)
        return tuple(c for c in curves_of(entry)
                     if c.token_in.lower() == sell.asset.lower() and c.token_out.lower() == buy.asset.lower())

    def venues(self, sell: LoanAsset, buy: LoanAsset, depth: Mapping[tuple[str, str], DepthEntry] | None,
               limits: SizingLimits) -> VenueSet:
        rate = sell.value_per_wei / buy.value_per_wei  # buy wei per sell wei at the Morpho oracle
        found = venue_set(self.curves(sell, buy, depth), limits, rate)
        if found is not None:
            return found
        model = SwapModel.oracle(price_in_base=sell.value_per_wei, price_out_base=buy.value_per_wei, decimals_in=0,
                                 decimals_out=0, fee_bps=limits.fallback_fee_bps, haircut_bps=limits.max_slippage_bps)
        return VenueSet.single(model.with_input_fee(limits.service_fee_bps), math.inf)

    # ---- wallet -----------------------------------------------------------------------------------
    def spendable_wallet(self, mode: WalletMode, wallet_wei: Mapping[str, int],
                         interrupted_proceeds_wei: Mapping[str, int]) -> dict[str, int]:
        """The wallet's collateral token (modes collateral/supply/all), its loan token with 'all', and the loan-token
        proceeds of an interrupted plan's mined swaps whatever the mode (except 'none')."""
        if mode == "none" or not wallet_wei:
            return {}
        coll, loan = self.market.collateral_token.lower(), self.market.loan_token.lower()
        held = {a.lower(): int(v) for a, v in wallet_wei.items() if v > 0}
        left = {a.lower(): int(w) for a, w in interrupted_proceeds_wei.items()}
        out: dict[str, int] = {}
        if held.get(coll):
            out[coll] = held[coll]
        if held.get(loan):
            out_loan = held[loan] if mode == "all" else min(held[loan], left.get(loan, 0))
            if out_loan > 0:
                out[loan] = out_loan
        return out

    # ---- engines ----------------------------------------------------------------------------------
    def _deleverage(self, target_hf: float, *, depth: Mapping[tuple[str, str], DepthEntry] | None,
                    limits: SizingLimits | None, opts: DeleverageOptions) -> SizingDecision:
        from manager.sizing.morpho_decide import decide_deleverage

        return decide_deleverage(self, target_hf, depth=depth, limits=limits, opts=opts)

    def _atomic_deleverage(self, target_hf: float, *, premium_bps: int,
                           depth: Mapping[tuple[str, str], DepthEntry] | None, limits: SizingLimits | None,
                           opts: DeleverageOptions) -> SizingDecision:
        from manager.sizing.atomic import _morpho_sale
        from manager.sizing.solver import atomic_pair_deleverage

        c, loan, lim = self.collateral, self.loan, limits or SizingLimits()
        if loan.debt_wei == 0:
            raise NoDebtError("borrow_shares=0: nothing to deleverage", field="borrow_shares", value=0)
        sale = _morpho_sale(self.market, self.curves(c, loan, depth), lim, opts.swap_haircut_bps)
        return atomic_pair_deleverage(
            self, target_hf, collateral=c, debt=loan, premium_bps=premium_bps, sale=sale, limits=lim,
            fallback_note=(f"no depth curve for {c.symbol}->{loan.symbol}: sale valued at the oracle less a "
                           f"{opts.swap_haircut_bps} bps haircut"))

    def _close(self, *, out_asset: str, premium_bps: int, depth: Mapping[tuple[str, str], DepthEntry] | None,
               limits: SizingLimits | None, fraction: float, debt_asset: str | None,
               collateral_asset: str | None, name: str) -> SizingDecision:
        from manager.sizing.automations import plan_atomic_close_morpho

        if fraction < 1:
            raise BadInputError(f"fraction={fraction:g}: {self.unsupported('partial_close')}", field="fraction",
                                value=fraction)
        return plan_atomic_close_morpho(self, out_asset=out_asset, premium_bps=premium_bps, depth=depth,
                                        limits=limits)


__all__ = ["AaveLoanModel", "Capability", "DeleverageOptions", "LoanAsset", "LoanModel", "LoanSnapshot",
           "MorphoLoanModel", "Side", "WalletMode"]
