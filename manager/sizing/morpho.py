"""Morpho Blue exact math: share conversions, health, liquidation incentive, liquidation sizes.

Mirrors morpho-org/morpho-blue (tag v1.0.0 math): ``src/Morpho.sol`` (``_isHealthy``, ``liquidate``,
``borrow``), ``src/libraries/SharesMathLib.sol`` (virtual shares 1e6 / virtual assets 1),
``src/libraries/MathLib.sol`` (``mulDivDown``/``mulDivUp``/``wMulDown``/``wDivUp``) and
``src/libraries/ConstantsLib.sol``. The oracle price is collateral in loan units scaled by
``1e36 + loanDecimals - collateralDecimals``.
"""

from __future__ import annotations

import math

from pydantic import Field

from manager.domain import Frozen
from manager.sizing._checks import BadInputError, NoDebtError, finite, target_health
from manager.sizing.fixed import WAD, mul_div_down, mul_div_up, w_div_down, w_div_up, w_mul_down

ORACLE_PRICE_SCALE = 10**36
LIQUIDATION_CURSOR_WAD = 3 * 10**17
MAX_LIQUIDATION_INCENTIVE_FACTOR_WAD = 115 * 10**16
VIRTUAL_SHARES = 10**6
VIRTUAL_ASSETS = 1


class MorphoMarket(Frozen):
    """A market's parameters and totals (``Morpho.market(id)`` + ``idToMarketParams``) at one block."""

    loan_token: str = ""
    collateral_token: str = ""
    loan_symbol: str = ""
    collateral_symbol: str = ""
    loan_decimals: int = Field(ge=0, le=36)
    collateral_decimals: int = Field(ge=0, le=36)
    lltv_wad: int = Field(gt=0, lt=WAD)
    total_supply_assets: int = Field(default=0, ge=0)
    total_supply_shares: int = Field(default=0, ge=0)
    total_borrow_assets: int = Field(ge=0)
    total_borrow_shares: int = Field(ge=0)
    oracle_price: int  # IOracle.price(), scaled 1e36 + dL - dC
    block_number: int = 0


class MorphoPosition(Frozen):
    """``Morpho.position(id, user)``."""

    supply_shares: int = Field(default=0, ge=0)
    borrow_shares: int = Field(ge=0)
    collateral_wei: int = Field(ge=0)


def _check_market(m: MorphoMarket) -> None:
    if m.oracle_price <= 0:
        raise BadInputError(f"oracle_price={m.oracle_price}: must be > 0", field="oracle_price", value=m.oracle_price)


