"""Aave V3 ``liquidationCall`` sizes, exact to the unit, per version (pure; no I/O).

What a liquidator may repay and seize, and what the borrower loses, for one (collateral, debt) pair:

- v3.0 (aave-v3-core ``LiquidationLogic._calculateDebt``): ``maxDebt = percentMul(reserveDebt, HF > 0.95 ?
  5000 : 10000)``, no leftover rule, no deficit.
- v3.3+ (aave-v3-origin v3.6.0 ``LiquidationLogic.executeLiquidationCall``): ``maxDebt = reserveDebt`` (100%)
  unless the reserve's collateral and debt are both worth >= ``MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD`` (2,000
  base units, $2,000), HF > ``CLOSE_FACTOR_HF_THRESHOLD`` (0.95) and the reserve's debt is more than half of the
  position's whole debt; then ``maxDebt = floor(percentMul(totalDebtBase, 5000) * unit / price)`` (50% of the
  *position*). A partial liquidation must leave >= ``MIN_LEFTOVER_BASE`` ($1,000) of that debt **and** that
  collateral, or it reverts ``MustNotLeaveDust()``. When the seized collateral is all the position's collateral,
  every remaining debt is burned and booked as the reserves' ``deficit``.
- Both (``_calculateAvailableCollateralToLiquidate``): ``baseColl = floor(priceD * debt * unitC / (priceC *
  unitD))``, ``maxColl = percentMul(baseColl, bonus)``; when that exceeds the balance the whole balance is seized
  and ``debtNeeded = percentDiv(...)`` (v3.5+: ``percentDivCeil``); the protocol fee is
  ``percentMul(coll - percentDiv(coll, bonus), liquidationProtocolFee)`` out of the seized collateral.
  The bonus is the e-mode one when the collateral is the user's e-mode collateral (v3.2+: by bitmap).

Rounding per version comes from ``manager.protocols.aave_v3.rules``. Inputs are the raw reads of one block (the
snapshot); the contract accrues interest to the block it runs in, so compare at the same block.
"""

from __future__ import annotations

from typing import Any

from manager.domain import RAY, WAD, Frozen
from manager.protocols.aave_v3.math import AssetLine, ExactPosition, exact_position
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing._checks import BadInputError
from manager.sizing.fixed import UINT256_MAX, percent_div, percent_mul

CLOSE_FACTOR_HF_THRESHOLD_WAD = 95 * 10**16  # 0.95e18
DEFAULT_LIQUIDATION_CLOSE_FACTOR_BPS = 5_000
MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD_USD = 2_000  # x base unit (2000e8 on USD markets)
MIN_LEFTOVER_BASE_USD = 1_000


class LiquidationQuote(Frozen):
    """The outcome of ``liquidationCall(collateral, debt, user, debt_to_cover)`` as the contract computes it."""

    collateral_asset: str
    collateral_symbol: str
    debt_asset: str
    debt_symbol: str
    health_factor_wad: int
    liquidatable: bool  # HF < 1 and the collateral is enabled and the debt exists (else the call reverts)
    reason: str = ""  # why not liquidatable / why it reverts
    close_factor_bps: int  # 10_000 = the whole reserve debt may be closed; 5_000 = the 50% rule applies
    max_debt_to_cover_wei: int  # maxLiquidatableDebt
    debt_to_cover_wei: int  # actual debt repaid (debtAmountNeeded)
    collateral_to_liquidator_wei: int  # after the protocol fee
    protocol_fee_wei: int  # to the treasury, out of the borrower's collateral
    # False when the whole collateral balance is seized: v3.6 then caps the fee at the borrower's remaining *scaled*
    # balance (``scaledBalanceOf``, not in the snapshot), which can make it 1 wei lower than ``protocol_fee_wei``
    protocol_fee_exact: bool = True
    reverts_dust: bool = False  # v3.3+ MustNotLeaveDust(): the call reverts, nothing happens
    bad_debt: bool = False  # v3.3+: all collateral seized -> every remaining debt burned to the deficit
    deficit_base: int = 0  # remaining debt (base units) burned to deficits when ``bad_debt``
    bonus_bps: int = 0
    loss_base: int = 0  # collateral value removed from the borrower minus the debt value repaid (base units)

    @property
    def collateral_removed_wei(self) -> int:
        return self.collateral_to_liquidator_wei + self.protocol_fee_wei


def _line(pos: ExactPosition, asset: str) -> AssetLine:
    return pos.line(asset)


