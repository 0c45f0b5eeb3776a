"""Price automations (pure): when each fires, what it decides, and how it combines with cdp_health."""

from __future__ import annotations

import math

from manager.domain import OracleReading
from manager.protocols.aave_v3.math import health_factor
from manager.sizing.caps import SizingLimits
from strategies import cdp_health, close_on_price, price_trigger, trailing_stop
from strategies.api import LoadedAutomation, LoadedStrategy, StrategyContext, call_decide
from tests.sizing.builders import USDC, WETH, a1, cpmm_curve


def oracle(usd: float, round_id: int = 7) -> OracleReading:
    return OracleReading(symbol="WETH", feed="0xfeed", answer=round(usd * 1e8), decimals=8, round_id=round_id,
                         updated_at=1, block_number=100, block_timestamp=1, heartbeat_s=3600, age_s=0, stale=False)


def ctx_for(snap, usd: float, *, atomic: bool = True, state=None, key: str = "") -> StrategyContext:
    curve = cpmm_curve(WETH, USDC, 12_500 * 1e18, 12_500 * usd * 1e6, fee_pips=500)  # a deep pool at the price
    return StrategyContext(position="p", mode="manage", block_number=100, block_timestamp=1, now_s=1.0,
                           health=health_factor(snap), limits=SizingLimits(max_slippage_bps=100),
                           depth={(WETH, USDC): curve}, oracles={"WETH": oracle(usd)},
                           flash_premium_bps=0 if atomic else None, path_note="path: atomic (test)",
                           automation_state=state or {}, automation_key=key)


STOP = close_on_price.Config(asset="WETH", below_usd=1800, out="USDC")


def at(usd: float, debt_usdc: int = 10_000):
    """a1 priced at ``usd`` (the reserve's oracle price = the feed's answer = the pool's price)."""
    return a1(weth_price_base=round(usd * 1e8), debt_usdc=debt_usdc)


def test_stop_loss_is_armed_above_its_level_and_closes_at_it():
    snap = at(1900)
    d = close_on_price.decide(STOP, snap, ctx_for(snap, 1900))
    assert d.action == "none" and d.binding_constraint == "armed" and "stop at 1,800.00" in d.reason
    snap = at(1800)
    d = close_on_price.decide(STOP, snap, ctx_for(snap, 1800))
    assert d.action == "close" and d.reason.startswith("stop-loss: WETH 1,800.00 <= 1,800.00")
    assert "path: atomic (test)" in d.reason


def test_without_the_atomic_path_a_fired_stop_says_why_and_does_not_act():
    snap = at(1700)
    d = close_on_price.decide(STOP, snap, ctx_for(snap, 1700, atomic=False))
    assert d.action == "none" and d.binding_constraint == "no_atomic_path"


def test_trailing_stop_uses_the_stored_peak_not_the_current_price():
    cfg = trailing_stop.Config(asset="WETH", trail_bps=1000, out="USDC")
    snap = at(2000)
    state = {"t": {"peak_usd": 2200.0, "peak_round": 5}}
    d = trailing_stop.decide(cfg, snap, ctx_for(snap, 2000, state=state, key="t"))
    assert d.action == "none" and "stop 1,980.00" in d.reason  # peak 2,200 - 10 %
    snap = at(1970)
    d = trailing_stop.decide(cfg, snap, ctx_for(snap, 1970, state=state, key="t"))
    assert d.action == "close" and "peak 2,200.00 of round 5" in d.reason
    d = trailing_stop.decide(cfg, snap, ctx_for(snap, 1970, state={"t": {"unreadable": True}}, key="t"))
    assert d.action == "none" and d.binding_constraint == "state_unreadable"
    (armed,) = trailing_stop.armed(cfg, ctx_for(snap, 2000, state=state, key="t"))
    assert armed["level_usd"] == 1980.0 and armed["distance_pct"] == (2000 - 1980) / 2000 * 100


def test_price_trigger_repays_to_target_and_honours_its_min_sell_price():
    snap = a1(debt_usdc=13_000)  # HF 10 * 1800 * 0.825 / 13,000 ~ 1.14 at 1,800
    cfg = price_trigger.Config(asset="WETH", below_usd=1900, action="repay", target_health=1.5,
                               min_sell_price_usd=1700)
    at = a1(weth_price_base=1800 * 10**8, debt_usdc=13_000)
    d = price_trigger.decide(cfg, at, ctx_for(at, 1800))
    assert d.action == "deleverage" and abs(d.projected_health - 1.5) < 0.01
    low = a1(weth_price_base=1650 * 10**8, debt_usdc=13_000)
    d = price_trigger.decide(cfg, low, ctx_for(low, 1650))
    assert d.action == "none" and d.binding_constraint == "price_bound"
    assert price_trigger.decide(cfg, snap, ctx_for(snap, 2000)).binding_constraint == "armed"


def test_automations_run_before_cdp_health_and_the_first_that_fires_decides():
    base = cdp_health.Config(trigger_health=1.3, target_health=1.5)
    take = close_on_price.Config(asset="WETH", above_usd=2500, out="USDC")
    strat = LoadedStrategy("cdp_health", cdp_health, base, automations=(
        LoadedAutomation("stop", "close_on_price", close_on_price, STOP, 0),
        LoadedAutomation("tp", "close_on_price", close_on_price, take, 1)))
    snap = at(2000)
    d = call_decide(strat, snap, ctx_for(snap, 2000))  # nothing fires; cdp_health: HF 1.65 in band
    assert d.action == "none" and "inside band" in d.reason
    snap = at(1750)
    d = call_decide(strat, snap, ctx_for(snap, 1750))
    assert d.action == "close" and d.reason.startswith("[stop] stop-loss")
    snap = at(2600)
    d = call_decide(strat, snap, ctx_for(snap, 2600))
    assert d.action == "close" and d.reason.startswith("[tp] take-profit")
    assert math.isinf(d.projected_health)
