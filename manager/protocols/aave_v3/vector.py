"""Vectorized float64 Aave V3 health over arrays of N positions (numpy), per pool revision.

- ``health_factor_aave`` / ``health_factor_aave_batch``: per Aave version (``manager.protocols.aave_v3.rules``),
  from arrays built with that version's rounding (``aave_arrays``);
- ``health_factor_aave_v30``: emulates Aave v3.0 ``GenericLogic`` — ``avgLT = floor(Σ c·lt / Σ c)``
  then ``percentMul`` half-up and ``wadDiv``. With integer-valued base amounts below 2^53 it agrees
  with the exact integer math within 1e-9 relative.

Shapes and the protocol-neutral closed forms are ``manager.sizing.vector``. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from manager.sizing._checks import array
from manager.sizing.vector import BPS, Floats


def health_factor_aave_v30(coll_base: Floats, lt_bps: Floats, debt_base: Floats) -> np.ndarray:
    """Aave v3.0 HF (as float) from integer-valued base amounts: floored avgLT, half-up percentMul, wadDiv."""
    c = array("coll_base", coll_base)
    lt_b = array("lt_bps", lt_bps)
    d = array("debt_base", debt_base)
    if c.ndim == 1:
        c = c[:, None]
        lt_b = np.broadcast_to(lt_b, c.shape[:1])[:, None] if lt_b.ndim <= 1 else lt_b
    # NOTE: the floored average LT is an integer division in Solidity. In float64, Σ c·LT above 2^53 can
    # land a hair below an exact integer (e-mode: equal LTs make the average exactly 9500) and floor one
    # bps too low. Quotients within 1e-6 of an integer are recomputed with exact Python integers (inputs
    # are integer-valued base amounts); the rest stay vectorized.
    total = c.sum(axis=-1)
    num = (c * lt_b).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = num / np.where(total > 0, total, 1.0)
        avg_lt = np.floor(quotient)
        frac = quotient - avg_lt
        suspect = np.nonzero((total > 0) & ((frac < 1e-6) | (frac > 1 - 1e-6)))[0]
        if suspect.size:
            cb = np.broadcast_to(c, np.broadcast_shapes(c.shape, lt_b.shape))
            lb = np.broadcast_to(lt_b, cb.shape)
            for i in suspect:
                ci = [int(x) for x in np.atleast_1d(cb[i])]
                li = [int(x) for x in np.atleast_1d(lb[i])]
                avg_lt[i] = sum(a * b for a, b in zip(ci, li, strict=True)) // sum(ci)
        avg_lt = np.where(total > 0, avg_lt, 0.0)
        weighted = np.floor((total * avg_lt + 5000.0) / BPS)
        hf = np.where(d > 0, weighted / np.where(d > 0, d, 1.0), np.inf)
    return hf


# ------------------------------------------------------------------------------------------------
# Per-version Aave health over many snapshots (the float path follows the pool's revision too)
# ------------------------------------------------------------------------------------------------
def health_factor_aave(coll_base: Floats, lt_bps: Floats, debt_base: Floats, version: str) -> np.ndarray:
    """Aave health (float) of integer-valued base amounts under ``version``'s rules (``aave_rules``).

    v3.0/v3.1: ``health_factor_aave_v30`` (floored average LT, half-up ``percentMul``). v3.5+:
    ``wadDiv(Σ c·LT, D) / 1e4`` from the un-floored sum, i.e. ``Σ c·LT / (1e4·D)``. Build the arrays with
    ``aave_arrays`` so the collateral/debt values carry the version's rounding (v3.6: debt rounded up).
    """
    from manager.protocols.aave_v3.rules import rules_for

    if not rules_for(version).pessimistic_rounding:
        return health_factor_aave_v30(coll_base, lt_bps, debt_base)
    c = array("coll_base", coll_base)
    lt_b = array("lt_bps", lt_bps)
    d = array("debt_base", debt_base)
    s = (c * lt_b).sum(axis=-1) if c.ndim > 1 else c * lt_b
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, s / (BPS * np.where(d > 0, d, 1.0)), np.inf)


def aave_arrays(snapshots: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(coll_base (N, A), lt_bps (N, A), debt_base (N,), versions)`` from Aave snapshots, each under its own
    version's rules (e-mode by category or bitmap, LT-0 collateral, debt rounding) - exact integers as float64.

    ``A`` is the widest position; unused slots are zero. Mixed versions are allowed (one entry per snapshot in
    ``versions``); ``health_factor_aave_batch`` evaluates them group by group.
    """
    from manager.protocols.aave_v3.math import _resolved_rows

    rows_all = [_resolved_rows(s, None) for s in snapshots]
    width = max((len(r) for r in rows_all), default=0) or 1
    n = len(snapshots)
    coll = np.zeros((n, width))
    lt = np.zeros((n, width))
    debt = np.zeros(n)
    versions = []
    for i, rows in enumerate(rows_all):
        total_debt = 0
        rules = None
        for j, (_a, _s, decimals, price, _ltv, lt_bps, c, var, stable, enabled, borrowing, *_rest, rules) in enumerate(rows):
            unit = 10**decimals
            if rules.counts_as_collateral(enabled, lt_bps):
                coll[i, j] = rules.collateral_base(c, price, unit)
                lt[i, j] = lt_bps
            if borrowing or var or stable:
                total_debt += rules.debt_base(var + stable, price, unit)
        debt[i] = total_debt
        versions.append(rules.version if rules is not None else snapshots[i].protocol_version)
    return coll, lt, debt, tuple(versions)


def health_factor_aave_batch(snapshots: Sequence[Any]) -> np.ndarray:
    """Health (float) of every Aave snapshot, vectorized per version group (``aave_arrays`` + ``health_factor_aave``)."""
    coll, lt, debt, versions = aave_arrays(snapshots)
    out = np.empty(len(versions))
    for v in set(versions):
        idx = np.array([i for i, x in enumerate(versions) if x == v])
        out[idx] = health_factor_aave(coll[idx], lt[idx], debt[idx], v)
    return out


__all__ = ["aave_arrays", "health_factor_aave", "health_factor_aave_batch", "health_factor_aave_v30"]
