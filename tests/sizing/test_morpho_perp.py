"""Morpho Blue (M1-M4) and perps (P1-P3) worked vectors, plus target-sizing properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.protocols.morpho_blue import math as morpho
from manager.protocols.synthetix_perps import math as snx
from manager.sizing import perp
from manager.sizing._checks import BadInputError, NoDebtError


@pytest.mark.parametrize("lltv,lif", [
    ("0.385", 1150000000000000000), ("0.625", 1126760563380281690), ("0.77", 1074113856068743286),
    ("0.86", 1043841336116910229), ("0.915", 1026167265264238070), ("0.945", 1016776817488561260),
    ("0.965", 1010611419909044972), ("0.98", 1006036217303822937),
])
def test_m1_liquidation_incentive_factor(lltv, lif):
    assert morpho.liquidation_incentive_factor(int(Decimal(lltv) * 10**18)) == lif


def market(price: int) -> morpho.MorphoMarket:
    return morpho.MorphoMarket(loan_decimals=6, collateral_decimals=18, lltv_wad=86 * 10**16,
                               total_supply_assets=2_000_000 * 10**6, total_borrow_assets=1_020_000 * 10**6,
                               total_borrow_shares=10**18, oracle_price=price)


POS = morpho.MorphoPosition(borrow_shares=24500 * 10**12, collateral_wei=10 * 10**18)


def test_m2_health():
    m = market(3000 * 10**24)
    assert morpho.borrowed_assets(m, POS) == 24990000000
    assert morpho.to_assets_down(POS.borrow_shares, m.total_borrow_assets, m.total_borrow_shares) == 24989999999
    assert morpho.max_borrow(m, POS) == 25800000000 and morpho.is_healthy(m, POS)
    m2 = market(2900 * 10**24)
    assert morpho.max_borrow(m2, POS) == 24940000000 and not morpho.is_healthy(m2, POS)
    assert morpho.liquidation_price(m2, POS) == pytest.approx(24990 / 8.6, rel=1e-12)


def test_m3_m4_liquidation():
    m = market(2900 * 10**24)
    a = morpho.liquidate_by_seized(m, 5 * 10**18)
    assert (a.repaid_shares, a.repaid_assets) == (13618627451961052, 13891000002)
    b = morpho.liquidate_by_shares(m, 24500 * 10**12)
    assert (b.seized_assets, b.repaid_assets) == (8995032754482758620, 24990000000)


@settings(max_examples=100, deadline=None)
@given(coll=st.integers(10**15, 10**22), shares=st.integers(0, 10**17), price=st.integers(10**26, 10**28),
       target=st.floats(1.01, 3.0))
def test_morpho_max_borrow_and_repay_reach_target(coll, shares, price, target):
    m = market(price)
    p = morpho.MorphoPosition(borrow_shares=shares, collateral_wei=coll)
    add = morpho.max_safe_borrow(m, p, target)
    assert add >= 0
    if add:
        new_shares = morpho.to_shares_up(add, m.total_borrow_assets, m.total_borrow_shares)
        m2 = m.model_copy(update={"total_borrow_assets": m.total_borrow_assets + add,
                                  "total_borrow_shares": m.total_borrow_shares + new_shares})
        p2 = p.model_copy(update={"borrow_shares": shares + new_shares})
        assert morpho.is_healthy(m2, p2)
        assert morpho.health_factor(m2, p2) >= target * (1 - 1e-12)
    if shares:
        r = morpho.repay_for_target(m, p, target)
        assert morpho.borrowed_assets(m, p) - r <= morpho.max_borrow(m, p) / target + 1


def test_morpho_bad_input():
    with pytest.raises(NoDebtError):
        morpho.repay_for_target(market(3000 * 10**24), POS.model_copy(update={"borrow_shares": 0}), 1.5)
    with pytest.raises(BadInputError, match="oracle_price"):
        morpho.max_borrow(market(0), POS)
    with pytest.raises(BadInputError, match="target_hf"):
        morpho.max_safe_borrow(market(3000 * 10**24), POS, 0.5)


SNX = snx.SynthetixParams(liquidation_buffer_ratio=0.01, liquidation_fee_ratio=0.0035, min_keeper_fee=20,
                           max_keeper_fee=1000, keeper_liquidation_fee=2, skew_scale=1e6, liquidation_premium_multiplier=1)


def test_p1_synthetix():
    assert snx.synthetix_liquidation_margin(10, 2000, SNX) == pytest.approx(272)
    assert snx.synthetix_liquidation_premium(10, 2000, SNX) == pytest.approx(0.2)
    assert snx.synthetix_liquidation_price_view(10, 2000, 4000, SNX) == pytest.approx(1627.22, abs=1e-9)
    assert snx.synthetix_liquidation_price_exact(10, 2000, 4000, SNX) == pytest.approx(1622.1148, abs=1e-4)
    assert snx.synthetix_can_liquidate(10, 2000, 4000, 1620, SNX)
    assert not snx.synthetix_can_liquidate(10, 2000, 4000, 1627, SNX)
    assert snx.synthetix_liquidation_price_view(-10, 2000, 4000, SNX) == pytest.approx(2372.78, abs=1e-9)
    assert snx.synthetix_liquidation_price_exact(-10, 2000, 4000, SNX) == pytest.approx(2367.8109, abs=1e-4)


@settings(max_examples=100, deadline=None)
@given(size=st.floats(-500, 500).filter(lambda x: abs(x) > 0.01), margin=st.floats(100, 1e6))
def test_synthetix_exact_boundary_is_the_can_liquidate_switch(size, margin):
    px = snx.synthetix_liquidation_price_exact(size, 2000, margin, SNX)
    if px <= 1 or px > 1e6:
        return
    eps = 1e-6 * px
    inside = px + eps if size > 0 else px - eps
    outside = px - eps if size > 0 else px + eps
    assert not snx.synthetix_can_liquidate(size, 2000, margin, inside, SNX)
    assert snx.synthetix_can_liquidate(size, 2000, margin, outside, SNX)


def test_p2_gmx_and_p3_generic():
    assert perp.gmx_liquidation_price("long", 20000, 10, 2000, 0.005, 18, -8) == pytest.approx(1812.60)
    assert perp.gmx_liquidation_price("short", 20000, 10, 2000, 0.005, 18, -8) == pytest.approx(2187.40)
    assert perp.gmx_liquidation_price("long", 20000, 10, 0, 0.005, 18, -8,
                                      index_token_collateral_amount=1) == pytest.approx(20126 / 11)
    assert perp.isolated_liquidation_price(2000, 10, 0.005, "long") == pytest.approx(1809.0452, abs=1e-4)
    assert perp.isolated_liquidation_price(2000, 10, 0.005, "short") == pytest.approx(2189.0547, abs=1e-4)
    assert perp.isolated_liquidation_price(2000, 10, 0.005, "long", maintenance_on_entry=True) == pytest.approx(1810)
    assert perp.isolated_liquidation_price(2000, 10, 0.005, "short", maintenance_on_entry=True) == pytest.approx(2190)


def test_position_liquidation_price_matches_generic_formula():
    pos = perp.PerpPosition(size=5, entry_price=2000, mark_price=2000, margin_usd=1000, maintenance_ratio=0.005)
    assert pos.leverage == pytest.approx(10)
    assert pos.liquidation_price() == pytest.approx(perp.isolated_liquidation_price(2000, 10, 0.005, "long"))
    short = pos.model_copy(update={"size": -5})
    assert short.liquidation_price() == pytest.approx(perp.isolated_liquidation_price(2000, 10, 0.005, "short"))


@settings(max_examples=100, deadline=None)
@given(size=st.floats(-100, 100).filter(lambda x: abs(x) > 1e-3), mark=st.floats(100, 5000), lev=st.floats(2, 50),
       fee=st.floats(0, 0.002), target=st.floats(0.05, 0.5))
def test_cut_and_top_up_reach_target_ratio(size, mark, lev, fee, target):
    pos = perp.PerpPosition(size=size, entry_price=mark, mark_price=mark, margin_usd=abs(size) * mark / lev,
                            maintenance_ratio=0.005, closing_fee_ratio=fee)
    cut = perp.cut_to_margin_ratio(pos, target)
    if cut.action == "perp_reduce":
        assert abs(cut.size_delta) <= abs(size) and cut.size_delta * size < 0
        assert cut.projected_margin_ratio == pytest.approx(target, rel=1e-9) or cut.projected_margin_ratio > target
    top = perp.top_up_to_margin_ratio(pos, target)
    after = pos.model_copy(update={"margin_usd": pos.margin_usd + top.margin_delta_usd})
    assert after.margin_ratio >= target * (1 - 1e-12)


def test_perp_bad_input():
    with pytest.raises(BadInputError, match="entry_price"):
        perp.isolated_liquidation_price(-1, 10, 0.005, "long")
    with pytest.raises(BadInputError, match="side"):
        perp.isolated_liquidation_price(2000, 10, 0.005, "up")
    with pytest.raises(BadInputError, match="leverage"):
        perp.isolated_liquidation_price(2000, float("nan"), 0.005, "long")
