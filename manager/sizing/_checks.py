"""Input checks shared by the sizing modules: bad input raises a typed one-line ``SizingError``.

Every check names the field and the offending value, so the loop can log exactly what was wrong.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from manager.errors import SizingError


class BadInputError(SizingError):
    """An input to the sizing core is out of its domain (NaN, negative price, LT of 0, target < 1...)."""


class NoDebtError(SizingError):
    """The position has no debt, so a debt-relative quantity (deleverage, liquidation) is undefined."""


def finite(name: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{name}={value!r}: not a number", field=name, value=value) from None
    if not math.isfinite(x):
        raise BadInputError(f"{name}={value!r}: must be finite", field=name, value=value)
    return x


def positive(name: str, value: Any) -> float:
    x = finite(name, value)
    if x <= 0:
        raise BadInputError(f"{name}={value!r}: must be > 0", field=name, value=value)
    return x


def non_negative(name: str, value: Any) -> float:
    x = finite(name, value)
    if x < 0:
        raise BadInputError(f"{name}={value!r}: must be >= 0", field=name, value=value)
    return x


def fraction(name: str, value: Any, *, allow_zero: bool = True, allow_one: bool = True) -> float:
    x = finite(name, value)
    low_ok = x >= 0 if allow_zero else x > 0
    high_ok = x <= 1 if allow_one else x < 1
    if not (low_ok and high_ok):
        lo = "[0" if allow_zero else "(0"
        hi = "1]" if allow_one else "1)"
        raise BadInputError(f"{name}={value!r}: must be in {lo}, {hi}", field=name, value=value)
    return x


def target_health(name: str, value: Any) -> float:
    x = finite(name, value)
    if x <= 1.0:
        raise BadInputError(f"{name}={value!r}: a target health factor must be > 1", field=name, value=value)
    return x


def non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInputError(f"{name}={value!r}: must be an int", field=name, value=value)
    if value < 0:
        raise BadInputError(f"{name}={value!r}: must be >= 0", field=name, value=value)
    return value


def array(name: str, value: Any, *, positive_only: bool = False, allow_zero: bool = True) -> np.ndarray:
    """A float64 array with every element finite and >= 0 (or > 0); raises on the first bad element."""
    a = np.asarray(value, dtype=np.float64)
    bad = ~np.isfinite(a)
    if positive_only or not allow_zero:
        bad |= a <= 0
    else:
        bad |= a < 0
    if bad.any():
        idx = np.flatnonzero(bad.ravel())[0]
        v = a.ravel()[idx]
        rule = "> 0" if (positive_only or not allow_zero) else ">= 0"
        raise BadInputError(f"{name}[{idx}]={v!r}: must be finite and {rule}", field=name, value=float(v), index=int(idx))
    return a


def largest_passing(ok: Any, guess: int) -> int:
    """Largest integer ``a >= 0`` with ``ok(a)`` for a monotone (true-then-false) predicate; 0 if ``ok(0)`` fails."""
    if not ok(0):
        return 0
    lo = 0
    hi = max(1, guess)
    while ok(hi):
        lo = hi
        hi *= 2
        if hi > 2**200:
            raise SizingError("borrow search did not converge", field="amount_wei", value=hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo
