"""One view of a lending position hedged with a perp: net exposure per underlying and combined risk.

Pure (numpy + the project's sizing modules). The lending leg is an Aave-shaped
``LendingPositionSnapshot`` valued with ``manager.sizing.aave`` (v3.0 rules, unfloored weighted LT for
the float view); the perp leg is a Synthetix PerpsV2 ``PerpSnapshot`` valued with the integer-exact
emulation in ``manager.sizing.perp`` (``_remainingMargin``, ``_canLiquidate``).

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
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.protocols.synthetix_perps.types import PerpSnapshot
from manager.sizing.aave import exact_position
from manager.sizing.perp import SNX_UNIT, snx_can_liquidate, snx_perp_health, snx_remaining_margin_wad
from manager.sizing.risk import var_es

UNDERLYING: dict[str, str] = {"WETH": "ETH", "wstETH": "ETH", "ETH": "ETH", "WBTC": "BTC", "BTC": "BTC",
                              "USDC": "USD", "DAI": "USD", "sUSD": "USD", "LINK": "LINK"}
PERCENTAGE_FACTOR = 10_000


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


def _lending_terms(snap: LendingPositionSnapshot, mapping: Mapping[str, str]) -> list[tuple[str, float, float, float]]:
    """(underlying, collateral USD, weighted collateral USD, debt USD) per reserve line."""
    pos = exact_position(snap)
    out = []
    for ln in pos.lines:
        px = ln.price_base / snap.base_unit
        coll = ln.collateral_wei / ln.unit * px if ln.counts_as_collateral else 0.0
        debt = ln.debt_wei / ln.unit * px if ln.counts_as_debt else 0.0
        out.append((mapping.get(ln.symbol, ln.symbol), coll, coll * ln.lt_bps / PERCENTAGE_FACTOR, debt))
    return out


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


def hedged_view(lending: LendingPositionSnapshot, perp: PerpSnapshot, *, mapping: Mapping[str, str] | None = None,
                sigma: float | None = None, horizon: float = 1 / 365, alpha: float = 0.99, n_samples: int = 20_000,
                seed: int = 0) -> HedgedView:
    """Combine a lending position and a perp position of the same owner into one risk view."""
    mp = {**UNDERLYING, **(mapping or {})}
    u = mp.get(perp.market.market, perp.market.market)
    terms = _lending_terms(lending, mp)
    lending_exp: dict[str, float] = {}
    for und, coll, _w, debt in terms:
        lending_exp[und] = lending_exp.get(und, 0.0) + coll - debt
    m, pos, ts = perp.market, perp.position, perp.block_timestamp
    price = m.price_wad / SNX_UNIT
    perp_exp = pos.size_wad / SNX_UNIT * price
    exposure = dict(lending_exp)
    exposure[u] = exposure.get(u, 0.0) + perp_exp
    coll_total = sum(t[1] for t in terms)
    debt_total = sum(t[3] for t in terms)
    perp_eq = snx_remaining_margin_wad(m, pos, m.price_wad, ts) / SNX_UNIT

    def lending_hf(k: float) -> float:
        s = sum(w * (k if und == u else 1.0) for und, _c, w, _d in terms)
        d = sum(debt * (k if und == u else 1.0) for und, _c, _w, debt in terms)
        return math.inf if d == 0 else s / d

    def perp_liq(k: float) -> bool:
        return snx_can_liquidate(m, pos, int(m.price_wad * k), ts)

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
        underlying=u, block_number=max(lending.block_number, perp.block_number), exposure_usd=exposure,
        lending_exposure_usd=lending_exp, perp_exposure_usd=perp_exp,
        hedge_ratio=(-perp_exp / lending_exp_u) if lending_exp_u else 0.0,
        lending_equity_usd=coll_total - debt_total, perp_equity_usd=perp_eq,
        equity_usd=coll_total - debt_total + perp_eq, lending_health=lending_hf(1.0),
        perp_health=snx_perp_health(m, pos, m.price_wad, ts),
        liquidation_move_down=down, liquidation_move_up=up,
        binding_leg_down=None if down is None else which(1.0 + down),
        binding_leg_up=None if up is None else which(1.0 + up),
        var_usd=var, es_usd=es, alpha=alpha if sigma is not None else None,
    )
