"""Sizing-core benchmark: health evaluations/s, deleverage solutions, analytic vs Monte Carlo speed.

``run()`` returns a JSON-able dict and prints a table; ``bench/__main__.py`` collects it.
Goals (issue 4): >= 1,000,000 health evaluations/s; 10,000 deleverage solutions < 100 ms.
"""

from __future__ import annotations

import time

import numpy as np

from manager.protocols.aave_v3 import math as aave
from manager.protocols.aave_v3 import vector as aave_vector
from manager.protocols.aave_v3.deleverage import plan_deleverage
from manager.sizing import risk, solver, vector
from manager.sizing.caps import SizingLimits


def _best(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _snapshot():
    from manager.domain import PositionAsset, ReserveState
    from manager.protocols.aave_v3.types import LendingPositionSnapshot

    weth, usdc = "0x" + "e1" * 20, "0x" + "e2" * 20
    res = {
        weth: ReserveState(asset=weth, symbol="WETH", decimals=18, ltv_bps=8000, liquidation_threshold_bps=8250,
                           liquidation_bonus_bps=10500, price_base=1300 * 10**8, available_liquidity_wei=10**30),
        usdc: ReserveState(asset=usdc, symbol="USDC", decimals=6, ltv_bps=7700, liquidation_threshold_bps=8000,
                           liquidation_bonus_bps=10400, price_base=10**8, available_liquidity_wei=10**30),
    }
    return LendingPositionSnapshot(account="0x" + "aa" * 20, block_number=1, block_timestamp=1, reserves=res, assets=(
        PositionAsset(asset=weth, symbol="WETH", collateral_wei=10 * 10**18, collateral_enabled=True),
        PositionAsset(asset=usdc, symbol="USDC", variable_debt_wei=10_000 * 10**6, borrowing=True)))


def _morpho_model(debt_usdc: float = 10_000.0):
    """A Morpho Blue WETH/USDC loan model (LLTV 86%, oracle 1,300 USDC/WETH, 10 WETH)."""
    from manager.protocols.morpho_blue import math as mm
    from manager.protocols.morpho_blue.loan import MorphoLoanModel

    tba, tbs = 4 * 10**12, 4 * 10**12 * 10**6
    shares = mm.to_shares_up(int(debt_usdc * 1e6), tba, tbs)
    market = mm.MorphoMarket(loan_token="0x" + "e2" * 20, collateral_token="0x" + "e1" * 20, loan_symbol="USDC",
                             collateral_symbol="WETH", loan_decimals=6, collateral_decimals=18, lltv_wad=86 * 10**16,
                             total_supply_assets=10**13, total_supply_shares=10**19,
                             total_borrow_assets=tba + int(debt_usdc * 1e6), total_borrow_shares=tbs + shares,
                             oracle_price=1300 * 10**6 * 10**36 // 10**18)
    return MorphoLoanModel(market=market, position=mm.MorphoPosition(borrow_shares=shares, collateral_wei=10**19),
                           name="m", account="0x" + "aa" * 20, block_number=1, block_timestamp=1, loan_usd=1.0,
                           collateral_usd=1300.0)


def run() -> dict:
    rng = np.random.default_rng(0)
    out: dict = {}

    # 1. vectorized health: N positions x 4 collateral assets
    n, a = 1_000_000, 4
    coll = rng.uniform(0, 1e6, (n, a))
    lt = rng.uniform(0.6, 0.95, a)
    debt = coll.sum(1) * rng.uniform(0.3, 0.9, n)
    t = _best(lambda: vector.health_factor(coll, lt, debt, check=False))
    out["health_evals_per_s"] = n / t
    t_checked = _best(lambda: vector.health_factor(coll, lt, debt))
    out["health_evals_per_s_validated"] = n / t_checked
    coll_i = np.floor(coll * 1e2)
    t_v30 = _best(lambda: aave_vector.health_factor_aave_v30(coll_i, lt * 1e4, np.floor(debt * 1e2)), 3)
    out["health_evals_per_s_aave_v30_rounding"] = n / t_v30

    # 2. 10,000 deleverage solutions (greedy multi-collateral closed form)
    m = 10_000
    c = rng.uniform(1e3, 1e6, (m, 3))
    lt3 = np.array([0.825, 0.81, 0.78])
    g = np.array([0.997, 0.995, 0.99])
    d = (c * lt3).sum(1) / rng.uniform(1.01, 1.2, m)
    t = _best(lambda: vector.deleverage_batch(c, lt3, g, d, 1.5), 7)
    out["deleverage_10k_ms"] = t * 1e3
    _, _, reached, _ = vector.deleverage_batch(c, lt3, g, d, 1.5)
    out["deleverage_10k_reached_fraction"] = float(reached.mean())

    # 3. exact planner (per position, integer re-checked) for scale
    snap = _snapshot()
    lim = SizingLimits(safety_floor_hf=1.0, min_action_usd=0)
    k = 200
    t = _best(lambda: [plan_deleverage(snap, 1.5, limits=lim, flash_premium_bps=5) for _ in range(k)], 2)
    out["exact_plan_deleverage_per_s"] = k / t
    t = _best(lambda: [aave.account_data(snap) for _ in range(2000)], 3)
    out["exact_account_data_per_s"] = 2000 / t
    # the one solver's atomic forms (issue 13), Aave and Morpho loan models, exact integer health per evaluation
    model = snap.loan_model()
    t = _best(lambda: [solver.atomic_deleverage(model, 1.5, premium_bps=5, limits=lim) for _ in range(k)], 2)
    out["atomic_deleverage_aave_per_s"] = k / t
    morpho = _morpho_model()
    t = _best(lambda: [solver.atomic_deleverage(morpho, 1.5, premium_bps=0, limits=lim) for _ in range(k)], 2)
    out["atomic_deleverage_morpho_per_s"] = k / t
    rich, rich_m = snap.loan_model().after(None, {"USDC": -6_000 * 10**6}), _morpho_model(debt_usdc=5_000)
    t = _best(lambda: [solver.atomic_boost(rich, 1.5, premium_bps=5, limits=lim) for _ in range(k)], 2)
    out["atomic_boost_aave_per_s"] = k / t
    t = _best(lambda: [solver.atomic_boost(rich_m, 1.5, premium_bps=0, limits=lim) for _ in range(k)], 2)
    out["atomic_boost_morpho_per_s"] = k / t

    # 4. analytic vs Monte Carlo first-passage probability
    case = (100.0, 80.0, 0.8, 0.5, 0.0)
    reps = 20_000
    t_an = _best(lambda: [risk.touch_probability(*case) for _ in range(reps)], 3) / reps
    spots = np.full(1_000_000, 100.0)
    t_an_vec = _best(lambda: risk.touch_probability_vec(spots, 80.0, 0.8, 0.5, 0.0), 3) / 1_000_000
    t_mc = _best(lambda: risk.touch_probability_mc(*case, n_paths=100_000, n_steps=16, seed=1), 3)
    out["analytic_prob_us"] = t_an * 1e6
    out["analytic_prob_vectorized_ns"] = t_an_vec * 1e9
    out["mc_prob_100k_paths_ms"] = t_mc * 1e3
    out["analytic_vs_mc_speed_ratio"] = t_mc / t_an
    out["analytic_vs_mc_abs_diff"] = abs(risk.touch_probability(*case) - risk.touch_probability_mc(*case, seed=1)[0])

    out["goals"] = {
        "health_evals_per_s>=1e6": out["health_evals_per_s"] >= 1e6,
        "deleverage_10k_ms<100": out["deleverage_10k_ms"] < 100,
    }
    width = max(len(key) for key in out)
    print("sizing benchmark")
    for key, value in out.items():
        if isinstance(value, float):
            print(f"  {key:<{width}}  {value:,.3f}")
        else:
            print(f"  {key:<{width}}  {value}")
    return out


if __name__ == "__main__":
    run()
