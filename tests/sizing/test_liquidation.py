"""``protocols.aave_v3.liquidation`` against the hand-checked vectors of protocol-math.md (A2, A3, A3b) for v3.0 and v3.6,
and the rules object's version differences (A4, A5). The on-chain equality is in tests/aave."""

from __future__ import annotations

import pytest

from manager.domain import UINT256_MAX
from manager.protocols.aave_v3 import math as aave
from manager.protocols.aave_v3.liquidation import liquidation_call, max_liquidation, worst_liquidation
from manager.protocols.aave_v3.rules import POOL_REVISIONS, V3_0, V3_6, rules_for
from tests.sizing.builders import a1, reserve, snapshot


def v36(snap):
    ids = {s.symbol: i for i, s in enumerate(snap.reserves.values())}
    reserves = {a: r.model_copy(update={"reserve_id": ids[r.symbol]}) for a, r in snap.reserves.items()}
    return snap.model_copy(update={"protocol_version": "3.6", "reserves": reserves})


@pytest.mark.parametrize("version", ["3.0", "3.6"])
def test_a2_fifty_pct_close_factor(version):
    snap = a1(weth_price_base=1200 * 10**8)
    snap = v36(snap) if version == "3.6" else snap
    assert aave.account_data(snap).health_factor_wad == 99 * 10**16
    q = max_liquidation(snap, "WETH", "USDC")
    assert (q.close_factor_bps, q.max_debt_to_cover_wei) == (5_000, 5_000 * 10**6)
    q = liquidation_call(snap, "WETH", "USDC", 5_000 * 10**6)
    assert (q.protocol_fee_wei, q.collateral_to_liquidator_wei) == (20833333333333333, 4354166666666666666)


@pytest.mark.parametrize("version", ["3.0", "3.6"])
def test_a3_full_close_and_the_dust_rule(version):
    snap = a1(weth_price_base=1100 * 10**8)
    snap = v36(snap) if version == "3.6" else snap
    q = max_liquidation(snap, "WETH", "USDC")
    assert q.close_factor_bps == 10_000 and q.max_debt_to_cover_wei == 10_000 * 10**6
    assert (q.protocol_fee_wei, q.collateral_to_liquidator_wei) == (45454545454545455, 9499999999999999999)
    assert not liquidation_call(snap, "WETH", "USDC", 9_000 * 10**6).reverts_dust  # leaves $1,000 / $1,550
    dust = liquidation_call(snap, "WETH", "USDC", 9_500 * 10**6)  # leaves $500 of debt
    assert dust.reverts_dust == (version == "3.6")


def test_a3b_collateral_exhausted_rounds_per_version_and_books_the_deficit():
    snap = a1(weth_price_base=900 * 10**8)
    old = max_liquidation(snap, "WETH", "USDC")
    new = max_liquidation(v36(snap), "WETH", "USDC")
    assert old.debt_to_cover_wei == 8571428571 and new.debt_to_cover_wei == 8571428572
    for q in (old, new):
        assert (q.protocol_fee_wei, q.collateral_to_liquidator_wei) == (47619047619047619, 9952380952380952381)
    assert not old.bad_debt and new.bad_debt
    assert new.deficit_base == (10_000 * 10**6 - 8571428572) * 100  # USDC: 1e6 units = 1e8 base


def test_not_liquidatable_above_one_and_worst_case_is_valued_below_it():
    snap = v36(a1())  # HF 1.65
    assert not liquidation_call(snap, "WETH", "USDC", UINT256_MAX).liquidatable
    w = worst_liquidation(snap)
    assert w is not None and w.liquidatable and w.close_factor_bps == 5_000
    assert w.loss_base > 0 and w.health_factor_wad == 10**18 - 1
    assert worst_liquidation(snapshot([reserve("WETH", 2000 * 10**8)], {"WETH": (10**18, 0)})) is None


def test_rules_differ_only_where_the_releases_do():
    # A5: rounding regression between v3.3 and v3.6
    assert V3_0.debt_base(1500123456, 100012345, 10**6) + 2 == V3_6.debt_base(1500123456, 100012345, 10**6) + 1
    # A4 without e-mode: HF from the floored average (v3.0) vs the un-floored sum (v3.6)
    coll, debt = 3_150_000_000_000, 2_400_000_000_000
    lt_num = 2_000_000_000_000 * 8250 + 1_150_000_000_000 * 8100
    assert V3_0.health_factor_wad(coll, debt, lt_num) == 1_075_593_750_000_000_000
    assert V3_6.health_factor_wad(coll, debt, lt_num) == 1_075_625_000_000_000_000
    assert V3_0.flash_premium_wei(10**6 + 1, 5) == 500 and V3_6.flash_premium_wei(10**6 + 1, 5) == 501
    assert V3_6.available_borrows_base(100, 80, 8000) == 0 and V3_0.available_borrows_base(100, 79, 8000) == 1
    assert POOL_REVISIONS[10] == "3.6" and rules_for("3.6.0") is V3_6 and rules_for("3") is V3_0
