"""Aave V3 rules per protocol version: the ONE place where v3.0/v3.1 and v3.6 differ (pure, no I/O).

Every piece of Aave math in posman (exact account data, the float view, the vectorized path, borrow gates,
liquidation sizes, flash-loan premiums, reserve-bitmap decoding) asks ``rules_for(version)`` instead of
testing a version string. Supporting a new release (v3.7) is one more ``AaveRules`` value here and one more
``POOL_REVISIONS`` entry, checked against the real contracts on the devnet.

Sources (read in the protocol's own code):

- v3.0/v3.1: aave-v3-core v1.19.3 (npm ``@aave/core-v3``; ``POOL_REVISION`` 1/2 = v3.0.x, 3 = v3.1):
  ``GenericLogic.calculateUserAccountData`` (collateral only when enabled and LT != 0; every value floored;
  ``HF = wadDiv(percentMul(totalColl, floor(avgLT)), totalDebt)``), ``calculateAvailableBorrows``
  (``percentMul``), ``EModeLogic`` (category per reserve, optional e-mode price source), ``ValidationLogic``
  (borrow: HF > 1 and ``percentDiv(debt + amount, ltv) <= coll`` *before* the borrow), ``LiquidationLogic``
  (close factor 50%, 100% at HF <= 0.95; no leftover rule), ``FlashLoanLogic`` (``percentMul`` premium).
- v3.6: aave-v3-origin v3.6.0 (npm ``@aave-dao/aave-v3-origin``; ``POOL_REVISION`` 10): ``GenericLogic``
  (collateral whenever enabled; ``TokenMath``: aToken balances ``rayMulFloor``, debt ``rayMulCeil``; collateral
  value floored, debt value ``mulDivCeil``; ``HF = wadDiv(Σ coll_i·LT_i, totalDebt) / 1e4`` from the un-floored
  sum), ``calculateAvailableBorrows`` (``percentMulFloor``, 0 when not above the debt), ``ValidationLogic``
  (``getUserReserveLtv``: collateral bitmap -> e-mode LTV unless the ``ltvzeroBitmap`` bit is set, LT from the
  bitmap; borrow checked *after* the state change: ltv != 0, HF >= 1, ``coll >= percentDivCeil(debt, ltv)``;
  ``borrowableBitmap`` replaces ``borrowingEnabled`` in an e-mode), ``LiquidationLogic`` (v3.3+ close factor and
  leftover rule, deficit; see ``manager.protocols.aave_v3.liquidation``), no stable debt, no e-mode price source.
"""

from __future__ import annotations

from dataclasses import dataclass

from manager.sizing._checks import BadInputError
from manager.sizing.fixed import PERCENTAGE_FACTOR, UINT256_MAX, percent_div, percent_mul, wad_div


def _percent_mul_floor(value: int, bps: int) -> int:
    return value * bps // PERCENTAGE_FACTOR


