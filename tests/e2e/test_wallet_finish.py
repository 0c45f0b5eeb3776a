"""A plan that stopped half-way (collateral withdrawn, not yet sold) leaves a position at the withdraw
safety floor, where no further withdraw is allowed. Through the manager loop on the real contracts, the
next tick finishes the job from the wallet: sell the withdrawn collateral, repay, back to target 1.25
(+-0.5%) - and the borrowed USDC sitting in the same wallet is not touched (``use_wallet_funds =
"collateral"``)."""

from __future__ import annotations

import pytest

from manager.config import load_config
from manager.demo.scenario import DemoPosition, environ_for, write_config
from manager.runtime.lifecycle import build_manager, health_reader

pytestmark = pytest.mark.chain
WAD = 10**18

CAROL = DemoPosition("carol-cdp", "carol", "manage", "cdp_health",
                     {"trigger_health": 1.1, "target_health": 1.25, "cooldown_s": 0}, (), (), "managed CDP")


def test_interrupted_plan_is_finished_from_the_wallet(net, tmp_path):
    path = tmp_path / "posman.toml"
    write_config(path, net, webhook_url=None, smtp_port=None, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                 positions=(CAROL,))
    cfg = load_config(path)
    carol = net.address("carol")
    pool = net.contract("aave_v3/Pool", net.book["aave"]["pool"])
    weth = net.contract("erc20/WETH9", net.book["tokens"]["WETH"])
    usdc = net.contract("erc20/MintableERC20", net.book["tokens"]["USDC"])
    # what an interrupted deleverage leaves: 2.9 WETH withdrawn into the wallet, HF ~1.014 (< the 1.02 floor)
    net.transact(pool.functions.withdraw(net.book["tokens"]["WETH"], 29 * WAD // 10, carol), sender=carol)
    hf_before = pool.functions.getUserAccountData(carol).call()[5] / WAD
    assert 1.0 < hf_before < 1.02
    weth_wallet, usdc_wallet = weth.functions.balanceOf(carol).call(), usdc.functions.balanceOf(carol).call()
    assert weth_wallet >= 29 * WAD // 10 and usdc_wallet >= 42_000 * 10**6

    manager = build_manager(cfg, environ=environ_for(net, (CAROL,)))
    try:
        report = manager.runtime.tick()  # sends without waiting (status "submitted")
        assert manager.runtime.track_pending() == 1  # tracking beside the tick settles it
        assert manager.repo.actions_for("carol-cdp")[0].status == "confirmed"
    finally:
        manager.close()
    outcome = report.positions["carol-cdp"]
    assert outcome.action == "repay_from_wallet" and outcome.status == "submitted", (outcome.action, outcome.status,
                                                                                    outcome.reason)
    after = health_reader(net.book["aave"]["pool"], carol)(net.w3)
    assert after == pytest.approx(1.25, rel=0.005), (hf_before, after)
    assert weth.functions.balanceOf(carol).call() < weth_wallet  # the withdrawn WETH was sold
    # borrowed USDC in the wallet was not spent (the swap beat its oracle-derived minimum: a little more)
    assert usdc_wallet <= usdc.functions.balanceOf(carol).call() < usdc_wallet + 100 * 10**6
    data = pool.functions.getUserAccountData(carol).call()
    assert data[0] == pytest.approx(171 * 3000 * 10**8 // 10, rel=1e-9)  # no further withdraw (17.1 WETH left)


def test_supply_mode_adds_the_withdrawn_collateral_back(net, tmp_path):
    spec = DemoPosition("carol-cdp", "carol", "manage", "cdp_health",
                        {"trigger_health": 1.05, "target_health": 1.15, "cooldown_s": 0,
                         "use_wallet_funds": "supply"}, (), (), "managed CDP")
    path = tmp_path / "posman.toml"
    write_config(path, net, webhook_url=None, smtp_port=None, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                 positions=(spec,))
    carol = net.address("carol")
    pool = net.contract("aave_v3/Pool", net.book["aave"]["pool"])
    usdc = net.contract("erc20/MintableERC20", net.book["tokens"]["USDC"])
    net.transact(pool.functions.withdraw(net.book["tokens"]["WETH"], 29 * WAD // 10, carol), sender=carol)
    debt_before = pool.functions.getUserAccountData(carol).call()[1]
    usdc_wallet = usdc.functions.balanceOf(carol).call()
    manager = build_manager(load_config(path), environ=environ_for(net, (spec,)))
    try:
        outcome = manager.runtime.tick().positions["carol-cdp"]
        assert manager.runtime.track_pending() == 1
        assert manager.repo.actions_for("carol-cdp")[0].status == "confirmed"
    finally:
        manager.close()
    assert outcome.action == "add_collateral" and outcome.status == "submitted", (outcome.action, outcome.reason)
    after = pool.functions.getUserAccountData(carol).call()
    assert after[5] / WAD == pytest.approx(1.15, rel=0.005)
    assert after[1] >= debt_before  # nothing repaid, nothing sold: collateral was added
    assert usdc.functions.balanceOf(carol).call() == usdc_wallet
