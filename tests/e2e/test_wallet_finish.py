"""A plan that stopped half-way (collateral withdrawn, not yet sold) leaves a position at the withdraw
safety floor, where no further withdraw is allowed. Through the manager loop on the real contracts, the
next tick finishes the job from the wallet: sell the withdrawn collateral, repay, back to target 1.25
(+-0.5%) - and the borrowed USDC sitting in the same wallet is not touched (``use_wallet_funds =
"collateral"``)."""

from __future__ import annotations

import pytest

from manager.config import load_config
from manager.demo.scenario import DemoPosition, environ_for, write_config
from manager.protocols.aave_v3.wiring import health_reader
from manager.runtime.lifecycle import build_manager

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


class Killed(BaseException):
    """Stands for kill -9 right after a step was broadcast (and mined)."""


@pytest.mark.parametrize("restart", ["at once", "after expiry"])
@pytest.mark.parametrize("stage", ["withdraw", "approve router", "swap", "approve pool", "repay"])
def test_kill_at_every_stage_then_restart_reaches_the_target(net, tmp_path, stage, restart):
    """Regression (issue 15): killed between a round's swap and its repay, the restarted manager left the
    position below its trigger with the swap proceeds (the debt token) idle in the wallet, because the
    default ``use_wallet_funds`` never spends the debt token. Killed right after each step of the first
    round is broadcast (and mined), the restarted manager reaches the target from the wallet and the chain
    as they are; nothing is sent twice; the USDC the account held before (its own borrowed money) is not
    touched.

    Every step of a plan is signed and stored before the first is broadcast (``execute(wait=False)``), so a
    restart while the plan is still valid re-broadcasts the stored bytes of the steps never sent (same nonces,
    re-simulated first: ``reconcile``) and the plan itself completes ("at once"). Restarted past the plan's
    ``valid_until_block`` ("after expiry"), those stored steps are refused (released), the plan ends failed
    part-way and the restarted manager finishes it from the wallet."""
    from manager.execution.executor import ExecutorHooks

    spec = DemoPosition("carol-cdp", "carol", "manage", "cdp_health",
                        {"trigger_health": 1.25, "target_health": 1.4, "cooldown_s": 0}, (), (), "managed CDP")
    path = tmp_path / "posman.toml"
    write_config(path, net, webhook_url=None, smtp_port=None, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                 positions=(spec,))
    cfg = load_config(path)
    carol = net.address("carol")
    usdc = net.contract("erc20/MintableERC20", net.book["tokens"]["USDC"])
    health = health_reader(net.book["aave"]["pool"], carol)
    usdc_before, hf_before = usdc.functions.balanceOf(carol).call(), health(net.w3)
    assert hf_before < 1.25

    def kill_after_swap(ex):
        def hook(prepared):
            if ex_plan["steps"][prepared.step_index].label.startswith(stage):
                raise Killed(prepared.tx_hash)
        ex_plan: dict = {}
        original = ex.execute

        def execute(plan, *a, **k):
            ex_plan["steps"] = plan.steps
            return original(plan, *a, **k)
        ex.execute = execute
        ex.hooks = ExecutorHooks(after_broadcast=hook)

    first = build_manager(cfg, environ=environ_for(net, (spec,)), executor_tweaks=kill_after_swap)
    try:
        with pytest.raises(Killed):
            first.runtime.tick()
    finally:
        first.close()
    proceeds = usdc.functions.balanceOf(carol).call() - usdc_before
    assert health(net.w3) < 1.25 or stage == "repay"  # interrupted: below the trigger
    start = net.w3.eth.block_number
    if restart == "after expiry":  # past valid_until_block (decision block + 5 + 4 per step; 10 steps here)
        net.w3.provider.make_request("anvil_mine", [hex(5 + 4 * 10 + 10)])
        start = net.w3.eth.block_number
    second = build_manager(cfg, environ=environ_for(net, (spec,)))
    try:
        outcomes = []
        for _ in range(3):
            outcomes.append(second.runtime.tick().positions["carol-cdp"])
            if health(net.w3) >= 1.4 * 0.995:
                break
        interrupted = [p for p in second.repo.actions_for("carol-cdp") if p.status == "failed"]
    finally:
        second.close()
    if restart == "after expiry":
        assert interrupted and interrupted[-1].error.startswith(("interrupted", "step ")), \
            [(p.status, p.error) for p in interrupted]
    else:  # the first plan completed from its stored transactions, or was finished from the wallet
        assert all(p.error.startswith("interrupted") for p in interrupted), [p.error for p in interrupted]
    assert health(net.w3) >= 1.4 * 0.995, (stage, [(o.action, o.status, o.reason) for o in outcomes])
    nonces = [tx["nonce"] for n in range(start + 1, net.w3.eth.block_number + 1)
              for tx in net.w3.eth.get_block(n, full_transactions=True)["transactions"] if tx["from"] == carol]
    assert len(nonces) == len(set(nonces))
    # the interrupted plan's proceeds were repaid; the USDC carol held before was not spent
    assert usdc_before <= usdc.functions.balanceOf(carol).call() < usdc_before + max(proceeds, 0) + 100 * 10**6


