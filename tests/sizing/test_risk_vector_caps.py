"""Risk models (analytic vs 100k-path MC), vectorized math, depth caps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from manager.domain import DepthCurve, QuotePoint
from manager.sizing import risk, vector
from manager.sizing._checks import BadInputError
from manager.sizing.caps import borrow_cap_room_wei, supply_cap_room_wei, tightest
from manager.sizing.depth import SwapModel
from tests.sizing.builders import USDC, WETH, cpmm_curve, reserve

GRID = [  # spot, barrier, sigma, horizon (years), mu
    (100, 80, 0.8, 0.5, 0.0), (100, 90, 0.6, 0.25, 0.1), (100, 120, 0.5, 1.0, -0.2), (100, 70, 1.2, 0.1, 0.3),
    (100, 99, 0.3, 0.01, 0.0), (100, 50, 0.9, 2.0, 0.2), (100, 130, 0.4, 0.5, 0.5), (100, 95, 0.2, 1 / 365, -1.0),
]


@pytest.mark.parametrize("case", GRID)
def test_analytic_touch_probability_within_1pp_of_100k_path_mc(case):
    analytic = risk.touch_probability(*case)
    mc, se = risk.touch_probability_mc(*case, n_paths=100_000, n_steps=16, seed=1)
    assert abs(analytic - mc) < 0.01
    assert se < 0.002


def test_plain_discrete_monitoring_is_biased_low_and_bridge_fixes_it():
    case = GRID[0]
    analytic = risk.touch_probability(*case)
    plain, _ = risk.touch_probability_mc(*case, n_paths=50_000, n_steps=8, bridge=False, seed=2)
    assert plain < analytic - 0.02


def test_touch_probability_limits():
    assert risk.touch_probability(100, 100, 0.5, 1.0) == 1.0
    assert risk.touch_probability(100, 1, 0.1, 1 / 365) < 1e-12
    # driftless closed form: 2·Φ(ln(B/S)/σ√T)
    from scipy.stats import norm

    assert risk.touch_probability(100, 80, 0.5, 0.3, 0.125) == pytest.approx(
        2 * norm.cdf(math.log(0.8) / (0.5 * math.sqrt(0.3))), rel=1e-12)  # mu = σ²/2 -> ν = 0


def test_volatility_estimators_recover_sigma():
    rng = np.random.default_rng(7)
    sigma, n = 0.6, 20_000
    r = rng.normal(-0.5 * sigma**2 / 365, sigma / math.sqrt(365), n)
    prices = 1000 * np.exp(np.concatenate([[0], np.cumsum(r)]))
    assert risk.realized_volatility(prices, 365) == pytest.approx(sigma, rel=0.03)
    assert risk.ewma_volatility(prices, 365, lam=0.995) == pytest.approx(sigma, rel=0.15)
    with pytest.raises(BadInputError, match="prices"):
        risk.realized_volatility([100, -1, 100, 101], 365)
    with pytest.raises(BadInputError, match="prices"):
        risk.ewma_volatility([100, float("nan"), 100, 101], 365)


def test_ewma_matches_recursion():
    prices = np.array([100, 101, 99, 102, 104, 103, 100, 98, 99.5])
    r = np.diff(np.log(prices))
    var = r[0] ** 2
    for x in r[1:]:
        var = 0.9 * var + 0.1 * x**2
    assert risk.ewma_volatility(prices, 1, lam=0.9) == pytest.approx(math.sqrt(var), rel=1e-12)


def test_var_es_and_equity_risk():
    pnl = np.arange(-99, 1, dtype=float)  # losses 0..99
    var, es = risk.var_es(pnl, 0.9)
    assert var == pytest.approx(np.quantile(np.arange(0, 100), 0.9))
    assert es >= var
    er = risk.position_equity_var_es(20000, 10000, 0.8, 30 / 365, liquidation_price_ratio=10000 / 16500)
    assert 0 < er.var_usd <= er.es_usd <= 10000 + 0.05 * 10000 + 1e-6
    assert 0 < er.liquidation_probability < 0.5
    with pytest.raises(BadInputError, match="alpha"):
        risk.var_es(pnl, 1.0)


def test_sizing_rules():
    assert risk.vol_target_size(10_000, 0.2, 0.8) == pytest.approx(2500)
    assert risk.vol_target_size(10_000, 0.8, 0.2, max_leverage=2) == pytest.approx(20_000)
    assert risk.kelly_fraction(0.1, 0.5, fraction_of_kelly=0.5) == pytest.approx(0.2)
    assert risk.kelly_fraction(0.5, 0.2, max_leverage=3) == 3.0
    assert risk.kelly_fraction(-0.1, 0.5) == 0.0
    assert risk.drawdown_throttle([100, 120, 117]) == 1.0
    assert risk.drawdown_throttle([100, 100, 87.5], start_drawdown=0.05, max_drawdown=0.2) == pytest.approx(0.5)
    assert risk.drawdown_throttle([100, 70]) == 0.0
    rb = risk.rebalance_trades([700, 300], [0.5, 0.5], band=0.1)
    assert rb.triggered and rb.trades_usd == pytest.approx((-200, 200))
    assert not risk.rebalance_trades([520, 480], [0.5, 0.5], band=0.05).triggered
    rb = risk.rebalance_trades([600, 300, 100], [0.4, 0.4, 0.2], band=0.05, min_trade_usd=150)
    assert sum(rb.trades_usd) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("sigma,reaction_s,eps", [(0.8, 600, 1e-3), (0.5, 60, 1e-4), (1.5, 3600, 1e-2)])
def test_trigger_health_factor(sigma, reaction_s, eps):
    h = risk.trigger_health_factor(sigma, reaction_s, eps)
    t = reaction_s / risk.SECONDS_PER_YEAR
    assert h > 1
    assert risk.touch_probability(1.0, 1 / h, sigma, t) == pytest.approx(eps, rel=1e-6)
    assert risk.trigger_health_factor(sigma, reaction_s * 4, eps) > h  # slower reaction -> act earlier


@pytest.mark.parametrize("kw", [dict(sigma=-0.1), dict(sigma=float("nan")), dict(epsilon=0.0), dict(reaction_s=0)])
def test_trigger_bad_input(kw):
    args = dict(sigma=0.8, reaction_s=600, epsilon=1e-3) | kw
    with pytest.raises(BadInputError):
        risk.trigger_health_factor(**args)


# --- vectorized --------------------------------------------------------------------------------------
def test_vector_health_and_bad_inputs():
    c = np.array([[2e12, 0.0], [1e12, 1e12]])
    lt = np.array([0.825, 0.81])
    hf = vector.health_factor(c, lt, np.array([1e12, 0.0]))
    assert hf[0] == pytest.approx(1.65) and math.isinf(hf[1])
    with pytest.raises(BadInputError, match="coll_base"):
        vector.health_factor(np.array([[-1.0, 0.0]]), lt, np.array([1.0]))
    with pytest.raises(BadInputError, match="debt_base"):
        vector.health_factor(c, lt, np.array([np.nan, 1.0]))
    with pytest.raises(BadInputError, match="lt"):
        vector.health_factor(c, np.array([0.0, 0.8]), np.array([1.0, 1.0]))
    with pytest.raises(BadInputError, match="target_hf"):
        vector.repay_from_collateral(10725, 10000, 0.825, 0.99, 0.95)


def test_vector_liquidation_price_and_available_borrows():
    q = np.array([[10.0, 0.0]])
    p = np.array([[2000.0, 1.0]])
    assert vector.liquidation_price(q, p, np.array([0.825, 0.8]), np.array([10000.0]), 0)[0] == pytest.approx(10000 / 8.25)
    assert vector.available_borrows(np.array([[2e12]]), np.array([0.8]), np.array([1e12]))[0] == pytest.approx(6e11)


def test_deleverage_batch_reaches_target_and_matches_single_closed_form():
    rng = np.random.default_rng(3)
    n = 2000
    c = rng.uniform(1000, 100000, (n, 3))
    lt = np.array([0.825, 0.81, 0.78])
    g = np.array([0.997, 0.995, 0.99])
    s = (c * lt).sum(1)
    d = s / rng.uniform(1.01, 1.2, n)
    x, repay, reached, hf = vector.deleverage_batch(c, lt, g, d, 1.5)
    assert np.all(x >= 0) and np.all(x <= c + 1e-6) and np.all(repay >= 0)
    assert np.all(hf[reached] >= 1.5 * (1 - 1e-9))
    single, _, _ = vector.repay_from_collateral(10725, 10000, 0.825, 0.995006, 1.5)
    xb, _, ok, _ = vector.deleverage_batch(np.array([[10000 * 1.3, 0.0]]) * 1.0, np.array([0.825, 0.8]),
                                           np.array([0.995006, 0.5]), np.array([10000.0]), 1.5)
    assert ok[0] and xb[0, 0] == pytest.approx(float(single), rel=1e-12)


# --- depth and caps ---------------------------------------------------------------------------------
def test_depth_cap_matches_cpmm_closed_form():
    r_in, r_out, fee = 1000e18, 2_000_000e6, 3000
    curve = cpmm_curve(WETH, USDC, r_in, r_out, fee_pips=fee, n=400, max_fraction=0.2)
    model = SwapModel.from_curve(curve)
    s = 0.01
    cap = model.depth_cap_wei(100, fee / 1e6)
    # CPMM average price vs mid after fee: out/(x·m·u) = R/(R + x·u) >= 1 - s  ->  x = R·s/((1-s)·u)
    u = 1 - fee / 1e6
    assert cap == pytest.approx(r_in * s / ((1 - s) * u), rel=2e-3)
    assert model.input_for_output(model.out_wei(cap)) == pytest.approx(cap, rel=1e-9)


def test_depth_curve_bad_input():
    bad = DepthCurve(pool="p", token_in=WETH, token_out=USDC, decimals_in=18, decimals_out=6, fee_pips=3000,
                     block_number=1, mid_price=2000.0,
                     points=(QuotePoint(amount_in_wei=10, amount_out_wei=1), QuotePoint(amount_in_wei=5, amount_out_wei=2)))
    with pytest.raises(BadInputError, match="points"):
        SwapModel.from_curve(bad)
    with pytest.raises(BadInputError, match="mid_price"):
        SwapModel.from_curve(bad.model_copy(update={"mid_price": float("nan")}))
    model = SwapModel.from_curve(cpmm_curve(WETH, USDC, 1e18, 2000e6))
    with pytest.raises(BadInputError, match="beyond the quoted depth"):
        model.out_wei(1e30)


def test_cap_rooms_and_tightest():
    r = reserve("USDC", 10**8, borrow_cap_tokens=100, total_variable_debt_wei=40 * 10**6,
                supply_cap_tokens=1000, total_supply_wei=999 * 10**6)
    assert borrow_cap_room_wei(r) == 60 * 10**6 - 1
    assert supply_cap_room_wei(r) == 10**6 - 1
    assert borrow_cap_room_wei(reserve("USDC", 10**8)) is None
    assert tightest({"a": 3.0, "b": 1.0, "c": 2.0}) == ("b", 1.0)
    with pytest.raises(BadInputError):
        tightest({"a": float("nan")})
