"""Aave V3 account math (v3.0/v3.1 and v3.6), exact to the unit, plus the float view the solvers use.

The version differences (rounding, e-mode bitmaps, LT-0 collateral, borrow gates) come from ONE place,
``manager.protocols.aave_v3.rules`` (``rules_for(snapshot.protocol_version)``); this module applies them.

Mirrors aave-v3-core v3.0.x (and aave-v3-origin v3.6.0 where ``aave_rules`` says so):
- ``GenericLogic.calculateUserAccountData`` / ``calculateAvailableBorrows`` and
  ``PoolLogic.executeGetUserAccountData`` (``account_data``);
- ``EModeLogic.getEModeConfiguration`` / ``isInEModeCategory`` (e-mode LTV, LT and price source);
- ``ValidationLogic.validateBorrow`` (``max_safe_borrow``: LTV gate, borrow cap, isolation ceiling).

Rules reproduced exactly (v3.0):
- collateral counts only when the user's "usingAsCollateral" bit is set **and** the reserve LT != 0;
- ``collBase_i = floor(balance_i * price_i / 10^dec_i)``; ``debtBase_j = floor((var_j + stable_j) * price_j / 10^dec_j)``;
- LTV-0 collateral adds 0 to the LTV numerator but stays in the denominator (dilutes ``avgLtv``);
- ``avgLtv``/``avgLT`` are floored weighted means; ``HF = wadDiv(percentMul(coll, avgLT), debt)``,
  ``type(uint256).max`` when debt is 0;
- e-mode: when the user category != 0 and the asset's category equals it, the category LTV/LT apply,
  and when the category has a price source its price replaces the asset's oracle price.
- ``availableBorrows = max(0, percentMul(coll, avgLtv) - debt)``.

v3.6 (``aave_rules.V3_6``): collateral counts whenever enabled; debt values round up; ``HF = wadDiv(Σ c·LT,
debt) / 1e4``; e-mode LTV/LT come from the category's collateral bitmap (LTV 0 for the ``ltvzeroBitmap``), the
category's ``borrowableBitmap`` decides what may be borrowed; no stable debt, no e-mode price source.

The debt counts when the "borrowing" bit is set or the balance is non-zero (on chain the bit is set
whenever there is debt; a watcher that forgot the bit must not make debt disappear).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import Field

from manager.domain import AccountData, EModeCategory, Frozen
from manager.errors import SizingError
from manager.protocols.aave_v3.rules import V3_0, AaveRules, rules_for
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing._checks import BadInputError, target_health
from manager.sizing._checks import largest_passing as _largest
from manager.sizing.caps import borrow_cap_room_wei
from manager.sizing.fixed import PERCENTAGE_FACTOR, UINT256_MAX, WAD

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
DEBT_CEILING_DECIMALS = 2


# ------------------------------------------------------------------------------------------------
# Exact per-asset lines
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AssetLine:
    """One asset of a position with the parameters that apply to *this user* (e-mode resolved)."""

    asset: str
    symbol: str
    decimals: int
    price_base: int  # effective price (e-mode price source when it applies)
    ltv_bps: int  # effective (e-mode) LTV
    lt_bps: int  # effective (e-mode) LT
    collateral_wei: int
    variable_debt_wei: int
    stable_debt_wei: int
    collateral_enabled: bool
    borrowing: bool
    in_emode: bool  # collateral of the user's e-mode category (its LTV/LT/bonus apply)
    emode_borrowable: bool = True  # may be borrowed in the user's e-mode (always True outside e-mode)
    liquidation_bonus_bps: int = 0  # effective (e-mode) liquidation bonus, 10_500 = 5%
    reserve_id: int = -1
    rules: AaveRules = V3_0

    @property
    def unit(self) -> int:
        return int(10**self.decimals)

    @property
    def counts_as_collateral(self) -> bool:
        # GenericLogic v3.0: `liquidationThreshold != 0 && isUsingAsCollateral(i)`; v3.6: `isUsingAsCollateral(i)`
        return self.rules.counts_as_collateral(self.collateral_enabled, self.lt_bps)

    @property
    def debt_wei(self) -> int:
        return self.variable_debt_wei + self.stable_debt_wei

    @property
    def counts_as_debt(self) -> bool:
        return self.borrowing or self.debt_wei != 0

    def collateral_base(self) -> int:
        return self.rules.collateral_base(self.collateral_wei, self.price_base, self.unit) if self.counts_as_collateral else 0

    def debt_base(self) -> int:
        # NOTE: v3.0 adds variable + stable first, then multiplies by the price, then floors once (v3.6: ceil).
        return self.rules.debt_base(self.debt_wei, self.price_base, self.unit) if self.counts_as_debt else 0

    @property
    def price_float(self) -> float:
        return self.price_base / 1.0


@dataclass(frozen=True, slots=True)
class ExactPosition:
    """An Aave V3 position as integers, cheap to modify and re-evaluate exactly (rules of ``rules.version``)."""

    lines: tuple[AssetLine, ...]
    base_unit: int
    rules: AaveRules = V3_0

    def line(self, asset: str) -> AssetLine:
        for ln in self.lines:
            if ln.asset == asset or ln.symbol == asset:
                return ln
        raise BadInputError(f"asset={asset!r}: not in this position", field="asset", value=asset)

    def with_deltas(self, deltas_wei: Mapping[str, tuple[int, int]]) -> ExactPosition:
        """Apply ``{asset: (collateral_delta_wei, debt_delta_wei)}``; a debt decrease pays variable first."""
        out = []
        for ln in self.lines:
            d = deltas_wei.get(ln.asset) or deltas_wei.get(ln.symbol)
            if d is None:
                out.append(ln)
                continue
            dc, dd = d
            coll = ln.collateral_wei + dc
            var, stab = ln.variable_debt_wei, ln.stable_debt_wei
            if dd >= 0:
                var += dd
            else:
                pay = -dd
                from_var = min(pay, var)
                var -= from_var
                stab -= pay - from_var
            if coll < 0 or var < 0 or stab < 0:
                raise SizingError(
                    f"asset={ln.symbol or ln.asset}: delta {d} would make a balance negative",
                    field="deltas_wei", value=d,
                )
            out.append(replace(ln, collateral_wei=coll, variable_debt_wei=var, stable_debt_wei=stab,
                               collateral_enabled=ln.collateral_enabled or (dc > 0 and ln.collateral_wei == 0 and ln.lt_bps != 0)))
        # NOTE: v3.0 `executeSupply` turns collateral on only for a first supply (balance was 0).
        return ExactPosition(tuple(out), self.base_unit, self.rules)

    def account(self) -> AccountData:
        return _account(self.lines, self.rules)

    def health_factor_wad(self) -> int:
        return self.account().health_factor_wad

    def health(self) -> float:
        """The exact health factor as a float (``inf`` when there is no debt)."""
        return _health_float(self.health_factor_wad())


def _account(lines: Iterable[AssetLine], rules: AaveRules = V3_0) -> AccountData:
    total_coll = total_debt = ltv_num = lt_num = 0
    for ln in lines:
        if ln.counts_as_collateral:
            cb = ln.collateral_base()
            total_coll += cb
            if ln.ltv_bps != 0:
                ltv_num += cb * ln.ltv_bps
            lt_num += cb * ln.lt_bps
        if ln.counts_as_debt:
            total_debt += ln.debt_base()
    return _account_from_sums(total_coll, total_debt, ltv_num, lt_num, rules)


def _account_from_sums(total_coll: int, total_debt: int, ltv_num: int, lt_num: int,
                       rules: AaveRules = V3_0) -> AccountData:
    avg_ltv = ltv_num // total_coll if total_coll else 0
    avg_lt = lt_num // total_coll if total_coll else 0
    hf = rules.health_factor_wad(total_coll, total_debt, lt_num)
    avail = rules.available_borrows_base(total_coll, total_debt, avg_ltv)
    return AccountData(
        total_collateral_base=total_coll,
        total_debt_base=total_debt,
        available_borrows_base=avail,
        current_liquidation_threshold_bps=avg_lt,
        ltv_bps=avg_ltv,
        health_factor_wad=hf,
    )


def _check_version(snapshot: LendingPositionSnapshot) -> AaveRules:
    if snapshot.protocol != "aave_v3":
        raise BadInputError(f"protocol={snapshot.protocol!r}: aave math needs an aave_v3 snapshot",
                            field="protocol", value=snapshot.protocol)
    return rules_for(snapshot.protocol_version)


def rules_of(snapshot: LendingPositionSnapshot) -> AaveRules:
    """The ``AaveRules`` of the snapshot's pool version (``BadInputError`` naming the supported ones)."""
    return _check_version(snapshot)


