"""Through the manager loop on the real devnet contracts: a Morpho Blue deleverage is sized from the
WETH/USDC pool's depth (read on demand at the tick's block, the config watching Morpho only, so no Aave
market resolves the symbols) and within the per-transaction USD cap, whose plan steps carry USD values.

The position is the devnet's seed ``manager4`` (10 WETH / 23,000 USDC on Morpho WETH/USDC, HF ~1.19); WETH
falls 5% (HF ~1.134 < trigger 1.15) and the loop brings it back to the target 1.4 (+-0.5%).
"""

from __future__ import annotations

import pytest

from manager.config import load_config
from manager.demo.scenario import DemoPosition, environ_for, write_config
from manager.runtime.lifecycle import build_manager, morpho_health_reader

pytestmark = pytest.mark.chain

MORPHO = DemoPosition("morpho-weth", "manager4", "manage", "cdp_health",
                      {"trigger_health": 1.15, "target_health": 1.4, "cooldown_s": 0}, (), (), "managed Morpho",
                      protocol="morpho-WETH-USDC")


def _deleverage(net, tmp_path, per_tx_usd: int):
    path = tmp_path / "posman.toml"
    write_config(path, net, webhook_url=None, smtp_port=None, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                 positions=(MORPHO,))
    text = path.read_text()
    assert "per_tx_usd = 200000" in text
    path.write_text(text.replace("per_tx_usd = 200000", f"per_tx_usd = {per_tx_usd}"))
    cfg = load_config(path)
    proto = cfg.protocol("morpho-WETH-USDC")
    health = morpho_health_reader(cfg.chains[proto.chain], proto, cfg.position("morpho-weth").account)
    manager = build_manager(cfg, environ=environ_for(net, (MORPHO,)))
    try:
        first = manager.runtime.tick()
        assert first.positions["morpho-weth"].action == "none"
        net.set_price("WETH", 2850)  # -5%: HF ~1.134 < trigger 1.15 (pools arbitraged to the new price)
        before = health(net.w3)
        assert 1.0 < before < 1.15
        acted = manager.runtime.tick()
        assert acted.ok, acted.error
        quiet = manager.runtime.tick()
    finally:
        manager.close()
    outcome = acted.positions["morpho-weth"]
    assert outcome.action == "deleverage" and outcome.status == "submitted", (outcome.status, outcome.reason)
    assert quiet.positions["morpho-weth"].action == "none"  # back in band
    assert health(net.w3) == pytest.approx(1.4, rel=0.005), (before, health(net.w3))
    (plan,) = manager.repo.actions_for("morpho-weth")
    assert plan.status == "confirmed"
    return outcome.decision, plan.steps_json


def test_morpho_deleverage_is_sized_from_pool_depth(net, tmp_path):
    decision, steps = _deleverage(net, tmp_path, 200_000)
    # the loop read the WETH->USDC depth curve for the decision: no oracle-less-haircut fallback
    assert "depth curve" in decision.reason and "WETH->USDC" in decision.reason
    assert "fallback" not in decision.reason and "haircut" not in decision.reason
    assert decision.feasible and decision.projected_health == pytest.approx(1.4, abs=1e-6)
    # the safety floor (1.02 after each withdraw) makes it rounds; every call is valued in USD
    assert decision.binding_constraint == "safety_floor_round" and decision.rounds >= 2
    swaps = [s for s in steps if s["kind"] == "swap"]
    assert len(swaps) == decision.rounds
    assert all(s["usd_value"] > 1_000 for s in swaps)
    assert all(s["usd_value"] > 0 for s in steps if s["kind"] in ("withdraw", "repay"))


def test_a_per_transaction_cap_splits_the_morpho_deleverage_into_capped_rounds(net, tmp_path):
    cap = 2_500
    decision, steps = _deleverage(net, tmp_path, cap)
    assert "depth curve" in decision.reason and "fallback" not in decision.reason
    assert decision.binding_constraint == "per_action_cap" and decision.rounds >= 5
    withdraws = [s for s in decision.steps if s.kind == "withdraw"]
    assert all(s.amount_wei / 1e18 * 2850 <= cap for s in withdraws)
    # what the policy checked: every call of the confirmed plan is within the per-transaction cap
    assert all(0 < s["usd_value"] <= cap for s in steps if s["kind"] in ("withdraw", "swap", "repay"))
