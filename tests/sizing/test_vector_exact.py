"""Vectorized Aave v3.0 health equals the exact integer rule, also where Σ c·LT exceeds 2^53 (e-mode:
equal LTs make the average an exact integer that float64 can land a hair below)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.sizing.vector import health_factor_aave_v30


def exact_hf(coll: list[int], lt: list[int], debt: int) -> float:
    total = sum(coll)
    avg_lt = sum(c * t for c, t in zip(coll, lt, strict=True)) // total  # GenericLogic: floored
    return ((total * avg_lt + 5_000) // 10_000) / debt  # percentMul half-up, then the ratio


@settings(max_examples=300, deadline=None)
@given(
    coll=st.lists(st.integers(10**8, 2**52), min_size=1, max_size=4),
    lt=st.sampled_from([9500, 9300, 8250, 7800]),
    mixed=st.booleans(),
    debt=st.integers(10**6, 2**52),
    data=st.data(),
)
def test_vector_v30_matches_exact(coll, lt, mixed, debt, data):
    lts = [data.draw(st.sampled_from([7800, 8250, 9500])) for _ in coll] if mixed else [lt] * len(coll)
    got = health_factor_aave_v30(np.array([coll], dtype=np.float64), np.array([lts], dtype=np.float64),
                                 np.array([debt], dtype=np.float64))[0]
    want = exact_hf(coll, lts, debt)
    assert abs(got - want) <= 1e-9 * want


def test_regression_equal_lts_above_2_pow_53():
    # a sum of c·LT above 2^53 whose exact average is 9500: float64 division gave 9499.999... -> 9499
    coll = [2**52 - 1, 2**51 + 12345]
    lts = [9500, 9500]
    got = health_factor_aave_v30(np.array([coll], dtype=np.float64), np.array([lts], dtype=np.float64),
                                 np.array([10**15], dtype=np.float64))[0]
    assert abs(got - exact_hf(coll, lts, 10**15)) <= 1e-12 * got
