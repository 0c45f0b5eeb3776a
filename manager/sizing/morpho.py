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
from manager.sizing._checks import BadInputError, NoDebtError, target_health
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