def _percent_mul_ceil(value: int, bps: int) -> int:
    return -((-value * bps) // PERCENTAGE_FACTOR)


def _percent_div_ceil(value: int, bps: int) -> int:
    return -((-value * PERCENTAGE_FACTOR) // bps)


@dataclass(frozen=True)
class AaveRules:
    """What differs between Aave releases. Methods take and return exact integers (Solidity units)."""

    version: str
    # v3.5+: pessimistic rounding (debt value up, available borrows floored, HF from the un-floored Σ coll·LT)
    pessimistic_rounding: bool
    # v3.2+: liquid e-modes (per-category collateral/borrowable bitmaps; no e-mode price source)
    emode_bitmaps: bool
    # v3.6+: per-category LTV-zero bitmap
    emode_ltvzero: bool
    # <= v3.1: stable-rate debt exists (a third balance per reserve)
    stable_debt: bool
    # v3.3+: position-wide close factor, $2,000 / $1,000 thresholds, bad-debt deficit
    liquidation_v33: bool
    # v3.0: collateral with LT 0 does not count at all (v3.6 counts every enabled collateral)
    lt_zero_excluded: bool

    # --- account data (GenericLogic) ----------------------------------------------------------------
    def collateral_base(self, balance_wei: int, price_base: int, unit: int) -> int:
        return balance_wei * price_base // unit  # every version floors the collateral value

    def debt_base(self, debt_wei: int, price_base: int, unit: int) -> int:
        if self.pessimistic_rounding:
            return -((-debt_wei * price_base) // unit)  # MathUtils.mulDivCeil
        return price_base * debt_wei // unit

    def counts_as_collateral(self, enabled: bool, lt_bps: int) -> bool:
        return enabled and (lt_bps != 0 or not self.lt_zero_excluded)

    def health_factor_wad(self, total_coll: int, total_debt: int, lt_num: int) -> int:
        """``lt_num = Σ collBase_i · LT_i`` (bps). ``type(uint256).max`` without debt."""
        if total_debt == 0:
            return UINT256_MAX
        if self.pessimistic_rounding:
            return wad_div(lt_num, total_debt) // PERCENTAGE_FACTOR
        avg_lt = lt_num // total_coll if total_coll else 0
        return wad_div(percent_mul(total_coll, avg_lt), total_debt)

    def available_borrows_base(self, total_coll: int, total_debt: int, avg_ltv_bps: int) -> int:
        cap = _percent_mul_floor(total_coll, avg_ltv_bps) if self.pessimistic_rounding else percent_mul(
            total_coll, avg_ltv_bps)
        return cap - total_debt if cap > total_debt else 0

    # --- borrow gate (ValidationLogic) ----------------------------------------------------------------
    def borrow_ok(self, *, before: tuple[int, int, int, int], after: tuple[int, int, int, int]) -> bool:
        """Whether a borrow passes the LTV / health gates. ``before``/``after`` are
        ``(total_coll_base, total_debt_base, avg_ltv_bps, hf_wad)`` without and with the new debt."""
        if self.pessimistic_rounding:  # v3.5+: checked after the state change
            coll, debt, ltv, hf = after
            return ltv != 0 and hf >= 10**18 and coll >= _percent_div_ceil(debt, ltv)
        coll, debt_before, ltv, hf = before
        if ltv == 0 or coll == 0 or hf <= 10**18:
            return False
        amount_base = after[1] - debt_before
        return percent_div(debt_before + amount_base, ltv) <= coll

    # --- flash loans (FlashLoanLogic) -------------------------------------------------------------------
    def flash_premium_wei(self, amount_wei: int, premium_bps: int) -> int:
        return _percent_mul_ceil(amount_wei, premium_bps) if self.pessimistic_rounding else percent_mul(
            amount_wei, premium_bps)

    # --- liquidation rounding (LiquidationLogic) -------------------------------------------------------
    def debt_needed_for_all_collateral(self, debt_value_wei: int, bonus_bps: int) -> int:
        """``debtAmountNeeded`` when the whole collateral balance is seized."""
        if self.pessimistic_rounding:
            return _percent_div_ceil(debt_value_wei, bonus_bps)
        return percent_div(debt_value_wei, bonus_bps)

    # --- reserve configuration bitmap (ReserveConfiguration) -------------------------------------------
    def decode_configuration(self, bitmap: int) -> dict[str, object]:
        def bits(start: int, length: int) -> int:
            return (bitmap >> start) & ((1 << length) - 1)

        out: dict[str, object] = {
            "ltv_bps": bits(0, 16),
            "liquidation_threshold_bps": bits(16, 16),
            "liquidation_bonus_bps": bits(32, 16),
            "decimals": bits(48, 8),
            "active": bool(bits(56, 1)),
            "frozen": bool(bits(57, 1)),
            "borrowing_enabled": bool(bits(58, 1)),
            "stable_borrowing_enabled": bool(bits(59, 1)) if self.stable_debt else False,
            "paused": bool(bits(60, 1)),
            "borrowable_in_isolation": bool(bits(61, 1)),
            "siloed_borrowing": bool(bits(62, 1)),
            "reserve_factor_bps": bits(64, 16),
            "borrow_cap_tokens": bits(80, 36),
            "supply_cap_tokens": bits(116, 36),
            "liquidation_protocol_fee_bps": bits(152, 16),
            # v3.2+ bits 168-175 are unused (e-mode membership moved to the category bitmaps)
            "emode_category": 0 if self.emode_bitmaps else bits(168, 8),
            "debt_ceiling_cents": bits(212, 40),
        }
        return out


V3_0 = AaveRules(version="3.0", pessimistic_rounding=False, emode_bitmaps=False, emode_ltvzero=False,
                 stable_debt=True, liquidation_v33=False, lt_zero_excluded=True)
V3_1 = AaveRules(version="3.1", pessimistic_rounding=False, emode_bitmaps=False, emode_ltvzero=False,
                 stable_debt=True, liquidation_v33=False, lt_zero_excluded=True)
V3_6 = AaveRules(version="3.6", pessimistic_rounding=True, emode_bitmaps=True, emode_ltvzero=True,
                 stable_debt=False, liquidation_v33=True, lt_zero_excluded=False)

RULES: dict[str, AaveRules] = {r.version: r for r in (V3_0, V3_1, V3_6)}
# Pool.POOL_REVISION -> release. 1/2: v3.0.x (aave-v3-core), 3: v3.1, 10: v3.6 (aave-v3-origin PoolInstance).
POOL_REVISIONS: dict[int, str] = {1: "3.0", 2: "3.0", 3: "3.1", 10: "3.6"}


def supported() -> str:
    """Human list of what is implemented, for error messages."""
    revs = ", ".join(f"{rev} (v{v})" for rev, v in sorted(POOL_REVISIONS.items()))
    return f"Aave v{', v'.join(RULES)} (POOL_REVISION {revs})"


def rules_for(version: str) -> AaveRules:
    """The rules of ``version`` (``"3.0"``, ``"3.1"``, ``"3.6"``; a bare ``"3"`` means v3.0 for old snapshots)."""
    key = "3.0" if version == "3" else ".".join(str(version).split(".")[:2])
    rules = RULES.get(key)
    if rules is None:
        raise BadInputError(f"protocol_version={version!r}: not implemented; supported: {supported()}",
                            field="protocol_version", value=version)
    return rules


def version_for_revision(revision: int) -> str | None:
    """The release whose rules a pool reporting ``POOL_REVISION`` = ``revision`` runs, or None if unknown."""
    return POOL_REVISIONS.get(int(revision))
