"""One view of a lending position hedged with a perp: net exposure per underlying and combined risk.

Pure (numpy + the project's sizing modules), whatever the protocols: the lending leg is its loan model
(``manager.sizing.loan.LoanModel.usd_terms``: collateral, weighted collateral and debt in USD per asset, the
protocol's own valuation, e.g. Aave's oracle base currency and liquidation thresholds), the perp leg its perp
model (``manager.sizing.perp.PerpModel``: the protocol's exact remaining margin and liquidation test, e.g.
PerpsV2 ``_remainingMargin`` / ``_canLiquidate``). Snapshots are accepted too (they hand out their models).

- ``exposure_usd``: per underlying ("ETH", "BTC", "USD"...), lending collateral minus debt at oracle
  prices plus the perp's signed notional (``size·price``). WETH and wstETH both map to ETH by default.
- ``equity_usd``: lending collateral - debt + perp remaining margin.
- ``liquidation_move``: the smallest common relative move of the hedged underlying (every asset mapped
  to it moves by the same factor, others fixed) at which either leg becomes liquidatable (lending HF < 1
  or perp ``canLiquidate``), downward and upward, and which leg binds.
- ``var_usd`` / ``es_usd``: one-factor historical-style VaR/ES of the equity change over ``horizon``
  (lognormal moves of the hedged underlying, ``manager.sizing.risk.var_es``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from manager.domain import Frozen
from manager.sizing.loan import LoanModel, LoanSnapshot
from manager.sizing.perp import PerpModel, PerpSnapshotLike, perp_model_of
from manager.sizing.risk import var_es

UNDERLYING: dict[str, str] = {"WETH": "ETH", "wstETH": "ETH", "ETH": "ETH", "WBTC": "BTC", "BTC": "BTC",
                              "USDC": "USD", "DAI": "USD", "sUSD": "USD", "LINK": "LINK"}


class HedgedView(Frozen):
    underlying: str  # the perp's underlying (the hedged factor)
    block_number: int
    exposure_usd: dict[str, float]
    lending_exposure_usd: dict[str, float]
    perp_exposure_usd: float
    hedge_ratio: float  # -perp notional / lending exposure of the underlying (1 = fully hedged)
    lending_equity_usd: float
    perp_equity_usd: float
    equity_usd: float
    lending_health: float
    perp_health: float
    liquidation_move_down: float | None  # e.g. -0.31 = a 31% fall liquidates a leg
    liquidation_move_up: float | None
    binding_leg_down: str | None
    binding_leg_up: str | None
    var_usd: float | None = None
    es_usd: float | None = None
    alpha: float | None = None


def _lending_terms(model: LoanModel, mapping: Mapping[str, str]) -> list[tuple[str, float, float, float]]:
    """(underlying, collateral USD, weighted collateral USD, debt USD) per asset of the loan."""
    return [(mapping.get(sym, sym), coll, weighted, debt) for sym, coll, weighted, debt in model.usd_terms()]


def _first_cross(liquidated: Callable[[float], bool], direction: int, max_up: float = 4.0) -> float | None:
    """The smallest |move| (as k - 1) in ``direction`` at which ``liquidated(k)`` becomes true."""
    if liquidated(1.0):
        return 0.0
    prev = 1.0
    n = 400
    for i in range(1, n + 1):
        k = 1.0 - 0.999 * i / n if direction < 0 else 1.0 + max_up * i / n
        if liquidated(k):
            lo, hi = prev, k  # not liquidated at lo, liquidated at hi
            for _ in range(60):
                mid = (lo + hi) / 2
                if liquidated(mid):
                    hi = mid
                else:
                    lo = mid
            return hi - 1.0
        prev = k
    return None


def hedged_view(lending: LoanModel | LoanSnapshot, perp: PerpModel | PerpSnapshotLike, *,
                mapping: Mapping[str, str] | None = None, sigma: float | None = None, horizon: float = 1 / 365,
                alpha: float = 0.99, n_samples: int = 20_000, seed: int = 0) -> HedgedView:
    """Combine a lending position and a perp position of the same owner into one risk view."""
    from manager.sizing.solver import model_of

    loan, pm = model_of(lending), perp_model_of(perp)
    mp = {**UNDERLYING, **(mapping or {})}
    u = mp.get(pm.market, pm.market)
    terms = _lending_terms(loan, mp)
    lending_exp: dict[str, float] = {}
    for und, coll, _w, debt in terms:
        lending_exp[und] = lending_exp.get(und, 0.0) + coll - debt
    met = pm.metrics()
    perp_exp = met["size"] * met["price_usd"]
    exposure = dict(lending_exp)
    exposure[u] = exposure.get(u, 0.0) + perp_exp
    coll_total = sum(t[1] for t in terms)
    debt_total = sum(t[3] for t in terms)
    perp_eq = met["remaining_margin_usd"]

    def lending_hf(k: float) -> float:
        s = sum(w * (k if und == u else 1.0) for und, _c, w, _d in terms)
        d = sum(debt * (k if und == u else 1.0) for und, _c, _w, debt in terms)
        return math.inf if d == 0 else s / d

    def perp_liq(k: float) -> bool:
        return pm.liquidatable_at(k)

    def which(k: float) -> str:
        return "perp" if perp_liq(k) else "lending"

    def any_liq(k: float) -> bool:
        return lending_hf(k) < 1.0 or perp_liq(k)

    down = _first_cross(any_liq, -1)
    up = _first_cross(any_liq, +1)
    lending_exp_u = lending_exp.get(u, 0.0)
    var = es = None
    if sigma is not None:
        rng = np.random.default_rng(seed)
        x = rng.normal(-0.5 * sigma**2 * horizon, sigma * math.sqrt(horizon), n_samples)
        pnl = exposure[u] * (np.exp(x) - 1.0)
        var, es = var_es(pnl, alpha)
    return HedgedView(
        underlying=u, block_number=max(loan.block_number, pm.block_number), exposure_usd=exposure,
        lending_exposure_usd=lending_exp, perp_exposure_usd=perp_exp,
        hedge_ratio=(-perp_exp / lending_exp_u) if lending_exp_u else 0.0,
        lending_equity_usd=coll_total - debt_total, perp_equity_usd=perp_eq,
        equity_usd=coll_total - debt_total + perp_eq, lending_health=lending_hf(1.0),
        perp_health=met["health"],
        liquidation_move_down=down, liquidation_move_up=up,
        binding_leg_down=None if down is None else which(1.0 + down),
        binding_leg_up=None if up is None else which(1.0 + up),
        var_usd=var, es_usd=es, alpha=alpha if sigma is not None else None,
    )
