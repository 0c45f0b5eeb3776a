"""Morpho Blue exact math: share conversions, health, liquidation incentive, liquidation sizes.

Mirrors morpho-org/morpho-blue (tag v1.0.0 math): ``src/Morpho.sol`` (``_isHealthy``, ``liquidate``,
``borrow``), ``src/libraries/SharesMathLib.sol`` (virtual shares 1e6 / virtual assets 1),
``src/libraries/MathLib.sol`` (``mulDivDown``/``mulDivUp``/``wMulDown``/``wDivUp``) and
``src/libraries/ConstantsLib.sol``. The oracle price is collateral in loan units scaled by
``1e36 + loanDecimals - collateralDecimals``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from pydantic import Field

from manager.domain import Frozen
from manager.sizing._checks import BadInputError, NoDebtError, finite, target_health
from manager.sizing.caps import SizingLimits, describe_binding
from manager.sizing.depth import SwapModel
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
    return float(per_unit * 10 ** (market.collateral_decimals - market.loan_decimals))


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
    """One round: withdraw ``collateral_wei``, sell it for at least ``min_loan_out_wei``, repay ``repay_assets_wei``."""

    collateral_wei: int
    min_loan_out_wei: int
    repay_all_shares: int = 0  # > 0: the round repays the whole debt by shares (``repay(0, shares)``)
    repay_assets_wei: int  # what the repay pulls (<= min_loan_out_wei, or toAssetsUp(all shares))
    health_after_withdraw: float
    health_after: float
    binding: str = "target"  # what sized this round (target, safety_floor_round, per_action_cap, pool_depth...)
    collateral_usd: float | None = None  # USD value of the collateral sold (None: no USD price)


class MorphoDeleveragePlan(Frozen):
    rounds: tuple[MorphoDeleverageRound, ...]
    health_before: float
    projected_health: float
    target_health: float
    feasible: bool
    binding_constraint: str
    reason: str
    swap_source: str = "oracle_fallback"  # "depth_curve": sales valued from the pool's exact quotes


class _Sale:
    """Guaranteed loan-token output for collateral sold into one pool, cumulative over a plan's rounds.

    Without a ``SwapModel`` a sale is valued at the oracle price less ``haircut_bps``, in integers exactly
    as before (``floor(floor(x·price/1e36)·(1e4 - haircut)/1e4)``). With one (a depth curve), ``used``
    collateral already sold earlier in the plan moves along the curve: the pool is not assumed to recover.
    """

    def __init__(self, oracle_price: int, haircut_bps: int, model: SwapModel | None) -> None:
        self.price = oracle_price
        self.keep_bps = 10_000 - haircut_bps
        self.model = model
        self.used = 0

    def _out_used(self) -> float:
        assert self.model is not None
        return self.model.out_wei(self.used) if self.used else 0.0

    def out(self, x: int) -> int:
        """Guaranteed loan wei for selling ``x`` more collateral wei (floor)."""
        if x <= 0:
            return 0
        if self.model is None:
            return mul_div_down(x, self.price, ORACLE_PRICE_SCALE) * self.keep_bps // 10_000
        if self.used + x > self.model.max_in_wei:
            return 0
        return max(0, math.floor(self.model.out_wei(self.used + x) - self._out_used()))

    def input_for(self, y: int) -> int | None:
        """Smallest ``x`` with ``out(x) >= y``; None when the pool's quoted depth cannot deliver ``y``."""
        if y <= 0:
            return 0
        if self.model is None:  # exact: floor(x·P/S) >= z  <=>  x >= ceil(z·S/P), z = ceil(1e4·y/keep)
            z = -(-10_000 * y // self.keep_bps)
            return -(-z * ORACLE_PRICE_SCALE // self.price)
        raw = self.model.input_for_output(self._out_used() + y)
        if not math.isfinite(raw):
            return None
        x = max(1, math.ceil(raw - self.used - 1e-9))
        for _ in range(64):  # float error: make sure the guaranteed output really covers y
            if self.out(x) >= y:
                return x
            if self.used + x >= self.model.max_in_wei:
                return None
            x = min(x + 1 + x // 10**9, math.floor(self.model.max_in_wei) - self.used)
        return None

    def segments(self) -> Iterator[tuple[float, float, float, float]]:
        """``(u0, u1, y0, slope)`` of this round's output curve (u: collateral wei sold this round, from 0)."""
        if self.model is None:
            yield 0.0, math.inf, 0.0, self.price / ORACLE_PRICE_SCALE * self.keep_bps / 10_000
            return
        base = self._out_used()
        for x0, x1, y0, slope in self.model.segments(float(self.used)):
            yield x0 - self.used, x1 - self.used, y0 - base, slope

    def rate_cap(self, rate: float) -> float:
        """Largest ``u`` whose round output stays >= ``rate·u`` (the swap's oracle-derived minimum)."""
        best = 0.0
        for u0, u1, y0, slope in self.segments():
            f1 = y0 + slope * (u1 - u0) - rate * u1 if math.isfinite(u1) else (math.inf if slope >= rate else -1.0)
            if f1 >= 0:
                best = u1
                continue
            f0 = y0 - rate * u0
            if f0 >= 0 and slope < rate:
                best = u0 + f0 / (rate - slope)
            break
        return best


def _repay_for(market: MorphoMarket, position: MorphoPosition, t: float) -> int:
    """Smallest repay (loan wei, rounded up) after which ``maxBorrow/borrowed >= t`` exactly; ``borrowed`` if none.

    The repay burns ``toSharesDown(assets)`` and health re-reads ``toAssetsUp``, so ``b - cap`` can be one or
    two units short; this walks up to the exact amount.
    """
    b = borrowed_assets(market, position)
    cap = mul_div_down(max_borrow(market, position), WAD, math.ceil(t * WAD))
    if b <= cap:
        return 0
    r = b - cap
    while r < b:
        m2, p2 = apply_repay_assets(market, position, r)
        after = borrowed_assets(m2, p2)
        if after <= cap:
            return r
        r += max(1, after - cap)
    return b


def plan_deleverage(
    market: MorphoMarket,
    position: MorphoPosition,
    target_hf: float,
    *,
    swap_haircut_bps: int = 100,
    safety_floor_hf: float = 1.01,
    max_rounds: int = 8,
    swap: SwapModel | None = None,
    depth_cap_wei: float = math.inf,
    limits: SizingLimits | None = None,
    collateral_usd_per_wei: float | None = None,
) -> MorphoDeleveragePlan:
    """Rounds of withdraw collateral -> sell for the loan token -> repay that bring HF to ``target_hf``.

    The sale: with ``swap`` (``SwapModel.from_curve`` of the pool's depth curve: the guaranteed output,
    tolerance already applied) the output is read off the curve, cumulatively over the rounds, and each
    round's input is capped by ``depth_cap_wei`` (the pool's depth at ``limits.max_slippage_bps``, less what
    earlier rounds sold) and by the swap's oracle-derived minimum (``max_slippage_bps`` below the oracle:
    what the plan and the policy require of the swap). Without it, a sale is valued at the oracle price
    less ``swap_haircut_bps`` (rounded down) and the post-round health does not depend on the pool.

    ``limits`` (``SizingLimits``) replaces ``safety_floor_hf`` / ``max_rounds`` with its own and adds the
    per-action and per-day USD caps on the collateral sold per round (``collateral_usd_per_wei`` converts
    them; without it the USD caps cannot apply and the reason says so) and the dust threshold.

    Per round the withdrawal keeps the exact HF >= the safety floor (``withdrawCollateral`` requires
    ``_isHealthy`` afterwards). A round that reaches the target repays exactly what the target needs
    (rounded up through ``toSharesDown``/``toAssetsUp``) from the smallest sale that guarantees it; a round
    stopped by a bound sells the bound and repays everything the sale guarantees. Every round is re-checked
    with the exact share math. An unreachable target gives the best reachable health and the binding name.

    Closed form per segment of the output curve ``y(u) = α + s·u``, with ``c`` collateral, ``q`` the oracle
    price, ``B`` borrowed, ``L`` LLTV: ``HF(u) = (c - u)·q·L / (B - y(u))`` = T gives
    ``u = (T·(B - α) - c·q·L) / (T·s - q·L)``.
    """
    t = target_health("target_hf", target_hf)
    if limits is not None:
        safety_floor_hf, max_rounds = limits.safety_floor_hf, limits.max_rounds
    floor_hf = finite("safety_floor_hf", safety_floor_hf)
    if not 1.0 <= floor_hf:
        raise BadInputError(f"safety_floor_hf={safety_floor_hf}: must be >= 1", field="safety_floor_hf",
                            value=safety_floor_hf)
    if isinstance(swap_haircut_bps, bool) or not isinstance(swap_haircut_bps, int) or not 0 <= swap_haircut_bps < 10_000:
        raise BadInputError(f"swap_haircut_bps={swap_haircut_bps}: must be an int in [0, 10000)",
                            field="swap_haircut_bps", value=swap_haircut_bps)
    if collateral_usd_per_wei is not None and not (math.isfinite(collateral_usd_per_wei) and collateral_usd_per_wei > 0):
        raise BadInputError(f"collateral_usd_per_wei={collateral_usd_per_wei}: must be > 0",
                            field="collateral_usd_per_wei", value=collateral_usd_per_wei)
    _check_market(market)
    if borrowed_assets(market, position) == 0:
        raise NoDebtError("borrow_shares=0: nothing to deleverage", field="borrow_shares", value=0)
    hf0 = health_factor(market, position)
    lltv = market.lltv_wad / WAD
    g = (10_000 - swap_haircut_bps) / 10_000
    source = "depth_curve" if swap is not None else "oracle_fallback"

    def empty(feasible: bool, binding: str, reason: str) -> MorphoDeleveragePlan:
        return MorphoDeleveragePlan(rounds=(), health_before=hf0, projected_health=hf0, target_health=t,
                                    feasible=feasible, binding_constraint=binding, reason=reason, swap_source=source)

    if hf0 >= t:
        return empty(True, "already_at_target", f"HF {hf0:.6f} >= target {t:g}")
    if swap is None and t * g <= lltv:
        return empty(False, "swap_haircut", f"target {t:g} x (1 - haircut) <= LLTV {lltv:g}: selling collateral "
                                            "cannot reach it")
    sale = _Sale(market.oracle_price, swap_haircut_bps, swap)
    q = market.oracle_price / ORACLE_PRICE_SCALE  # loan wei per collateral wei
    # NOTE: the plan's swap asks at least the oracle output less max_slippage_bps (and the policy checks
    # it), so a round may not sell past the size where the pool's guaranteed output falls below that.
    min_rate = q * (1 - (limits or SizingLimits()).max_slippage_bps / 10_000) * (1 + 1e-9)
    usd = collateral_usd_per_wei
    per_action = limits.per_action_usd if limits is not None else None
    day_left = limits.per_day_remaining_usd if limits is not None else None
    min_action = limits.min_action_usd if limits is not None else 0.0
    m, p = market, position
    rounds: list[MorphoDeleverageRound] = []
    binding = "target"

    def cap_wei(cap_usd: float | None) -> float:
        if cap_usd is None or usd is None:
            return math.inf
        return math.floor(cap_usd / usd * (1 - 1e-9))  # NOTE: never a hair above the cap in the USD view

    for _ in range(max_rounds):
        if health_factor(m, p) >= t:
            break
        b = borrowed_assets(m, p)
        c = p.collateral_wei
        # the withdrawal must keep HF >= floor before the repay: (c - x)·price·L >= floor·b
        max_floor = c - math.ceil(floor_hf * b / lltv * ORACLE_PRICE_SCALE / m.oracle_price) - 1
        if max_floor <= 0:
            binding = "safety_floor"
            break
        bounds: dict[str, float] = {"collateral_exhausted": float(c), "safety_floor_round": float(max_floor),
                                    "per_action_cap": cap_wei(per_action), "per_day_cap": cap_wei(day_left)}
        if swap is not None:
            bounds["pool_depth"] = max(0.0, depth_cap_wei - sale.used)
            bounds["slippage_vs_oracle"] = sale.rate_cap(min_rate)
        x_clear = sale.input_for(b)
        bounds["debt_repaid"] = float(x_clear) if x_clear is not None else math.inf
        bound_name = min(bounds, key=lambda k: bounds[k])
        bound = bounds[bound_name]
        # float solve on the segments of this round's output curve
        hit, u_best, h_best = False, 0.0, health_factor(m, p)
        u = 0.0
        for u0, u1, y0, slope in sale.segments():
            hi = min(u1, bound)
            if hi < u0:
                break
            den_hi = b - (y0 + slope * (hi - u0))
            h_hi = math.inf if den_hi <= 0 else (c - hi) * q * lltv / den_hi
            if h_hi >= t:
                alpha = y0 - slope * u0
                den = t * slope - q * lltv
                u = (t * (b - alpha) - c * q * lltv) / den if den > 0 else hi
                u, hit = min(max(u, u0), hi), True
                break
            if h_hi > h_best:
                u_best, h_best = hi, h_hi
            if hi >= bound:
                break
        if not hit:
            u = u_best
            if bound_name != "debt_repaid":
                binding = bound_name if u >= bound * (1 - 1e-12) or not math.isfinite(bound) else "price_impact"
            else:
                binding = "target"
        max_x = math.floor(min(bound, bounds["debt_repaid"])) if math.isfinite(bound) else c
        max_x = min(max_x, c)
        # integers: the target's repay rounded up, the smallest sale that guarantees it
        repay = 0
        if hit:
            x = min(max(1, math.ceil(u)), max_x)
            for _ in range(8):
                r = _repay_for(m, apply_withdraw_collateral(p, x), t)
                x_need = sale.input_for(r)
                if x_need is None or x_need > max_x:
                    hit, x, binding = False, max_x, bound_name
                    break
                if x_need <= x:  # less collateral sold than assumed: the same repay still reaches t
                    x, repay = x_need, r
                    break
                x = x_need
            else:
                hit = False
            if hit:
                binding = "target"
        else:
            x = min(max(0, math.floor(u)), max_x)
        # the withdraw leg, exactly: healthy and >= the floor
        p_w = apply_withdraw_collateral(p, x) if x > 0 else p
        while x > 0 and (not is_healthy(m, p_w) or health_factor(m, p_w) < floor_hf):
            x -= max(1, x // 10_000)
            hit, binding = False, "safety_floor_round"
            p_w = apply_withdraw_collateral(p, x) if x > 0 else p
        if x <= 0:
            binding = "safety_floor" if binding.startswith("safety_floor") else (binding if binding != "target"
                                                                                  else "dust")
            break
        y = sale.out(x)
        if not hit:
            repay = y
        if y <= 0 or repay <= 0:
            binding = "dust"
            break
        x_usd = x * usd if usd is not None else None
        if x_usd is not None and x_usd < min_action and not rounds and not hit:
            # NOTE: a sale cut below the dust size by the user's own cap is bound by that cap
            binding = bound_name if bound_name in ("per_action_cap", "per_day_cap") else "min_action_usd"
            break
        if repay >= b:  # the sale covers the whole debt: repay every share
            shares = p.borrow_shares
            m2, p2, paid = apply_repay_shares(m, p_w, shares)
            rounds.append(MorphoDeleverageRound(collateral_wei=x, min_loan_out_wei=max(y, paid),
                                                repay_all_shares=shares, repay_assets_wei=paid,
                                                health_after_withdraw=health_factor(m, p_w), health_after=math.inf,
                                                binding="debt_repaid", collateral_usd=x_usd))
            m, p = m2, p2
            binding = "target"
            break
        m2, p2 = apply_repay_assets(m, p_w, repay)
        if health_factor(m2, p2) <= health_factor(m, p):  # integer dust: the round would not help
            binding = "dust" if binding == "target" else binding
            break
        rounds.append(MorphoDeleverageRound(collateral_wei=x, min_loan_out_wei=repay, repay_assets_wei=repay,
                                            health_after_withdraw=health_factor(m, p_w),
                                            health_after=health_factor(m2, p2), binding=binding,
                                            collateral_usd=x_usd))
        m, p = m2, p2
        sale.used += x
        if day_left is not None and x_usd is not None:
            day_left = max(0.0, day_left - x_usd)
        if binding in ("per_day_cap", "pool_depth", "slippage_vs_oracle", "price_impact"):
            break  # NOTE: another round would face the same (or a tighter) bound
    else:
        binding = "max_rounds" if health_factor(m, p) < t else binding
    hf_end = health_factor(m, p)
    # NOTE: the target rounds are exact (maxBorrow/borrowed >= t); a shortfall means a bound stopped the plan.
    feasible = hf_end >= t * (1 - 1e-6)
    sized_by = next((r.binding for r in rounds if r.binding not in ("target", "debt_repaid")), "target")
    parts = [f"{len(rounds)} round(s): HF {hf0:.6f} -> {hf_end:.6f} (target {t:g})"]
    if rounds and sized_by != "target":
        parts.append(f"rounds sized by {sized_by}")
    if usd is None and (per_action is not None or day_left is not None):
        parts.append("USD caps not applied: no USD price for the collateral")
    if not feasible:
        shown = describe_binding(binding, limits) if limits is not None else binding
        parts.append(f"target not reachable: stopped by {shown}; best reachable HF {hf_end:.6f}")
    return MorphoDeleveragePlan(rounds=tuple(rounds), health_before=hf0, projected_health=hf_end, target_health=t,
                                feasible=feasible, binding_constraint=sized_by if feasible else binding,
                                reason="; ".join(parts), swap_source=source)
