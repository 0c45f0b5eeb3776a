"""Vectorized float64 lending math over arrays of N positions (numpy), and the closed-form solvers.

Shapes: per-asset arrays are ``(N, A)`` (N positions, A assets; zero-pad unused slots), per-position
arrays ``(N,)``. Amounts are in base units (Aave: USD·1e8) as float64.

Health: ``health_factor``: ``Σ c_i·lt_i / D`` (the un-floored weighted LT). A protocol's own per-version float
health over many snapshots lives in its folder (``manager/protocols/<kind>/vector.py``).

Closed forms (notes §6, "Deleveraging and leverage math"):
- repay from collateral k: ``x = (HF_t·D - S) / (HF_t·g' - LT_k)``, ``g' = g/(1+p)`` with a flash loan;
- boost: ``Δ = (S - HF_t·D) / (HF_t·(1+p) - g·LT_k)``;
- max borrow for a target: ``S/HF_t - D``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from manager.sizing._checks import BadInputError, array, finite

Floats = Any  # a float or an array-like of floats (numpy broadcasts it)

BPS = 1e4
WAD = 1e18


def _lt(lt: np.ndarray, name: str = "lt") -> np.ndarray:
    """LTs as fractions in (0, 1]: 0 or above 1 is bad input here (exclude LT-0 assets before calling)."""
    a = np.asarray(lt, dtype=np.float64)
    bad = ~np.isfinite(a) | (a <= 0) | (a > 1)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise BadInputError(f"{name}[{i}]={a.ravel()[i]!r}: must be in (0, 1]", field=name, value=float(a.ravel()[i]))
    return a


def _target(t: Floats, name: str = "target_hf") -> np.ndarray:
    a = np.asarray(t, dtype=np.float64)
    bad = ~np.isfinite(a) | (a <= 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise BadInputError(f"{name}[{i}]={a.ravel()[i]!r}: a target health factor must be > 1", field=name,
                            value=float(a.ravel()[i]))
    return a


# ------------------------------------------------------------------------------------------------
# Health, LTV, available borrows, liquidation prices
# ------------------------------------------------------------------------------------------------
def weighted_collateral(coll_base: Floats, lt: Floats) -> np.ndarray:
    """``S = Σ_i c_i·lt_i`` per position."""
    c = array("coll_base", coll_base)
    lt_a = _lt(lt)
    return np.asarray((c * lt_a).sum(axis=-1) if c.ndim > 1 else c * lt_a)


def health_factor(coll_base: Floats, lt: Floats, debt_base: Floats, *, check: bool = True) -> np.ndarray:
    """``HF = Σ c_i·lt_i / D``; ``inf`` where the debt is 0. ``check=False`` skips validation (hot loops)."""
    if check:
        s = weighted_collateral(coll_base, lt)
        d = array("debt_base", debt_base)
    else:
        c = np.asarray(coll_base, dtype=np.float64)
        s = (c * lt).sum(axis=-1) if c.ndim > 1 else c * lt
        d = np.asarray(debt_base, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, s / np.where(d > 0, d, 1.0), np.inf)


def ltv(coll_base: Floats, ltv_frac: Floats) -> np.ndarray:
    """Collateral-weighted LTV per position (0 where there is no collateral)."""
    c = array("coll_base", coll_base)
    w = np.asarray(ltv_frac, dtype=np.float64)
    tot = c.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 0, (c * w).sum(axis=-1) / np.where(tot > 0, tot, 1.0), 0.0)


def liquidation_threshold(coll_base: Floats, lt: Floats) -> np.ndarray:
    c = array("coll_base", coll_base)
    tot = c.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 0, (c * _lt(lt)).sum(axis=-1) / np.where(tot > 0, tot, 1.0), 0.0)


def available_borrows(coll_base: Floats, ltv_frac: Floats, debt_base: Floats) -> np.ndarray:
    """``max(0, Σ c_i·ltv_i - D)``."""
    c = array("coll_base", coll_base)
    d = array("debt_base", debt_base)
    return np.asarray(np.maximum(0.0, (c * np.asarray(ltv_frac, dtype=np.float64)).sum(axis=-1) - d))


def liquidation_price(coll_tokens: Floats, price: Floats, lt: Floats, debt_base: Floats, asset: int) -> np.ndarray:
    """Price of asset column ``asset`` (others fixed) at which HF = 1; NaN-free: ``inf`` marks "unreachable".

    ``coll_tokens`` (N, A) in whole tokens, ``price`` (N, A) base per token, ``debt_base`` (N,) stable debt.
    Returns 0 where the position has no debt (can never be liquidated by this price).
    """
    q = array("coll_tokens", coll_tokens)
    p = array("price", price, positive_only=True)
    lt_a = _lt(lt)
    d = array("debt_base", debt_base)
    s_other = (q * p * lt_a).sum(axis=-1) - q[..., asset] * p[..., asset] * np.broadcast_to(lt_a, q.shape)[..., asset]
    slope = q[..., asset] * np.broadcast_to(lt_a, q.shape)[..., asset]
    with np.errstate(divide="ignore", invalid="ignore"):
        px = np.where(slope > 0, (d - s_other) / np.where(slope > 0, slope, 1.0), np.inf)
    return np.where(d > 0, np.maximum(px, 0.0), 0.0)


# ------------------------------------------------------------------------------------------------
# Closed-form sizes
# ------------------------------------------------------------------------------------------------
def repay_from_collateral(s: Floats, d: Floats, lt_k: Floats, g: Floats, target_hf: Floats, premium: Floats = 0.0) -> Any:
    """Base value ``x`` of collateral k to withdraw and sell (and the repay ``x·g/(1+p)``) to reach the target.

    Returns ``(x, repay, valid)``; ``valid`` is False where ``HF_t·g' <= LT_k`` (selling k cannot raise HF)
    and then ``x`` is ``inf``. ``x`` is 0 where the target is already met.
    """
    s_a = array("S", s)
    d_a = array("D", d)
    t = _target(target_hf)
    lt_a = _lt(lt_k, "lt_k")
    g_a = array("g", g, positive_only=True)
    p = array("premium", premium)
    g_eff = g_a / (1.0 + p)
    den = t * g_eff - lt_a
    valid = den > 0
    need = np.maximum(t * d_a - s_a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(valid, need / np.where(valid, den, 1.0), np.inf)
    x = np.where(need == 0, 0.0, x)
    return x, x * g_eff, valid | (need == 0)


def boost_amount(s: Floats, d: Floats, lt_k: Floats, g: Floats, target_hf: Floats, premium: Floats = 0.0) -> Any:
    """Borrow ``Δ`` (base) that, swapped with retention g and supplied to k, lands on the target.

    ``Δ = (S - HF_t·D) / (HF_t·(1+p) - g·LT_k)``; 0 where the position is already at/below the target.
    """
    s_a = array("S", s)
    d_a = array("D", d)
    t = _target(target_hf)
    lt_a = _lt(lt_k, "lt_k")
    g_a = array("g", g, positive_only=True)
    p = array("premium", premium)
    den = t * (1.0 + p) - g_a * lt_a
    room = np.maximum(s_a - t * d_a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, room / np.where(den > 0, den, 1.0), np.inf)


def max_borrow_for_target(s: Floats, d: Floats, target_hf: Floats) -> np.ndarray:
    """``max(0, S/HF_t - D)`` (base), before LTV/caps."""
    return np.asarray(np.maximum(array("S", s) / _target(target_hf) - array("D", d), 0.0))


def deleverage_batch(coll_base: Floats, lt: Floats, g: Floats, debt_base: Floats, target_hf: Floats, premium: Floats = 0.0) -> Any:
    """Greedy multi-collateral deleverage for N positions at once.

    Sells collateral in decreasing ``HF_t·g_k/(1+p) - LT_k`` order, each up to its balance, until the
    target is met. Returns ``(x (N, A) base sold per asset, repay (N,) base, reached (N,) bool, hf (N,))``.
    """
    c = array("coll_base", coll_base)
    lt_a = np.broadcast_to(_lt(lt), c.shape)
    g_a = np.broadcast_to(array("g", g, positive_only=True), c.shape)
    d = array("debt_base", debt_base).copy()
    t = _target(np.broadcast_to(np.asarray(target_hf, dtype=np.float64), d.shape))
    p = float(finite("premium", premium))
    ge = g_a / (1.0 + p)
    eff = t[:, None] * ge - lt_a
    order = np.argsort(-eff, axis=1)
    rows = np.arange(c.shape[0])
    s = (c * lt_a).sum(axis=1)
    x = np.zeros_like(c)
    for col in range(c.shape[1]):
        k = order[:, col]
        ck, ltk, gk, ek = c[rows, k], lt_a[rows, k], ge[rows, k], eff[rows, k]
        need = np.maximum(t * d - s, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            xk = np.where(ek > 0, need / np.where(ek > 0, ek, 1.0), 0.0)
        xk = np.minimum(np.minimum(xk, ck), np.where(gk > 0, d / gk, 0.0))
        x[rows, k] = xk
        s = s - xk * ltk
        d = d - xk * gk
    d = np.maximum(d, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        hf = np.where(d > 0, s / np.where(d > 0, d, 1.0), np.inf)
    reached = hf >= t * (1 - 1e-12)
    repay = array("debt_base", debt_base) - d
    return x, repay, reached, hf