def exact_position(snapshot: LendingPositionSnapshot, *, emode_price_base: int | None = None) -> ExactPosition:
    """Resolve e-mode and validate a snapshot into integer lines.

    ``emode_price_base`` is ``AaveOracle.getAssetPrice(emode.price_source)``; it is required when the
    user's e-mode category has a non-zero price source (v3.0 lets it override the assets' prices).
    """
    rules = _check_version(snapshot)
    rows = _resolved_rows(snapshot, emode_price_base)
    return ExactPosition(tuple(AssetLine(*row) for row in rows), snapshot.base_unit, rules)


def _resolved_rows(snapshot: LendingPositionSnapshot, emode_price_base: int | None) -> list[tuple[Any, ...]]:
    """Validated, e-mode-resolved ``AssetLine`` fields (as tuples, in field order) of a snapshot."""
    rules = _check_version(snapshot)
    user_cat = snapshot.emode_category_id
    emode = snapshot.emode
    if user_cat != 0 and (emode is None or emode.id != user_cat):
        raise BadInputError(f"emode_category_id={user_cat}: snapshot.emode must be that category",
                            field="emode", value=None if emode is None else emode.id)
    if rules.emode_bitmaps and user_cat != 0 and emode is not None and (
            emode.collateral_bitmap is None or emode.borrowable_bitmap is None):
        raise BadInputError(f"emode={user_cat}: Aave v{rules.version} e-mode needs the category's collateral and "
                            "borrowable bitmaps (getEModeCategoryCollateralBitmap/BorrowableBitmap)",
                            field="emode", value=user_cat)
    emode_price = 0
    if rules.emode_bitmaps:  # v3.2+: no e-mode price source
        emode_price_base = None
    elif emode_price_base is None and emode is not None:
        emode_price_base = emode.price_source_price_base
    if not rules.emode_bitmaps and user_cat != 0 and emode is not None and emode.price_source.lower() != ZERO_ADDRESS:
        if emode_price_base is None or emode_price_base <= 0:
            raise BadInputError(
                f"emode_price_base={emode_price_base!r}: e-mode category {user_cat} has price source "
                f"{emode.price_source}; pass its oracle price", field="emode_price_base", value=emode_price_base,
            )
        emode_price = emode_price_base
    if snapshot.base_unit <= 0:
        raise BadInputError(f"base_unit={snapshot.base_unit}: must be > 0", field="base_unit", value=snapshot.base_unit)
    rows: list[tuple[Any, ...]] = []
    for pa in snapshot.assets:
        r = snapshot.reserves.get(pa.asset)
        if r is None:
            raise BadInputError(f"asset={pa.asset!r} ({pa.symbol}): no reserve in snapshot", field="reserves", value=pa.asset)
        if r.price_base <= 0:
            raise BadInputError(f"price_base={r.price_base} for {r.symbol}: must be > 0", field="price_base", value=r.price_base)
        if not 0 <= r.decimals <= 77:
            raise BadInputError(f"decimals={r.decimals} for {r.symbol}: out of range", field="decimals", value=r.decimals)
        for fname in ("collateral_wei", "variable_debt_wei", "stable_debt_wei"):
            v = getattr(pa, fname)
            if v < 0:
                raise BadInputError(f"{fname}={v} for {pa.symbol}: must be >= 0", field=fname, value=v)
        for fname in ("ltv_bps", "liquidation_threshold_bps"):
            v = getattr(r, fname)
            if not 0 <= v <= PERCENTAGE_FACTOR:
                raise BadInputError(f"{fname}={v} for {r.symbol}: must be in [0, 10000]", field=fname, value=v)
        ltv, lt, bonus = r.ltv_bps, r.liquidation_threshold_bps, r.liquidation_bonus_bps
        if rules.emode_bitmaps:
            # v3.2+ ``ValidationLogic.getUserReserveLtv`` / ``GenericLogic``: membership by bitmap bit = reserve id;
            # v3.6 ``ltvzeroBitmap`` gives LTV 0 (the LT stays the category's).
            in_emode = user_cat != 0 and emode is not None and _bit(emode.collateral_bitmap, r.reserve_id)
            borrowable = user_cat == 0 or (emode is not None and _bit(emode.borrowable_bitmap, r.reserve_id))
            if in_emode and emode is not None:
                ltv = 0 if rules.emode_ltvzero and _bit(emode.ltvzero_bitmap, r.reserve_id) else emode.ltv_bps
                lt, bonus = emode.liquidation_threshold_bps, emode.liquidation_bonus_bps
        else:
            in_emode = user_cat != 0 and r.emode_category == user_cat
            borrowable = user_cat == 0 or in_emode
            if in_emode and emode is not None:
                # NOTE: the reserve's own LTV still decides "LTV-0" (v3.0 tests `vars.ltv != 0` before
                # choosing the e-mode LTV); keep 0 in that case.
                ltv = emode.ltv_bps if r.ltv_bps != 0 else 0
                lt, bonus = emode.liquidation_threshold_bps, emode.liquidation_bonus_bps
        if not rules.stable_debt and pa.stable_debt_wei:
            raise BadInputError(f"stable_debt_wei={pa.stable_debt_wei} for {pa.symbol}: Aave v{rules.version} has no "
                                "stable debt", field="stable_debt_wei", value=pa.stable_debt_wei)
        price = emode_price if (emode_price != 0 and in_emode) else r.price_base
        rows.append((pa.asset, pa.symbol or r.symbol, r.decimals, price, ltv, lt, pa.collateral_wei,
                     pa.variable_debt_wei, pa.stable_debt_wei, pa.collateral_enabled, pa.borrowing, in_emode,
                     borrowable, bonus, r.reserve_id, rules))
    return rows


