"""Snapshot builders for the sizing tests (Aave v3.0-shaped, USD base with 8 decimals)."""

from __future__ import annotations

from manager.domain import DepthCurve, EModeCategory, PositionAsset, QuotePoint, ReserveState
from manager.protocols.aave_v3.types import LendingPositionSnapshot

WETH = "0x000000000000000000000000000000000000e001"
USDC = "0x000000000000000000000000000000000000e002"
WSTETH = "0x000000000000000000000000000000000000e003"
USDT = "0x000000000000000000000000000000000000e004"

PARAMS = {
    # symbol: (address, decimals, ltv, lt)
    "WETH": (WETH, 18, 8000, 8250),
    "USDC": (USDC, 6, 7700, 8000),
    "wstETH": (WSTETH, 18, 7800, 8100),
    "USDT": (USDT, 6, 7500, 8000),
}


def reserve(symbol: str, price_base: int, *, ltv: int | None = None, lt: int | None = None, **kw) -> ReserveState:
    addr, dec, ltv0, lt0 = PARAMS[symbol]
    kw.setdefault("available_liquidity_wei", 10**40)
    return ReserveState(asset=addr, symbol=symbol, decimals=dec, ltv_bps=ltv0 if ltv is None else ltv,
                        liquidation_threshold_bps=lt0 if lt is None else lt, liquidation_bonus_bps=10500,
                        liquidation_protocol_fee_bps=1000, price_base=price_base, **kw)


def snapshot(reserves: list[ReserveState], balances: dict[str, tuple[int, int]], **kw) -> LendingPositionSnapshot:
    """``balances``: symbol -> (collateral_wei, variable_debt_wei); collateral enabled when > 0."""
    by_sym = {r.symbol: r for r in reserves}
    assets = tuple(
        PositionAsset(asset=by_sym[s].asset, symbol=s, collateral_wei=c, variable_debt_wei=d,
                      collateral_enabled=c > 0, borrowing=d > 0)
        for s, (c, d) in balances.items()
    )
    return LendingPositionSnapshot(account="0x00000000000000000000000000000000000000aa", block_number=100,
                                   block_timestamp=1_700_000_000, reserves={r.asset: r for r in reserves},
                                   assets=assets, **kw)


def a1(weth_price_base: int = 2000 * 10**8, debt_usdc: int = 10_000) -> LendingPositionSnapshot:
    """Notes A1: 10 WETH collateral, USDC debt."""
    return snapshot([reserve("WETH", weth_price_base), reserve("USDC", 10**8)],
                    {"WETH": (10 * 10**18, 0), "USDC": (0, debt_usdc * 10**6)})


def emode(ltv: int = 9300, lt: int = 9500) -> EModeCategory:
    return EModeCategory(id=1, ltv_bps=ltv, liquidation_threshold_bps=lt, liquidation_bonus_bps=10100, label="ETH")


def cpmm_curve(token_in: str, token_out: str, reserve_in_wei: float, reserve_out_wei: float, *,
               fee_pips: int = 3000, dec_in: int = 18, dec_out: int = 6, n: int = 40,
               max_fraction: float = 0.5) -> DepthCurve:
    """Quotes of a constant-product pool, the way a watcher would hand them over."""
    pts = []
    u = 1 - fee_pips / 1e6
    for i in range(1, n + 1):
        x = reserve_in_wei * max_fraction * (i / n) ** 2
        out = reserve_out_wei * x * u / (reserve_in_wei + x * u)
        pts.append(QuotePoint(amount_in_wei=int(x), amount_out_wei=int(out)))
    mid = reserve_out_wei / reserve_in_wei * 10 ** (dec_in - dec_out)
    return DepthCurve(pool="0xpool", token_in=token_in, token_out=token_out, decimals_in=dec_in, decimals_out=dec_out,
                      fee_pips=fee_pips, block_number=100, mid_price=mid, points=tuple(pts))
