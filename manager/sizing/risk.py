"""Risk models: volatility estimates, liquidation first-passage probability, VaR/ES, sizing rules.

- ``ewma_volatility`` (RiskMetrics λ-recursion) and ``realized_volatility`` on log returns.
- ``touch_probability``: closed-form first passage of a GBM with drift through a barrier within T
  (reflection principle, X = ln S/S0 = νt + σW, ν = μ - σ²/2):
  lower barrier b < 0: ``Φ((b - νT)/σ√T) + e^{2νb/σ²}·Φ((b + νT)/σ√T)``; the upper barrier mirrors it.
- ``touch_probability_mc``: vectorized Monte Carlo of the same, with the Brownian-bridge crossing
  correction between grid points (so a coarse grid is unbiased) or plain discrete monitoring.
- ``var_es`` (historical), ``position_equity_var_es`` (MC of a lending position's equity with liquidation).
- ``vol_target_size``, ``kelly_fraction`` (fractional, leverage-capped), ``drawdown_throttle``,
  ``rebalance_trades`` (imbalance band toward target weights), and ``trigger_health_factor``: the HF at
  which to act so that P(touching HF = 1 before the action lands) <= ε, for HF ∝ collateral price.

Time is in years unless the name says ``_s``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field
from scipy import optimize, special

from manager.domain import Frozen
from manager.sizing._checks import BadInputError, array, finite, fraction, non_negative, positive

Floats = Any  # a float or an array-like of floats (numpy broadcasts it)

SECONDS_PER_YEAR = 365.25 * 24 * 3600


def _norm_cdf(x: Floats) -> Any:
    return special.ndtr(x)


def log_returns(prices: Floats) -> np.ndarray:
    p = array("prices", prices, positive_only=True)
    if p.ndim != 1 or p.size < 3:
        raise BadInputError(f"prices: need a 1-D series of >= 3 points, got shape {p.shape}", field="prices", value=p.size)
    return np.diff(np.log(p))


def realized_volatility(prices: Floats, periods_per_year: float) -> float:
    """Annualized sample standard deviation of log returns."""
    r = log_returns(prices)
    return float(np.std(r, ddof=1) * math.sqrt(positive("periods_per_year", periods_per_year)))


def ewma_volatility(prices: Floats, periods_per_year: float, lam: float = 0.94) -> float:
    """RiskMetrics EWMA: ``σ²_t = λσ²_{t-1} + (1-λ)r²_t`` seeded with the first squared return; annualized."""
    r = log_returns(prices)
    lam = fraction("lam", lam, allow_zero=False, allow_one=False)
    # Closed form of the recursion: weights (1-λ)λ^(n-1-i) on r_i² plus λ^(n-1) on the seed r_0².
    n = r.size
    w = (1 - lam) * lam ** np.arange(n - 1, -1, -1, dtype=np.float64)
    var = float(np.dot(w[1:], r[1:] ** 2) + lam ** (n - 1) * r[0] ** 2)
    return math.sqrt(var * positive("periods_per_year", periods_per_year))


# ------------------------------------------------------------------------------------------------
# First passage
# ------------------------------------------------------------------------------------------------
def touch_probability(spot: float, barrier: float, sigma: float, horizon: float, mu: float = 0.0) -> float:
    """P(a GBM started at ``spot`` touches ``barrier`` within ``horizon`` years). Scalar; see ``touch_probability_vec``."""
    return float(touch_probability_vec(spot, barrier, sigma, horizon, mu))


def touch_probability_vec(spot: Floats, barrier: Floats, sigma: Floats, horizon: Floats, mu: Floats = 0.0) -> np.ndarray:
    s0 = array("spot", spot, positive_only=True)
    b = array("barrier", barrier, positive_only=True)
    sig = array("sigma", sigma, positive_only=True)
    t = array("horizon", horizon, positive_only=True)
    m = np.asarray(mu, dtype=np.float64)
    if not np.isfinite(m).all():
        raise BadInputError(f"mu={mu!r}: must be finite", field="mu", value=mu)
    nu = m - 0.5 * sig**2
    x = np.log(b / s0)
    st = sig * np.sqrt(t)
    lower = x < 0
    # Work with the distance to the barrier on the side it lies: for an upper barrier flip the drift.
    a = np.abs(x)
    nu_s = np.where(lower, nu, -nu)
    # P(min of (nu_s t + σW) <= -a) = Φ((-a - nu_s T)/σ√T) + exp(-2 nu_s a/σ²) Φ((-a + nu_s T)/σ√T)
    with np.errstate(over="ignore", invalid="ignore"):
        expo = np.exp(np.minimum(-2 * nu_s * a / sig**2, 700.0))
        p = _norm_cdf((-a - nu_s * t) / st) + expo * _norm_cdf((-a + nu_s * t) / st)
    p = np.where(a == 0, 1.0, p)
    return np.clip(p, 0.0, 1.0)


def touch_probability_mc(
    spot: float, barrier: float, sigma: float, horizon: float, mu: float = 0.0, *,
    n_paths: int = 100_000, n_steps: int = 64, seed: int | None = 0, bridge: bool = True, chunk: int = 50_000,
) -> tuple[float, float]:
    """Monte Carlo estimate of ``touch_probability`` and its standard error.

    With ``bridge=True`` each step contributes the exact crossing probability of a Brownian bridge
    between its end points, ``exp(-2(x_i-b)(x_{i+1}-b)/(σ²Δt))``, so the estimator is unbiased even on a
    coarse grid; ``bridge=False`` monitors the grid only (biased low).
    """
    s0 = positive("spot", spot)
    b = positive("barrier", barrier)
    sig = positive("sigma", sigma)
    t = positive("horizon", horizon)
    m = finite("mu", mu)
    if n_paths < 2 or n_steps < 1:
        raise BadInputError(f"n_paths={n_paths}, n_steps={n_steps}: too small", field="n_paths", value=n_paths)
    rng = np.random.default_rng(seed)
    lb = math.log(b / s0)
    sign = 1.0 if lb < 0 else -1.0  # reflect an upper barrier into a lower one (lb_s < 0)
    lb_s = sign * lb
    if lb_s == 0:
        return 1.0, 0.0
    dt = t / n_steps
    drift = sign * (m - 0.5 * sig**2) * dt
    vol = sig * math.sqrt(dt)
    total = 0.0
    total_sq = 0.0
    done = 0
    while done < n_paths:
        n = min(chunk, n_paths - done)
        x = np.cumsum(drift + vol * rng.standard_normal((n, n_steps)), axis=1)
        x = np.concatenate([np.zeros((n, 1)), x], axis=1)
        hit = (x <= lb_s).any(axis=1)
        if bridge:
            d0 = x[:, :-1] - lb_s
            d1 = x[:, 1:] - lb_s
            with np.errstate(over="ignore"):
                cross = np.exp(-2.0 * np.maximum(d0, 0) * np.maximum(d1, 0) / (sig**2 * dt))
            survive = np.prod(1.0 - cross, axis=1)
            est: np.ndarray = np.asarray(np.where(hit, 1.0, 1.0 - survive))
        else:
            est = np.asarray(hit, dtype=np.float64)
        total += float(est.sum())
        total_sq += float((est**2).sum())
        done += n
    mean = total / n_paths
    var = max(0.0, total_sq / n_paths - mean**2)
    return mean, math.sqrt(var / n_paths)


# ------------------------------------------------------------------------------------------------
# VaR / ES
# ------------------------------------------------------------------------------------------------
def var_es(pnl: Floats, alpha: float = 0.99) -> tuple[float, float]:
    """Historical VaR and Expected Shortfall at ``alpha`` of P&L samples, both as positive losses."""
    x = np.asarray(pnl, dtype=np.float64)
    if x.size < 2 or not np.isfinite(x).all():
        raise BadInputError(f"pnl: need >= 2 finite samples (got {x.size})", field="pnl", value=x.size)
    a = fraction("alpha", alpha, allow_zero=False, allow_one=False)
    losses = -x
    var = float(np.quantile(losses, a))
    tail = losses[losses >= var]
    return var, max(var, float(tail.mean()))  # the mean of equal floats can round below them


class EquityRisk(Frozen):
    var_usd: float
    es_usd: float
    liquidation_probability: float
    equity_usd: float
    alpha: float = Field(gt=0, lt=1)


def position_equity_var_es(
    collateral_usd: float, debt_usd: float, sigma: float, horizon: float, *, alpha: float = 0.99,
    mu: float = 0.0, liquidation_price_ratio: float | None = None, liquidation_penalty: float = 0.05,
    n_paths: int = 100_000, n_steps: int = 32, seed: int | None = 0,
) -> EquityRisk:
    """MC VaR/ES of ``equity = collateral·S_T/S_0 - debt`` for volatile collateral and stable debt.

    If the path crosses ``liquidation_price_ratio`` (price / spot at HF = 1), the position is closed
    there and loses ``liquidation_penalty·debt`` (the liquidation bonus paid to the liquidator).
    """
    c = positive("collateral_usd", collateral_usd)
    d = non_negative("debt_usd", debt_usd)
    sig = positive("sigma", sigma)
    t = positive("horizon", horizon)
    pen = fraction("liquidation_penalty", liquidation_penalty)
    rng = np.random.default_rng(seed)
    dt = t / n_steps
    z = rng.standard_normal((n_paths, n_steps))
    x = np.cumsum((finite("mu", mu) - 0.5 * sig**2) * dt + sig * math.sqrt(dt) * z, axis=1)
    eq0 = c - d
    eq_t = c * np.exp(x[:, -1]) - d
    p_liq = 0.0
    if liquidation_price_ratio is not None and d > 0:
        r_l = positive("liquidation_price_ratio", liquidation_price_ratio)
        lb = math.log(r_l)
        hit = (x <= lb).any(axis=1) | (lb >= 0)
        eq_t = np.where(hit, c * r_l - d - pen * d, eq_t)
        p_liq = float(hit.mean())
    var, es = var_es(eq_t - eq0, alpha)
    return EquityRisk(var_usd=var, es_usd=es, liquidation_probability=p_liq, equity_usd=eq0, alpha=alpha)


# ------------------------------------------------------------------------------------------------
# Sizing rules
# ------------------------------------------------------------------------------------------------
def vol_target_size(equity_usd: float, target_vol: float, asset_vol: float, *, max_leverage: float = math.inf) -> float:
    """Notional such that the position's volatility is ``target_vol``: ``equity·σ_target/σ_asset``, leverage-capped."""
    e = non_negative("equity_usd", equity_usd)
    size = e * positive("target_vol", target_vol) / positive("asset_vol", asset_vol)
    return min(size, e * positive("max_leverage", max_leverage)) if math.isfinite(max_leverage) else size