def _bit(bitmap: int | None, reserve_id: int) -> bool:
    """``EModeConfiguration.isReserveEnabledOnBitmap``: bit ``reserve_id`` of a 128-bit bitmap."""
    if bitmap is None or reserve_id < 0:
        return False
    return bool((bitmap >> reserve_id) & 1)


def account_data(snapshot: LendingPositionSnapshot, *, emode_price_base: int | None = None) -> AccountData:
    """``Pool.getUserAccountData`` of Aave v3.0, to the unit, from the raw reads in ``snapshot``.

    Same validation and arithmetic as ``exact_position(snapshot).account()`` without building the
    ``AssetLine`` objects (the watcher evaluates every position of every tick).
    """
    total_coll = total_debt = ltv_num = lt_num = 0
    rules = V3_0
    for (_a, _s, decimals, price, ltv, lt, coll, var, stable, enabled, borrowing, _e, _b, _bonus, _id,
         rules) in _resolved_rows(snapshot, emode_price_base):
        unit = _POW10[decimals]
        if rules.counts_as_collateral(enabled, lt):  # AssetLine.counts_as_collateral
            cb = coll * price // unit
            total_coll += cb
            if ltv != 0:
                ltv_num += cb * ltv
            lt_num += cb * lt
        debt = var + stable
        if borrowing or debt != 0:  # AssetLine.counts_as_debt; v3.0 adds var + stable, then prices once
            total_debt += rules.debt_base(debt, price, unit)
    if not snapshot.assets:
        rules = _check_version(snapshot)
    return _account_from_sums(total_coll, total_debt, ltv_num, lt_num, rules)