# --- SharesMathLib --------------------------------------------------------------------------------
def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    return mul_div_down(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    return mul_div_up(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    return mul_div_down(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    return mul_div_up(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


# --- health -------------------------------------------------------------------------------------
def borrowed_assets(market: MorphoMarket, position: MorphoPosition) -> int:
    """Debt in loan-token units, rounded **up** (``toAssetsUp``), as ``_isHealthy`` does."""
    return to_assets_up(position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares)


def max_borrow(market: MorphoMarket, position: MorphoPosition) -> int:
    """``wMulDown(mulDivDown(collateral, price, 1e36), lltv)``."""
    _check_market(market)
    return w_mul_down(mul_div_down(position.collateral_wei, market.oracle_price, ORACLE_PRICE_SCALE), market.lltv_wad)


def is_healthy(market: MorphoMarket, position: MorphoPosition) -> bool:
    """``Morpho._isHealthy``: true with no borrow shares, else ``maxBorrow >= borrowed``."""
    if position.borrow_shares == 0:
        return True
    return max_borrow(market, position) >= borrowed_assets(market, position)


def health_factor(market: MorphoMarket, position: MorphoPosition) -> float:
    """``collateral·price/1e36·LLTV / borrowed`` as a float (``inf`` without debt)."""
    _check_market(market)
    b = borrowed_assets(market, position)
    if b == 0:
        return math.inf
    return position.collateral_wei * market.oracle_price / ORACLE_PRICE_SCALE * (market.lltv_wad / WAD) / b


def liquidation_price(market: MorphoMarket, position: MorphoPosition) -> float | None:
    """Collateral price in loan tokens per collateral token (decimals applied) at which HF = 1; None without debt."""
    b = borrowed_assets(market, position)
    if b == 0:
        return None
    if position.collateral_wei == 0:
        return math.inf
    per_unit = b / (position.collateral_wei * market.lltv_wad / WAD)  # loan wei per collateral wei
    return per_unit * 10 ** (market.collateral_decimals - market.loan_decimals)


def ltv(market: MorphoMarket, position: MorphoPosition) -> float:
    """Borrowed / collateral value (both in loan units)."""
    coll_value = position.collateral_wei * market.oracle_price / ORACLE_PRICE_SCALE
    b = borrowed_assets(market, position)
    return math.inf if coll_value == 0 and b > 0 else (b / coll_value if coll_value else 0.0)


def liquidation_incentive_factor(lltv_wad: int) -> int:
    """``min(1.15e18, wDivDown(1e18, 1e18 - wMulDown(0.3e18, 1e18 - lltv)))``."""
    return min(MAX_LIQUIDATION_INCENTIVE_FACTOR_WAD,
               w_div_down(WAD, WAD - w_mul_down(LIQUIDATION_CURSOR_WAD, WAD - lltv_wad)))


class MorphoLiquidation(Frozen):
    seized_assets: int
    repaid_shares: int
    repaid_assets: int


def liquidate_by_seized(market: MorphoMarket, seized_assets: int) -> MorphoLiquidation:
    """``liquidate`` given ``seizedAssets``: ``repaidShares = toSharesUp(wDivUp(mulDivUp(seized, price, 1e36), LIF))``."""
    _check_market(market)
    lif = liquidation_incentive_factor(market.lltv_wad)
    quoted = mul_div_up(seized_assets, market.oracle_price, ORACLE_PRICE_SCALE)
    shares = to_shares_up(w_div_up(quoted, lif), market.total_borrow_assets, market.total_borrow_shares)
    assets = to_assets_up(shares, market.total_borrow_assets, market.total_borrow_shares)
    return MorphoLiquidation(seized_assets=seized_assets, repaid_shares=shares, repaid_assets=assets)


def liquidate_by_shares(market: MorphoMarket, repaid_shares: int) -> MorphoLiquidation:
    """``liquidate`` given ``repaidShares``: ``seized = mulDivDown(wMulDown(toAssetsDown(shares), LIF), 1e36, price)``."""
    _check_market(market)
    lif = liquidation_incentive_factor(market.lltv_wad)
    down = to_assets_down(repaid_shares, market.total_borrow_assets, market.total_borrow_shares)
    seized = mul_div_down(w_mul_down(down, lif), ORACLE_PRICE_SCALE, market.oracle_price)
    assets = to_assets_up(repaid_shares, market.total_borrow_assets, market.total_borrow_shares)
    return MorphoLiquidation(seized_assets=seized, repaid_shares=repaid_shares, repaid_assets=assets)


def max_safe_borrow(market: MorphoMarket, position: MorphoPosition, target_hf: float) -> int:
    """Largest extra borrow (loan wei, rounded down) that keeps HF >= ``target_hf`` and stays healthy.

    ``borrow(assets)`` mints ``toSharesUp(assets)`` shares, and health re-reads them with ``toAssetsUp``;
    the result is verified against that exact path and capped by the market's liquidity.
    """
    t = target_health("target_hf", target_hf)
    mb = max_borrow(market, position)
    cap = mul_div_down(mb, WAD, math.ceil(t * WAD))  # borrowed must stay <= maxBorrow / target
    b0 = borrowed_assets(market, position)
    liquidity = max(0, market.total_supply_assets - market.total_borrow_assets)
    amount = max(0, min(cap - b0, liquidity))
    while amount > 0:
        new_shares = to_shares_up(amount, market.total_borrow_assets, market.total_borrow_shares)
        ta = market.total_borrow_assets + amount
        ts = market.total_borrow_shares + new_shares
        after = to_assets_up(position.borrow_shares + new_shares, ta, ts)
        if after <= cap:
            return amount
        amount -= max(1, (after - cap))
    return 0


def repay_for_target(market: MorphoMarket, position: MorphoPosition, target_hf: float) -> int:
    """Loan-token amount to repay (rounded **up**) so that HF >= ``target_hf``; raises if there is no debt."""
    t = target_health("target_hf", target_hf)
    b0 = borrowed_assets(market, position)
    if b0 == 0:
        raise NoDebtError("borrow_shares=0: nothing to repay", field="borrow_shares", value=0)
    cap = mul_div_down(max_borrow(market, position), WAD, math.ceil(t * WAD))
    return max(0, b0 - cap)


# --- interest accrual (Morpho._accrueInterest / MorphoBalancesLib.expectedMarketBalances) ---------
def w_taylor_compounded(rate_per_s_wad: int, elapsed_s: int) -> int:
    """``MathLib.wTaylorCompounded``: ``x + x²/2 + x³/6`` (each term rounded down), ``x = rate·elapsed``."""
    first = rate_per_s_wad * elapsed_s
    second = mul_div_down(first, first, 2 * WAD)
    third = mul_div_down(second, first, 3 * WAD)
    return first + second + third


def accrue_interest(market: MorphoMarket, *, borrow_rate_per_s_wad: int, elapsed_s: int,
                    fee_wad: int = 0) -> MorphoMarket:
    """The market's totals after ``elapsed_s`` of interest, exactly as ``Morpho._accrueInterest`` books them.

    ``borrow_rate_per_s_wad`` is ``IIrm.borrowRateView(params, market)`` on the *stored* market (what
    ``_accrueInterest`` passes to ``borrowRate``); ``elapsed_s = block.timestamp - market.lastUpdate``.
    ``interest = wMulDown(totalBorrowAssets, wTaylorCompounded(rate, elapsed))`` goes to both totals; the
    fee part mints ``toSharesDown(wMulDown(interest, fee), totalSupplyAssets - feeAmount, totalSupplyShares)``
    supply shares. With ``elapsed_s == 0`` the market is returned unchanged.
    """
    if elapsed_s < 0:
        raise BadInputError(f"elapsed_s={elapsed_s}: must be >= 0", field="elapsed_s", value=elapsed_s)
    if elapsed_s == 0 or market.total_borrow_assets == 0:
        return market
    interest = w_mul_down(market.total_borrow_assets, w_taylor_compounded(borrow_rate_per_s_wad, elapsed_s))
    tba = market.total_borrow_assets + interest
    tsa = market.total_supply_assets + interest
    tss = market.total_supply_shares
    if fee_wad:
        fee_amount = w_mul_down(interest, fee_wad)
        tss += to_shares_down(fee_amount, tsa - fee_amount, tss)
    return market.model_copy(update={"total_borrow_assets": tba, "total_supply_assets": tsa,
                                     "total_supply_shares": tss})


# --- position updates (the exact bookkeeping of Morpho.repay / withdrawCollateral / borrow) ----------
def apply_repay_assets(market: MorphoMarket, position: MorphoPosition,
                       assets: int) -> tuple[MorphoMarket, MorphoPosition]:
    """``repay(assets, 0)``: burns ``toSharesDown(assets)`` shares; ``totalBorrowAssets`` floors at 0."""
    shares = to_shares_down(assets, market.total_borrow_assets, market.total_borrow_shares)
    if shares > position.borrow_shares:
        raise BadInputError(f"repay of {assets} burns {shares} shares > the position's {position.borrow_shares}",
                            field="assets", value=assets)
    m = market.model_copy(update={"total_borrow_shares": market.total_borrow_shares - shares,
                                  "total_borrow_assets": max(0, market.total_borrow_assets - assets)})
    return m, position.model_copy(update={"borrow_shares": position.borrow_shares - shares})


def apply_repay_shares(market: MorphoMarket, position: MorphoPosition,
                       shares: int) -> tuple[MorphoMarket, MorphoPosition, int]:
    """``repay(0, shares)``: pays ``toAssetsUp(shares)``; returns (market, position, assets paid)."""
    assets = to_assets_up(shares, market.total_borrow_assets, market.total_borrow_shares)
    m = market.model_copy(update={"total_borrow_shares": market.total_borrow_shares - shares,
                                  "total_borrow_assets": max(0, market.total_borrow_assets - assets)})
    return m, position.model_copy(update={"borrow_shares": position.borrow_shares - shares}), assets


def apply_withdraw_collateral(position: MorphoPosition, assets: int) -> MorphoPosition:
    if assets > position.collateral_wei:
        raise BadInputError(f"withdraw {assets} > collateral {position.collateral_wei}", field="assets", value=assets)
    return position.model_copy(update={"collateral_wei": position.collateral_wei - assets})


def quote_collateral(market: MorphoMarket, collateral_wei: int) -> int:
    """Collateral value in loan-token units at the oracle price, rounded down (``mulDivDown(c, price, 1e36)``)."""
    return mul_div_down(collateral_wei, market.oracle_price, ORACLE_PRICE_SCALE)


# --- deleverage ------------------------------------------------------------------------------------
class MorphoDeleverageRound(Frozen):
    """One round: withdraw ``collateral_wei``, sell it for at least ``min_loan_out_wei``, repay exactly that."""

    collateral_wei: int
    min_loan_out_wei: int
    repay_all_shares: int = 0  # > 0: the round repays the whole debt by shares (``repay(0, shares)``)
    repay_assets_wei: int  # what the repay pulls (== min_loan_out_wei, or toAssetsUp(all shares))
    health_after_withdraw: float
    health_after: float


class MorphoDeleveragePlan(Frozen):
    rounds: tuple[MorphoDeleverageRound, ...]
    health_before: float
    projected_health: float
    target_health: float
    feasible: bool
    binding_constraint: str
    reason: str


def plan_deleverage(
    market: MorphoMarket,
    position: MorphoPosition,
    target_hf: float,
    *,
    swap_haircut_bps: int = 100,
    safety_floor_hf: float = 1.01,
    max_rounds: int = 8,
) -> MorphoDeleveragePlan:
    """Rounds of withdraw collateral -> sell for the loan token -> repay that bring HF to ``target_hf``.

    Each sale is valued at the oracle price less ``swap_haircut_bps`` (rounded down): that is the swap's
    ``min_amount_out`` and exactly what the round repays, so the post-round health does not depend on the
    pool (any surplus from the swap stays in the wallet). Per round the withdrawal keeps the exact HF >=
    ``safety_floor_hf`` (``withdrawCollateral`` requires ``_isHealthy`` afterwards). Every round is
    re-checked with the exact share math (``toSharesDown`` on repay, ``toAssetsUp`` in health).

    Closed form per round with ``C`` collateral value, ``B`` borrowed, ``L`` LLTV, ``g = 1 - haircut``:
    ``HF(x) = (C - x)·L / (B - g·x)`` = T gives ``x = (T·B - C·L) / (T·g - L)`` (loan units); no
    solution when ``T·g <= L`` (selling collateral cannot raise HF that high).
    """
    t = target_health("target_hf", target_hf)
    floor_hf = finite("safety_floor_hf", safety_floor_hf)
    if not 1.0 <= floor_hf:
        raise BadInputError(f"safety_floor_hf={safety_floor_hf}: must be >= 1", field="safety_floor_hf",
                            value=safety_floor_hf)
    if isinstance(swap_haircut_bps, bool) or not isinstance(swap_haircut_bps, int) or not 0 <= swap_haircut_bps < 10_000:
        raise BadInputError(f"swap_haircut_bps={swap_haircut_bps}: must be an int in [0, 10000)",
                            field="swap_haircut_bps", value=swap_haircut_bps)
    _check_market(market)
    if borrowed_assets(market, position) == 0:
        raise NoDebtError("borrow_shares=0: nothing to deleverage", field="borrow_shares", value=0)
    hf0 = health_factor(market, position)
    lltv = market.lltv_wad / WAD
    g = (10_000 - swap_haircut_bps) / 10_000
    if hf0 >= t:
        return MorphoDeleveragePlan(rounds=(), health_before=hf0, projected_health=hf0, target_health=t,
                                    feasible=True, binding_constraint="already_at_target",
                                    reason=f"HF {hf0:.6f} >= target {t:g}")
    if t * g <= lltv:
        return MorphoDeleveragePlan(rounds=(), health_before=hf0, projected_health=hf0, target_health=t,
                                    feasible=False, binding_constraint="swap_haircut",
                                    reason=f"target {t:g} x (1 - haircut) <= LLTV {lltv:g}: selling collateral "
                                           "cannot reach it")
    m, p = market, position
    rounds: list[MorphoDeleverageRound] = []
    binding = "target"

    def sell_value(coll_wei: int) -> int:  # loan wei guaranteed for coll_wei of collateral (floor)
        return quote_collateral(m, coll_wei) * (10_000 - swap_haircut_bps) // 10_000

    for _ in range(max_rounds):
        hf = health_factor(m, p)
        if hf >= t:
            break
        b = borrowed_assets(m, p)
        c_value = quote_collateral(m, p.collateral_wei)
        need_loan = (t * b - c_value * lltv) / (t * g - lltv)  # collateral value to sell, loan units
        x = min(p.collateral_wei, math.ceil(need_loan * ORACLE_PRICE_SCALE / m.oracle_price) + 1)
        # the withdrawal must keep HF >= floor before the repay: (c - x)·price·L >= floor·b
        max_x = p.collateral_wei - math.ceil(floor_hf * b / lltv * ORACLE_PRICE_SCALE / m.oracle_price) - 1
        if max_x <= 0:
            binding = "safety_floor"
            break
        if x > max_x:
            x, binding = max_x, "safety_floor_round"
        else:
            binding = "target"
        # exact: nudge x down while the result overshoots the target by more than one unit of rounding
        p_w = apply_withdraw_collateral(p, x)
        while not is_healthy(m, p_w) or health_factor(m, p_w) < floor_hf:
            x -= max(1, x // 10_000)
            if x <= 0:
                break
            p_w = apply_withdraw_collateral(p, x)
        if x <= 0:
            binding = "safety_floor"
            break
        y = sell_value(x)
        if y <= 0:
            binding = "dust"
            break
        if y >= b:  # the sale covers the whole debt: repay every share
            shares = p.borrow_shares
            m2, p2, paid = apply_repay_shares(m, p_w, shares)
            rounds.append(MorphoDeleverageRound(collateral_wei=x, min_loan_out_wei=y, repay_all_shares=shares,
                                                repay_assets_wei=paid, health_after_withdraw=health_factor(m, p_w),
                                                health_after=math.inf))
            m, p = m2, p2
            break
        m2, p2 = apply_repay_assets(m, p_w, y)
        rounds.append(MorphoDeleverageRound(collateral_wei=x, min_loan_out_wei=y, repay_assets_wei=y,
                                            health_after_withdraw=health_factor(m, p_w),
                                            health_after=health_factor(m2, p2)))
        m, p = m2, p2
    else:
        binding = "max_rounds" if health_factor(m, p) < t else binding
    hf_end = health_factor(m, p)
    # NOTE: the closed form aims exactly at T; integer floors can leave it a hair below T (never more
    # than ~1e-9 relative), which is inside any sane band. A shortfall beyond 1e-6 is reported.
    feasible = hf_end >= t * (1 - 1e-6)
    return MorphoDeleveragePlan(rounds=tuple(rounds), health_before=hf0, projected_health=hf_end, target_health=t,
                                feasible=feasible, binding_constraint=binding if not feasible else "target",
                                reason=f"{len(rounds)} round(s): HF {hf0:.6f} -> {hf_end:.6f} (target {t:g})")