def kelly_fraction(mu: float, sigma: float, *, risk_free: float = 0.0, fraction_of_kelly: float = 0.5,
                   max_leverage: float = 3.0) -> float:
    """Fractional Kelly leverage ``c·(μ - r)/σ²`` clipped to ``[0, max_leverage]``."""
    f = (finite("mu", mu) - finite("risk_free", risk_free)) / positive("sigma", sigma) ** 2
    c = fraction("fraction_of_kelly", fraction_of_kelly)
    return float(min(max(c * f, 0.0), positive("max_leverage", max_leverage)))


def drawdown_throttle(equity_curve: Floats, *, start_drawdown: float = 0.05, max_drawdown: float = 0.20,
                      min_scale: float = 0.0) -> float:
    """Risk scale in [min_scale, 1]: 1 until the drawdown from peak reaches ``start``, linear to ``min_scale`` at ``max``."""
    e = array("equity_curve", equity_curve, positive_only=True)
    s0 = fraction("start_drawdown", start_drawdown)
    s1 = fraction("max_drawdown", max_drawdown, allow_zero=False)
    if s1 <= s0:
        raise BadInputError(f"max_drawdown={max_drawdown}: must exceed start_drawdown={start_drawdown}",
                            field="max_drawdown", value=max_drawdown)
    lo = fraction("min_scale", min_scale)
    dd = 1.0 - float(e[-1] / e.max())
    if dd <= s0:
        return 1.0
    if dd >= s1:
        return lo
    return 1.0 - (1.0 - lo) * (dd - s0) / (s1 - s0)


