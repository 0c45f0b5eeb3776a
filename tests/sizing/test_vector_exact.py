"""Vectorized Aave v3.0 health equals the exact integer rule, also where Σ c·LT exceeds 2^53 (e-mode:
equal LTs make the average an exact integer that float64 can land a hair below)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.protocols.aave_v3.vector import health_factor_aave_v30


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


@settings(max_examples=200, deadline=None)
@given(pw=st.integers(10**6, 10**13), pu=st.integers(9 * 10**7, 11 * 10**7), cw=st.integers(1, 10**24),
       cu=st.integers(0, 10**14), dw=st.integers(0, 10**23), du=st.integers(0, 10**13),
       version=st.sampled_from(["3.0", "3.6"]), in_emode=st.booleans())
def test_vector_per_version_matches_the_exact_rules(pw, pu, cw, cu, dw, du, version, in_emode):
    """``aave_arrays`` + ``health_factor_aave`` follow the snapshot's version: v3.6 debt rounded up, HF from the
    un-floored sum, e-mode by bitmap (WETH in the category, USDC not)."""
    from manager.domain import EModeCategory
    from manager.protocols.aave_v3.math import account_data
    from manager.protocols.aave_v3.vector import health_factor_aave_batch
    from tests.sizing.builders import reserve, snapshot

    rs = [reserve("WETH", pw, reserve_id=0, emode_category=1 if version == "3.0" else 0),
          reserve("USDC", pu, reserve_id=1)]
    em = EModeCategory(id=1, ltv_bps=9300, liquidation_threshold_bps=9500, liquidation_bonus_bps=10100,
                       collateral_bitmap=1, borrowable_bitmap=3, ltvzero_bitmap=0)
    kw = {"emode_category_id": 1, "emode": em} if in_emode else {}
    snap = snapshot(rs, {"WETH": (cw, dw), "USDC": (cu, du)}, protocol_version=version, **kw)
    acc = account_data(snap)
    got = float(health_factor_aave_batch([snap])[0])
    if acc.total_debt_base == 0:
        assert got == float("inf")
    else:
        want = acc.health_factor_wad / 1e18
        assert abs(got - want) <= 1e-9 * want + 1e-18