_POW10 = tuple(10**k for k in range(78))  # decimals are validated to 0..77


def health_factor(snapshot: LendingPositionSnapshot, *, emode_price_base: int | None = None) -> float:
    """The exact health factor as a float (``inf`` when there is no debt)."""
    return _health_float(account_data(snapshot, emode_price_base=emode_price_base).health_factor_wad)


def _health_float(hf_wad: int) -> float:
    return float("inf") if hf_wad == UINT256_MAX else hf_wad / WAD


# ------------------------------------------------------------------------------------------------
# Unit conversions (rounding named in the function)
# ------------------------------------------------------------------------------------------------
def _check_price(price_base: int, decimals: int) -> None:
    if price_base <= 0:
        raise BadInputError(f"price_base={price_base}: must be > 0", field="price_base", value=price_base)
    if decimals < 0:
        raise BadInputError(f"decimals={decimals}: must be >= 0", field="decimals", value=decimals)


def tokens_to_base_floor(amount_wei: int, price_base: int, decimals: int) -> int:
    _check_price(price_base, decimals)
    return int(amount_wei * price_base // 10**decimals)


def tokens_to_base_ceil(amount_wei: int, price_base: int, decimals: int) -> int:
    _check_price(price_base, decimals)
    return int(-((-amount_wei * price_base) // 10**decimals))


def base_to_tokens_floor(amount_base: int, price_base: int, decimals: int) -> int:
    _check_price(price_base, decimals)
    return int(amount_base * 10**decimals // price_base)


def base_to_tokens_ceil(amount_base: int, price_base: int, decimals: int) -> int:
    _check_price(price_base, decimals)
    return int(-((-amount_base * 10**decimals) // price_base))


# ------------------------------------------------------------------------------------------------
# Float view for the solvers
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FloatView:
    """``S = Σ collBase_i·LT_i`` and ``D = Σ debtBase_j`` in base units (floats, unfloored avgLT)."""

    weighted_collateral_base: float
    ltv_weighted_collateral_base: float
    collateral_base: float
    debt_base: float

    @property
    def health(self) -> float:
        return float("inf") if self.debt_base == 0 else self.weighted_collateral_base / self.debt_base


def float_view(pos: ExactPosition) -> FloatView:
    s = s_ltv = c = d = 0.0
    for ln in pos.lines:
        if ln.counts_as_collateral:
            cb = ln.collateral_wei * ln.price_base / ln.unit
            c += cb
            s += cb * ln.lt_bps / PERCENTAGE_FACTOR
            s_ltv += cb * ln.ltv_bps / PERCENTAGE_FACTOR
        if ln.counts_as_debt:
            d += ln.debt_wei * ln.price_base / ln.unit
    return FloatView(s, s_ltv, c, d)


# ------------------------------------------------------------------------------------------------
# Liquidation prices
# ------------------------------------------------------------------------------------------------
def liquidation_prices(snapshot: LendingPositionSnapshot, *, emode_price_base: int | None = None) -> dict[str, float | None]:
    """Per asset held as collateral: the USD price of that asset alone at which HF reaches 1.

    Holds every other price fixed. When the asset is also borrowed, its debt moves with its price:
    ``P* = (D_other - S_other) / (c·LT - d)``. Returns ``None`` when there is no debt, the asset does
    not count as collateral, or no positive price reaches HF = 1. Uses the unfloored weighted LT.
    """
    pos = exact_position(snapshot, emode_price_base=emode_price_base)
    view = float_view(pos)
    out: dict[str, float | None] = {}
    for ln in pos.lines:
        if not ln.counts_as_collateral or ln.collateral_wei == 0:
            if ln.collateral_wei > 0:
                out[ln.symbol] = None
            continue
        if view.debt_base == 0:
            out[ln.symbol] = None
            continue
        c_tokens = ln.collateral_wei / ln.unit
        d_tokens = ln.debt_wei / ln.unit if ln.counts_as_debt else 0.0
        lt = ln.lt_bps / PERCENTAGE_FACTOR
        s_other = view.weighted_collateral_base - c_tokens * ln.price_base * lt
        d_other = view.debt_base - d_tokens * ln.price_base
        slope = c_tokens * lt - d_tokens
        if slope == 0:
            out[ln.symbol] = None
            continue
        p_base = (d_other - s_other) / slope
        out[ln.symbol] = p_base / snapshot.base_unit if p_base > 0 else None
    return out


# ------------------------------------------------------------------------------------------------
# Max safe borrow (ValidationLogic.validateBorrow v3.0)
# ------------------------------------------------------------------------------------------------
class BorrowSize(Frozen):
    """The largest borrow of one asset that passes every gate, in token units (rounded down)."""

    asset: str
    symbol: str
    amount_wei: int
    binding_constraint: str
    bounds_wei: dict[str, int] = Field(default_factory=dict)  # every gate's own limit
    projected_health: float | None = None
    reason: str = ""


def borrow_ok(pos: ExactPosition, ln: AssetLine, amount_wei: int) -> bool:
    """The LTV / health gates of ``ValidationLogic`` for borrowing ``amount_wei`` of ``ln`` (rules of ``pos.rules``).

    v3.0: before the borrow, ``HF > 1`` and ``percentDiv(debt + amountBase, ltv) <= coll`` (``amountBase``
    floored); v3.6: after the borrow, ``ltv != 0``, ``HF >= 1`` and ``coll >= percentDivCeil(debt, ltv)``.
    """
    acc = pos.account()
    if pos.rules.pessimistic_rounding:
        # NOTE: v3.6 mints rayDivCeil(amount, index) scaled debt and reads it back rounding up: the new debt can be
        # one wei above the amount borrowed. Checked with that wei, so a size found here never fails on chain.
        after = pos.with_deltas({ln.asset: (0, amount_wei + (1 if amount_wei else 0))}).account()
    else:
        after = acc.model_copy(update={"total_debt_base": acc.total_debt_base
                                       + ln.price_base * amount_wei // ln.unit})
    return pos.rules.borrow_ok(
        before=(acc.total_collateral_base, acc.total_debt_base, acc.ltv_bps, acc.health_factor_wad),
        after=(after.total_collateral_base, after.total_debt_base, after.ltv_bps, after.health_factor_wad))


_borrow_ok_v30 = borrow_ok  # the name the solvers imported before v3.6 (same gate, now per version)


def max_safe_borrow(
    snapshot: LendingPositionSnapshot,
    asset: str,
    target_hf: float,
    *,
    emode_price_base: int | None = None,
    isolated_asset_debt_ceiling_cents: int | None = None,
    isolation_total_debt_cents: int | None = None,
) -> BorrowSize:
    """Largest borrow of ``asset`` (token units, floor) keeping exact HF >= ``target_hf``.

    Bounded by the LTV gate (``borrow_ok``: per version), the borrow cap
    (``totalStable + totalVariable + amount <= cap * 10^dec``), the reserve's available liquidity and,
    for an isolated user, the debt-ceiling room (``floor(amount / 10^(dec-2))`` cents).
    """
    target = target_health("target_hf", target_hf)
    target_wad = int(target * WAD)
    pos = exact_position(snapshot, emode_price_base=emode_price_base)
    ln = pos.line(asset)
    reserve = snapshot.reserves[ln.asset]
    bounds: dict[str, int] = {}
    why: list[str] = []
    # NOTE: v3.6 in an e-mode: the category's borrowable bitmap replaces the reserve's borrowingEnabled flag.
    flag_applies = snapshot.emode_category_id == 0 or not pos.rules.emode_bitmaps
    if not reserve.active or reserve.paused or reserve.frozen or (flag_applies and not reserve.borrowing_enabled):
        return BorrowSize(asset=ln.asset, symbol=ln.symbol, amount_wei=0, binding_constraint="reserve_state",
                          reason=f"{ln.symbol}: reserve not borrowable (active/paused/frozen/borrowingEnabled)")
    if snapshot.emode_category_id != 0 and not ln.emode_borrowable:
        return BorrowSize(asset=ln.asset, symbol=ln.symbol, amount_wei=0, binding_constraint="emode",
                          reason=f"{ln.symbol}: not borrowable in the user's e-mode category {snapshot.emode_category_id}")
    # Borrow cap room.
    room = borrow_cap_room_wei(reserve)
    if room is not None:
        bounds["borrow_cap"] = room
    # Reserve liquidity.
    bounds["reserve_liquidity"] = max(0, reserve.available_liquidity_wei)
    # Isolation debt ceiling.
    if snapshot.isolated_asset is not None:
        iso = snapshot.reserves.get(snapshot.isolated_asset)
        ceiling = isolated_asset_debt_ceiling_cents if isolated_asset_debt_ceiling_cents is not None else (iso.debt_ceiling_cents if iso else 0)
        used = isolation_total_debt_cents if isolation_total_debt_cents is not None else (iso.isolation_mode_total_debt_cents if iso else 0)
        if not reserve.borrowable_in_isolation:
            return BorrowSize(asset=ln.asset, symbol=ln.symbol, amount_wei=0, binding_constraint="isolation",
                              reason=f"{ln.symbol}: not borrowable in isolation mode")
        room_cents = max(0, ceiling - used)
        scale = 10 ** max(0, ln.decimals - DEBT_CEILING_DECIMALS)
        # amount/scale <= room  <=>  amount <= room*scale + scale - 1
        bounds["isolation_debt_ceiling"] = room_cents * scale + scale - 1
    # LTV gate: largest amount with percentDiv(D + floor(amount*price/unit), ltv) <= C, found exactly.
    acc = pos.account()
    ltv_base = acc.available_borrows_base
    ltv_guess = base_to_tokens_ceil(ltv_base + 1, ln.price_base, ln.decimals)
    bounds["ltv"] = _largest(lambda a: borrow_ok(pos, ln, a), ltv_guess)
    # Health-factor target, exactly (HF falls with the borrow, so the predicate is monotone).
    if acc.health_factor_wad < target_wad:
        bounds["target_health"] = 0
    else:
        view = float_view(pos)
        guess_base = max(0.0, view.weighted_collateral_base / target - view.debt_base)
        guess = int(guess_base * ln.unit / ln.price_base) + 2
        bounds["target_health"] = _largest(
            lambda a: pos.with_deltas({ln.asset: (0, a)}).health_factor_wad() >= target_wad, guess
        )
    binding = min(bounds, key=lambda k: bounds[k])
    amount = bounds[binding]
    after = pos.with_deltas({ln.asset: (0, amount)}).account().health_factor_wad
    why.append(f"max borrow of {ln.symbol} for HF {target:g}: {amount} wei, bound by {binding}")
    return BorrowSize(asset=ln.asset, symbol=ln.symbol, amount_wei=amount, binding_constraint=binding,
                      bounds_wei=bounds, projected_health=None if after == UINT256_MAX else after / WAD,
                      reason="; ".join(why))


# ------------------------------------------------------------------------------------------------
# E-mode entry / exit (ValidationLogic.validateSetUserEMode + the health check after it)
# ------------------------------------------------------------------------------------------------
class EModeSwitch(Frozen):
    """Whether ``Pool.setUserEMode(category)`` would pass, and the position afterwards."""

    category_id: int
    ok: bool
    reason: str = ""  # the contract's check that fails (v3.6 custom error name / v3.0 error name)
    health_after: float | None = None
    account_after: AccountData | None = None


def emode_switch(snapshot: LendingPositionSnapshot, category: EModeCategory | None) -> EModeSwitch:
    """Check entering ``category`` (``None`` = leave e-mode) the way the pool of the snapshot's version does.

    v3.6: every borrowed asset must be in the target category's ``borrowableBitmap`` (leaving: the reserve's
    ``borrowingEnabled``) and every enabled collateral must keep an LTV != 0 there (``InvalidDebtInEmode`` /
    ``InvalidCollateralInEmode``); v3.0: every borrowed asset must belong to the category
    (``INCONSISTENT_EMODE_CATEGORY``). Both: the category must be configured (LT != 0) and the health factor
    after the switch must stay >= 1 (``HealthFactorLowerThanLiquidationThreshold``).
    """
    rules = _check_version(snapshot)
    target = 0 if category is None else category.id
    if category is not None and category.liquidation_threshold_bps == 0:
        return EModeSwitch(category_id=target, ok=False, reason="InconsistentEModeCategory: category not configured")
    after = snapshot.model_copy(update={"emode_category_id": target, "emode": category})
    for pa in snapshot.assets:
        r = snapshot.reserves[pa.asset]
        borrowed = pa.borrowing or pa.variable_debt_wei or pa.stable_debt_wei
        if rules.emode_bitmaps:
            if borrowed and not (_bit(category.borrowable_bitmap, r.reserve_id) if category is not None
                                 else r.borrowing_enabled):
                return EModeSwitch(category_id=target, ok=False,
                                   reason=f"InvalidDebtInEmode: {r.symbol} is not borrowable in category {target}")
            if pa.collateral_enabled:
                ltv = r.ltv_bps
                if category is not None and _bit(category.collateral_bitmap, r.reserve_id):
                    ltv = 0 if _bit(category.ltvzero_bitmap, r.reserve_id) else category.ltv_bps
                if ltv == 0:
                    return EModeSwitch(category_id=target, ok=False,
                                       reason=f"InvalidCollateralInEmode: {r.symbol} has LTV 0 in category {target}")
        elif borrowed and target != 0 and r.emode_category != target:
            return EModeSwitch(category_id=target, ok=False,
                               reason=f"INCONSISTENT_EMODE_CATEGORY: {r.symbol} debt is not in category {target}")
    acc = account_data(after)
    if acc.health_factor_wad < WAD:
        return EModeSwitch(category_id=target, ok=False, account_after=acc, health_after=_health_float(
            acc.health_factor_wad), reason="HealthFactorLowerThanLiquidationThreshold: health below 1 after the switch")
    return EModeSwitch(category_id=target, ok=True, account_after=acc, health_after=_health_float(acc.health_factor_wad))