class Rebalance(Frozen):
    trades_usd: tuple[float, ...]  # + buy/add, - sell/reduce, per position
    weights_before: tuple[float, ...]
    max_imbalance: float
    triggered: bool


def rebalance_trades(values_usd: Floats, target_weights: Floats, *, band: float = 0.05, min_trade_usd: float = 0.0) -> Rebalance:
    """Move every position to its target weight when the largest weight gap exceeds ``band``.

    Trades below ``min_trade_usd`` are dropped; the rest are scaled so that buys equal sells.
    """
    v = array("values_usd", values_usd)
    w = array("target_weights", target_weights)
    if v.shape != w.shape or v.ndim != 1:
        raise BadInputError(f"target_weights: shape {w.shape} != values shape {v.shape}", field="target_weights", value=w.size)
    if abs(w.sum() - 1.0) > 1e-9:
        raise BadInputError(f"target_weights: sum {w.sum()} != 1", field="target_weights", value=float(w.sum()))
    total = v.sum()
    if total <= 0:
        raise BadInputError("values_usd: total is 0", field="values_usd", value=0.0)
    cur = v / total
    gap = float(np.abs(cur - w).max())
    if gap <= fraction("band", band):
        return Rebalance(trades_usd=tuple(0.0 for _ in v), weights_before=tuple(cur), max_imbalance=gap, triggered=False)
    t = w * total - v
    t[np.abs(t) < non_negative("min_trade_usd", min_trade_usd)] = 0.0
    buys, sells = t[t > 0].sum(), -t[t < 0].sum()
    if buys > 0 and sells > 0:
        scale = min(buys, sells)
        t = np.where(t > 0, t * scale / buys, t * scale / sells)
    else:
        t[:] = 0.0
    return Rebalance(trades_usd=tuple(float(x) for x in t), weights_before=tuple(cur), max_imbalance=gap, triggered=True)


def trigger_health_factor(sigma: float, reaction_s: float, epsilon: float, *, mu: float = 0.0) -> float:
    """The HF at which to act so that P(HF touches 1 before the action lands) <= ``epsilon``.

    For one volatile collateral against stable debt HF is proportional to the price, so HF = h touches 1
    when the price falls by the factor 1/h; ``reaction_s`` covers detection, gas and inclusion. Solves
    ``touch_probability(1, 1/h, σ, T) = ε`` for h (monotone in h).
    """
    sig = positive("sigma", sigma)
    t = positive("reaction_s", reaction_s) / SECONDS_PER_YEAR
    eps = fraction("epsilon", epsilon, allow_zero=False, allow_one=False)
    m = finite("mu", mu)

    def f(log_h: float) -> float:
        return touch_probability(1.0, math.exp(-log_h), sig, t, m) - eps

    hi = 1.0
    while f(hi) > 0:
        hi *= 2
        if hi > 100:
            raise BadInputError(f"epsilon={epsilon}: no trigger below HF e^100", field="epsilon", value=epsilon)
    return math.exp(optimize.brentq(f, 1e-15, hi, xtol=1e-14, rtol=1e-12))
