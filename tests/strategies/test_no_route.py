"""Regression (issue 15): the default ``collateral_order`` picked a collateral with no pool to the debt
(130 refusals, no action). A pair whose depth read finds no pool is excluded and another collateral is sold."""

from __future__ import annotations

from manager.protocols.aave_v3.deleverage import plan_deleverage
from manager.runtime.loop import decide_with_depth
from manager.sizing.caps import SizingLimits
from strategies import cdp_health
from strategies.api import LoadedStrategy, StrategyContext
from tests.sizing.builders import USDC, WETH, WSTETH, cpmm_curve, reserve, snapshot

LIMITS = SizingLimits(max_slippage_bps=200, safety_floor_hf=1.0, min_action_usd=0)


def two_collaterals():
    # wstETH is the more efficient sale (higher price, same LT band); WETH is the other collateral
    return snapshot([reserve("WETH", 2000 * 10**8), reserve("wstETH", 2300 * 10**8), reserve("USDC", 10**8)],
                    {"WETH": (10 * 10**18, 0), "wstETH": (10 * 10**18, 0), "USDC": (0, 33_000 * 10**6)})


def sold(decision):
    return {s.symbol for s in decision.steps if s.kind == "swap"}


def test_sizing_never_sells_a_collateral_without_a_route():
    snap = two_collaterals()
    default = plan_deleverage(snap, 1.3, limits=LIMITS)
    assert default.steps
    first = next(iter(sold(default)))
    d = plan_deleverage(snap, 1.3, limits=LIMITS, no_route=[(first, "USDC")])
    assert d.steps and first not in sold(d)


def test_loop_excludes_the_pair_whose_depth_read_finds_no_pool():
    snap = two_collaterals()
    cfg = cdp_health.Config(trigger_health=1.2, target_health=1.3, cooldown_s=0)
    strat = LoadedStrategy(name="cdp_health", module=cdp_health, config=cfg)
    ctx = StrategyContext(position="p", mode="manage", block_number=100, block_timestamp=1_700_000_000,
                          now_s=1_700_000_000, health=snap_health(snap), limits=LIMITS)
    first = next(iter(sold(cdp_health.decide(cfg, snap, ctx))))
    other = "WETH" if first == "wstETH" else "wstETH"
    curves = {(other, "USDC"): cpmm_curve(WETH if other == "WETH" else WSTETH, USDC, 2_000e18, 4_000_000e6)}
    asked: list[list[tuple[str, str]]] = []

    def read_depth(pairs):
        asked.append(list(pairs))
        return {p: curves[p] for p in pairs if p in curves}  # no pool for (first, USDC)

    d = decide_with_depth(strat, snap, ctx, read_depth)
    assert d is not None and d.steps and sold(d) == {other}, d.reason
    assert asked[0] == [(first, "USDC")]


def snap_health(snap):
    from manager.protocols.aave_v3.math import exact_position

    return exact_position(snap).health()
