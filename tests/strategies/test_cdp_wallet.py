"""cdp_health spends wallet funds only as ``use_wallet_funds`` allows (finishing an interrupted plan)."""

from __future__ import annotations

from strategies import cdp_health
from strategies.api import StrategyContext
from tests.sizing.builders import USDC, WETH, reserve, snapshot

WAD = 10**18


def _at_floor():
    # HF = 10*1300*0.825/10640 = 1.008: below the default 1.02 safety floor, no withdraw possible
    return snapshot([reserve("WETH", 1300 * 10**8), reserve("USDC", 10**8)],
                    {"WETH": (10 * WAD, 0), "USDC": (0, 10_640 * 10**6)})


def _ctx(snap, wallet):
    from manager.protocols.aave_v3.math import health_factor

    return StrategyContext(position="cdp", mode="manage", block_number=snap.block_number,
                           block_timestamp=snap.block_timestamp, now_s=float(snap.block_timestamp),
                           health=health_factor(snap), wallet_wei=wallet)


def test_collateral_in_wallet_is_sold_to_repay_by_default():
    cfg = cdp_health.Config(trigger_health=1.2, target_health=1.4)
    d = cdp_health.decide(cfg, _at_floor(), _ctx(_at_floor(), {WETH: 4 * WAD, USDC: 10**12}))
    kinds = [s.kind for s in d.steps]
    assert kinds[:2] == ["swap", "repay"] and "withdraw" not in kinds and d.feasible
    assert all(s.asset != USDC or s.kind == "repay" for s in d.steps)  # borrowed USDC in the wallet: untouched


def test_all_repays_from_wallet_debt_tokens_first():
    cfg = cdp_health.Config(trigger_health=1.2, target_health=1.4, use_wallet_funds="all")
    d = cdp_health.decide(cfg, _at_floor(), _ctx(_at_floor(), {USDC: 10**12}))
    assert [s.kind for s in d.steps] == ["repay"] and d.action == "repay_from_wallet"


def test_none_never_touches_the_wallet():
    cfg = cdp_health.Config(trigger_health=1.2, target_health=1.4, use_wallet_funds="none")
    d = cdp_health.decide(cfg, _at_floor(), _ctx(_at_floor(), {WETH: 4 * WAD, USDC: 10**12}))
    assert not d.steps and not d.feasible and d.binding_constraint == "safety_floor"


def test_supply_adds_the_wallet_collateral():
    cfg = cdp_health.Config(trigger_health=1.2, target_health=1.4, use_wallet_funds="supply")
    d = cdp_health.decide(cfg, _at_floor(), _ctx(_at_floor(), {WETH: 4 * WAD, USDC: 10**12}))
    assert [s.kind for s in d.steps] == ["supply"] and d.action == "add_collateral" and d.steps[0].asset == WETH
