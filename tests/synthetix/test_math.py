"""Pure PerpsV2 math: test vector P1 in the integer emulation, fee clamp regimes, funding linear in price."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.protocols.synthetix_perps import math as P

W = 10**18


def _market(**kw):
    base = dict(price_wad=2000 * W, skew_wad=0, funding_last_recomputed_s=0, funding_rate_last_recomputed_wad=0,
                funding_sequence_last_wad=0, skew_scale_wad=10**6 * W, max_funding_velocity_wad=9 * W,
                liquidation_premium_multiplier_wad=W, liquidation_buffer_ratio_wad=W // 100,
                liquidation_fee_ratio_wad=35 * W // 10_000, min_keeper_fee_wad=20 * W, max_keeper_fee_wad=1000 * W,
                keeper_liquidation_fee_wad=2 * W, block_timestamp=0)
    base.update(kw)
    return P.PerpsV2Market(**base)


def _pos(size, margin=4000, last=2000, idx=1, f_idx=0):
    return P.PerpsV2Position(last_funding_index=idx, margin_wad=margin * W, last_price_wad=last * W,
                             size_wad=int(size * W), funding_at_index_wad=f_idx)


def test_p1_vector_integer_emulation():
    m, long, short = _market(), _pos(10), _pos(-10)
    assert P.snx_liquidation_margin_wad(m, long.size_wad, m.price_wad) == 272 * W
    assert P.snx_liquidation_premium_wad(m, long.size_wad, m.price_wad) == W // 5
    assert P.snx_approx_liquidation_price_wad(m, long, m.price_wad, 0) == 162722 * W // 100
    assert P.snx_approx_liquidation_price_wad(m, short, m.price_wad, 0) == 237278 * W // 100
    b = P.snx_exact_liquidation_price(m, long, 0)
    assert b.price_usd == pytest.approx(1622.1148, abs=1e-4) and b.fee_regime == "proportional"
    assert P.snx_can_liquidate(m, long, 1620 * W, 0) and not P.snx_can_liquidate(m, long, 1627 * W, 0)
    # the exact grid boundary: liquidatable there, not one feed step (1e-8 USD) above
    assert P.snx_can_liquidate(m, long, b.boundary_price_wad, 0)
    assert not P.snx_can_liquidate(m, long, b.boundary_price_wad + 10**10, 0)
    bs = P.snx_exact_liquidation_price(m, short, 0)
    assert bs.price_usd == pytest.approx(2367.8109, abs=1e-4)
    assert P.snx_can_liquidate(m, short, bs.boundary_price_wad, 0)
    assert not P.snx_can_liquidate(m, short, bs.boundary_price_wad - 10**10, 0)
    # the float closed form of the sizing core agrees with the integer emulation
    assert P.synthetix_liquidation_price_exact(10, 2000, 4000, m.params_float()) == pytest.approx(b.price_usd)


@pytest.mark.parametrize("size,margin,regime", [(0.5, 200, "min"), (1000, 400_000, "max"), (10, 4000, "proportional")])
def test_fee_clamp_regimes(size, margin, regime):
    m = _market()
    pos = _pos(size, margin=margin)
    b = P.snx_exact_liquidation_price(m, pos, 0)
    assert b.fee_regime == regime
    step = 10**10
    assert P.snx_can_liquidate(m, pos, b.boundary_price_wad, 0)
    assert not P.snx_can_liquidate(m, pos, b.boundary_price_wad + step, 0)
    assert b.boundary_price_wad / W == pytest.approx(b.price_usd, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(size=st.floats(0.01, 500).map(lambda x: round(x, 4)), lev=st.floats(1.5, 40), short=st.booleans(),
       elapsed=st.integers(0, 3 * 86400), skew=st.integers(-200_000, 200_000),
       recorded=st.integers(-50 * W, 50 * W), rate=st.integers(-W // 10, W // 10))
def test_boundary_with_funding_is_exact(size, lev, short, elapsed, skew, recorded, rate):
    s = -size if short else size
    m = _market(skew_wad=skew * W, funding_rate_last_recomputed_wad=rate, funding_sequence_last_wad=recorded,
                block_timestamp=elapsed)
    pos = P.PerpsV2Position(last_funding_index=1, margin_wad=int(size * 2000 / lev * W), last_price_wad=2000 * W,
                            size_wad=int(s * W), funding_at_index_wad=0)
    b = P.snx_exact_liquidation_price(m, pos, elapsed)
    if b.boundary_price_wad is None:
        return
    step = 10**10
    nxt = b.boundary_price_wad + (step if not short else -step)
    assert P.snx_can_liquidate(m, pos, b.boundary_price_wad, elapsed)
    assert not P.snx_can_liquidate(m, pos, nxt, elapsed)
    assert b.boundary_price_wad / W == pytest.approx(b.price_usd, rel=1e-8, abs=1e-6)


def test_unrecorded_funding_is_linear_in_price():
    m = _market(skew_wad=1000 * W, funding_rate_last_recomputed_wad=W // 100, block_timestamp=43_200)
    u1 = P.snx_unrecorded_funding_wad(m, 1000 * W, 43_200)
    u2 = P.snx_unrecorded_funding_wad(m, 2000 * W, 43_200)
    assert u1 != 0 and abs(u2 - 2 * u1) <= 2