def liquidation_call(snapshot: LendingPositionSnapshot, collateral: str, debt: str, debt_to_cover_wei: int,
                     *, health_factor_wad: int | None = None, collateral_scaled_wei: int | None = None,
                     liquidity_index_ray: int | None = None) -> LiquidationQuote:
    """Exact ``liquidationCall`` sizes for ``debt_to_cover_wei`` (``UINT256_MAX`` = as much as allowed).

    ``health_factor_wad`` overrides the position's health for the close-factor choice (used to ask "what would a
    liquidation just below HF 1 take"); by default the exact health of the snapshot.

    ``collateral_scaled_wei`` (``aToken.scaledBalanceOf(user)``) and ``liquidity_index_ray``
    (``Pool.getReserveNormalizedIncome(collateral)`` at the block) make the v3.6 protocol fee exact when it hits
    the borrower's remaining scaled balance (whole collateral seized); without them it is flagged
    ``protocol_fee_exact=False`` there.
    """
    if isinstance(debt_to_cover_wei, bool) or not isinstance(debt_to_cover_wei, int) or debt_to_cover_wei <= 0:
        raise BadInputError(f"debt_to_cover_wei={debt_to_cover_wei!r}: must be a positive integer",
                            field="debt_to_cover_wei", value=debt_to_cover_wei)
    pos = exact_position(snapshot)
    rules = pos.rules
    c, d = _line(pos, collateral), _line(pos, debt)
    acc = pos.account()
    hf = acc.health_factor_wad if health_factor_wad is None else health_factor_wad
    base = snapshot.base_unit
    res_c = snapshot.reserves[c.asset]
    common: dict[str, Any] = {"collateral_asset": c.asset, "collateral_symbol": c.symbol, "debt_asset": d.asset,
              "debt_symbol": d.symbol, "health_factor_wad": hf, "bonus_bps": c.liquidation_bonus_bps}
    why = ""
    if hf >= WAD:
        why = "HealthFactorNotBelowThreshold: health factor is not below 1"
    elif not c.collateral_enabled or (rules.lt_zero_excluded and c.lt_bps == 0):
        why = "CollateralCannotBeLiquidated: the collateral is not enabled (or has LT 0 on v3.0)"
    elif d.debt_wei == 0:
        why = "SpecifiedCurrencyNotBorrowedByUser: no debt in that reserve"
    if why:
        return LiquidationQuote(**common, liquidatable=False, reason=why, close_factor_bps=0, max_debt_to_cover_wei=0,
                                debt_to_cover_wei=0, collateral_to_liquidator_wei=0, protocol_fee_wei=0)

    reserve_debt = d.debt_wei
    coll_balance = c.collateral_wei
    debt_base = rules.debt_base(reserve_debt, d.price_base, d.unit)
    coll_base = c.collateral_wei * c.price_base // c.unit
    if rules.liquidation_v33:
        max_debt, close = reserve_debt, 10_000
        threshold = MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD_USD * base
        if coll_base >= threshold and debt_base >= threshold and hf > CLOSE_FACTOR_HF_THRESHOLD_WAD:
            half_total = percent_mul(acc.total_debt_base, DEFAULT_LIQUIDATION_CLOSE_FACTOR_BPS)
            if debt_base > half_total:
                max_debt, close = half_total * d.unit // d.price_base, DEFAULT_LIQUIDATION_CLOSE_FACTOR_BPS
    else:
        close = DEFAULT_LIQUIDATION_CLOSE_FACTOR_BPS if hf > CLOSE_FACTOR_HF_THRESHOLD_WAD else 10_000
        max_debt = percent_mul(reserve_debt, close)
    actual_debt = min(debt_to_cover_wei, max_debt)

    bonus = c.liquidation_bonus_bps
    base_coll = d.price_base * actual_debt * c.unit // (c.price_base * d.unit)
    max_coll = percent_mul(base_coll, bonus)
    if max_coll > coll_balance:
        coll_amount = coll_balance
        value_in_debt = c.price_base * coll_amount * d.unit // (d.price_base * c.unit)
        debt_needed = rules.debt_needed_for_all_collateral(value_in_debt, bonus)
    else:
        coll_amount, debt_needed = max_coll, actual_debt
    coll_to_liq_base = coll_amount * c.price_base // c.unit
    fee = 0
    if res_c.liquidation_protocol_fee_bps:
        bonus_coll = coll_amount - percent_div(coll_amount, bonus)
        fee = percent_mul(bonus_coll, res_c.liquidation_protocol_fee_bps)
        coll_amount -= fee

    fee_exact = not (rules.pessimistic_rounding and fee and coll_amount + fee == coll_balance)
    if not fee_exact and collateral_scaled_wei is not None and liquidity_index_ray:
        # LiquidationLogic v3.6: the liquidator's part is burned as rayDivCeil(amount, index) scaled units, then the
        # fee's rayDivCeil(fee, index) is capped at what is left, and paid as rayMulFloor(left, index).
        idx = liquidity_index_ray
        left = collateral_scaled_wei - -(-coll_amount * RAY // idx)
        if -(-fee * RAY // idx) > left:
            fee = max(0, left) * idx // RAY
        fee_exact = True
    reverts = False
    if rules.liquidation_v33 and debt_needed < reserve_debt and coll_amount + fee < coll_balance:
        left_debt = rules.debt_base(reserve_debt - debt_needed, d.price_base, d.unit)
        left_coll = (coll_balance - coll_amount - fee) * c.price_base // c.unit
        reverts = not (left_debt >= MIN_LEFTOVER_BASE_USD * base and left_coll >= MIN_LEFTOVER_BASE_USD * base)
    bad_debt = deficit = 0
    if rules.liquidation_v33 and not reverts and acc.total_collateral_base == coll_to_liq_base:
        remaining = [(ln, ln.debt_wei - (debt_needed if ln.asset == d.asset else 0)) for ln in pos.lines]
        deficit = sum(rules.debt_base(w, ln.price_base, ln.unit) for ln, w in remaining if w > 0)
        bad_debt = 1 if deficit or any(w > 0 for _, w in remaining) else 0
    removed_base = (coll_amount + fee) * c.price_base // c.unit
    repaid_base = rules.debt_base(debt_needed, d.price_base, d.unit)
    return LiquidationQuote(
        **common, liquidatable=not reverts,
        reason="MustNotLeaveDust: a partial liquidation must leave >= $1,000 of the debt and the collateral"
        if reverts else "",
        close_factor_bps=close, max_debt_to_cover_wei=max_debt, debt_to_cover_wei=debt_needed,
        collateral_to_liquidator_wei=coll_amount, protocol_fee_wei=fee, reverts_dust=reverts,
        protocol_fee_exact=fee_exact,
        bad_debt=bool(bad_debt), deficit_base=deficit, loss_base=max(0, removed_base - repaid_base),
    )


def max_liquidation(snapshot: LendingPositionSnapshot, collateral: str, debt: str, *,
                    health_factor_wad: int | None = None) -> LiquidationQuote:
    """The largest liquidation the contract allows for the pair (``debtToCover = type(uint256).max``)."""
    return liquidation_call(snapshot, collateral, debt, UINT256_MAX, health_factor_wad=health_factor_wad)


def worst_liquidation(snapshot: LendingPositionSnapshot) -> LiquidationQuote | None:
    """The single liquidation that would cost the borrower most, at the snapshot's balances and prices.

    A position above HF 1 is valued as if it were just below it (``HF = 1e18 - 1``: the close-factor rule
    that applies at the moment it becomes liquidatable); one already below 1 at its real health. Every enabled
    collateral x every debt is tried; a pair whose largest call would revert (dust rule) is tried at the largest
    amount that passes, found by bisection on the debt to cover. ``None`` without debt or collateral.
    """
    pos = exact_position(snapshot)
    acc = pos.account()
    if acc.health_factor_wad == UINT256_MAX or acc.total_collateral_base == 0:
        return None
    hf = min(acc.health_factor_wad, WAD - 1)
    best: LiquidationQuote | None = None
    for c in pos.lines:
        if not c.counts_as_collateral or c.collateral_wei == 0:
            continue
        for d in pos.lines:
            if d.debt_wei == 0:
                continue
            q: LiquidationQuote | None = max_liquidation(snapshot, c.asset, d.asset, health_factor_wad=hf)
            if q is not None and q.reverts_dust:
                q = _largest_passing(snapshot, c.asset, d.asset, hf, q.max_debt_to_cover_wei)
            if q is not None and q.liquidatable and (best is None or q.loss_base > best.loss_base):
                best = q
    return best


def _largest_passing(snapshot: LendingPositionSnapshot, collateral: str, debt: str, hf: int,
                     hi: int) -> LiquidationQuote | None:
    """Largest debt to cover below ``hi`` whose call does not revert on the leftover rule (None if none)."""
    lo, best = 0, None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        q = liquidation_call(snapshot, collateral, debt, mid, health_factor_wad=hf)
        if q.reverts_dust:
            hi = mid
        else:
            lo, best = mid, q
    return best


def liquidation_loss_usd(snapshot: LendingPositionSnapshot) -> float | None:
    """USD the borrower loses to the worst single liquidation (``worst_liquidation().loss_base``), or None."""
    q = worst_liquidation(snapshot)
    return None if q is None else q.loss_base / snapshot.base_unit