def test_morpho_plan_stopped_at_the_floor_is_finished_from_the_wallet(net, tmp_path):
    """Regression (issue 15: "on Morpho it stays stuck even with 'all'"): collateral withdrawn by an
    interrupted plan leaves a Morpho position at the withdraw safety floor, below its trigger; the next ticks
    sell the withdrawn collateral from the wallet and repay: back above its trigger (in band) and above where it
    was before the interrupted plan withdrew."""
    from manager.chain.client import ChainClient
    from manager.chain.multicall import execute
    from manager.protocols.morpho_blue.encode import withdraw_collateral
    from manager.protocols.morpho_blue.reads import decode_params, params_calls
    from manager.runtime.lifecycle import morpho_health_reader

    spec = DemoPosition("morpho-weth", "manager4", "manage", "cdp_health",
                        {"trigger_health": 1.15, "target_health": 1.4, "cooldown_s": 0}, (), (), "managed Morpho",
                        protocol="morpho-WETH-USDC")
    path = tmp_path / "posman.toml"
    write_config(path, net, webhook_url=None, smtp_port=None, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                 positions=(spec,))
    cfg = load_config(path)
    proto = cfg.protocol("morpho-WETH-USDC")
    account = net.address("manager4")
    client = ChainClient.from_config(cfg, proto.chain).connect()
    params = decode_params(execute(client, params_calls(proto.morpho, [proto.market_id]), net.w3.eth.block_number)[0],
                           proto.market_id)
    health = morpho_health_reader(cfg.chains[proto.chain], proto, account)
    weth = net.contract("erc20/WETH9", net.book["tokens"]["WETH"])
    hf0 = health(net.w3)
    # what an interrupted round leaves: collateral withdrawn down to HF ~1.02, still in the wallet
    coll_wei = 10 * WAD  # manager4 holds 10 WETH in the market (devnet seed)
    withdraw = int(coll_wei * (1 - 1.02 / hf0))
    step = withdraw_collateral(proto.morpho, params, withdraw, account, account)
    tx = net.w3.eth.send_transaction({"from": account, "to": step.to, "data": step.data, "gas": 500_000})
    assert net.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    before = health(net.w3)
    assert 1.0 < before < 1.03 and weth.functions.balanceOf(account).call() >= withdraw
    manager = build_manager(cfg, environ=environ_for(net, (spec,)))
    try:
        first = manager.runtime.tick().positions["morpho-weth"]  # sends without waiting (status "submitted")
        assert manager.runtime.track_pending() == 1  # tracking beside the tick settles it
        assert manager.repo.actions_for("morpho-weth")[0].status == "confirmed"
        second = manager.runtime.tick().positions["morpho-weth"]
    finally:
        manager.close()
    assert first.action == "repay_from_wallet" and first.status == "submitted", (first.action, first.reason)
    after = health(net.w3)
    assert after >= 1.15 and after > hf0, (before, after)
    assert second.action == "none"  # in band: nothing more to do
    assert weth.functions.balanceOf(account).call() < withdraw  # the withdrawn WETH was sold
