"""Nobody but the owner can make PosmanExecutor act: another key is refused; a direct call of either flash-loan
callback, a malicious contract posing as the lender, and a real Aave flash loan started by somebody else that
names the executor as receiver all revert without moving anything; revoking the grants disables it."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import encode

from manager.atomic import encode as E
from manager.atomic.grants import revoke_steps
from manager.devnet.compile import compile_files
from tests.atomic import helpers as H

pytestmark = [pytest.mark.chain]
WAD = 10**18


@pytest.fixture()
def setup(chain):
    net = chain
    carol = net.address("carol")
    flash = H.aave_flash(net)
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.5, flash)
    step = H.deleverage_aave(net, carol, "WETH", "USDC", 500, s, flash, min_hf=WAD)
    return net, carol, H.executor_of(net, "carol"), s, step


def _state(net, user, executor):
    """Scaled Aave balances (interest accrual between blocks does not change them) and every wallet balance."""
    scaled = {}
    for sym, r in H.reserves(net).items():
        for kind, token in (("a", r.a_token), ("debt", r.variable_debt_token)):
            c = H.contract(net, "aave_v3/AToken", token)
            scaled[(kind, sym)] = c.functions.scaledBalanceOf(user).call()
    return scaled, H.token_balances(net, user), H.token_balances(net, executor)


def _callback_params(net, s, *, withdraw_wei, min_out=1):
    """What an attacker would feed the callback: a deleverage of carol that sells her collateral with no floor."""
    t = net.book["tokens"]
    leg = E.SwapLeg(net.book["uniswap"]["router"], H.path(net, "WETH", "USDC", 500), withdraw_wei, min_out)
    plan = E._plan_tuple(H.aave_flash(net), H.aave_target(net), t["USDC"], t["WETH"], s.repay_wei, withdraw_wei,
                         [leg], WAD, 0, E.ZERO_ADDRESS, 0, 0, b"attack")
    return encode(["uint8", E._PLAN], [0, plan])


@pytest.fixture(scope="module")
def attacker_art():
    return compile_files({"posman/tests/Attacker.sol": Path(__file__).with_name("contracts") / "Attacker.sol"})[
        "Attacker"]


def _deploy_attacker(net, art, sender):
    c = net.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = net.w3.eth.wait_for_transaction_receipt(c.constructor().transact({"from": sender}))
    return net.w3.eth.contract(address=r["contractAddress"], abi=art["abi"])


def test_another_key_is_refused(setup):
    net, carol, executor, _s, step = setup
    for name in ("bob", "deployer", "liquidator"):
        assert H.revert_reason(net, step.to, step.data, net.address(name)) == "PosmanExecutor.NotOwner()"
    before = _state(net, carol, executor)
    assert H.send(net, step, net.address("bob"), gas=3_000_000)["status"] == 0
    assert _state(net, carol, executor) == before
    ex = H.contract(net, "posman/PosmanExecutor", executor)
    sweep = ex.functions.sweep(net.book["tokens"]["WETH"])._encode_transaction_data()
    assert H.revert_reason(net, executor, sweep, net.address("bob")) == "PosmanExecutor.NotOwner()"
    # and the owner's own call goes through
    assert H.send(net, step, carol)["status"] == 1


def test_direct_callback_calls_cannot_move_funds(setup):
    net, carol, executor, s, _step = setup
    ex = H.contract(net, "posman/PosmanExecutor", executor)
    usdc = net.book["tokens"]["USDC"]
    params = _callback_params(net, s, withdraw_wei=H.a_balance(net, carol, "WETH") // 2)
    before = _state(net, carol, executor)
    mallory = net.address("liquidator")
    for initiator in (mallory, executor):  # even claiming to be the initiator
        data = ex.functions.executeOperation(usdc, s.repay_wei, 0, initiator, params)._encode_transaction_data()
        expect = "PosmanExecutor.BadInitiator()" if initiator == mallory else "PosmanExecutor.UnexpectedCallback()"
        assert H.revert_reason(net, executor, data, mallory) == expect
        assert H.revert_reason(net, executor, data, carol) == expect  # not even the owner may call it directly
    data = ex.functions.onMorphoFlashLoan(s.repay_wei, params)._encode_transaction_data()
    assert H.revert_reason(net, executor, data, mallory) == "PosmanExecutor.UnexpectedCallback()"
    assert H.send(net, type("S", (), {"to": executor, "data": data})(), mallory, gas=3_000_000)["status"] == 0
    assert _state(net, carol, executor) == before


def test_malicious_contract_posing_as_the_lender_cannot_move_funds(setup, attacker_art):
    net, carol, executor, s, _step = setup
    mallory = net.address("liquidator")
    attacker = _deploy_attacker(net, attacker_art, mallory)
    usdc = net.book["tokens"]["USDC"]
    params = _callback_params(net, s, withdraw_wei=H.a_balance(net, carol, "WETH") // 2)
    before = _state(net, carol, executor)
    calls = [
        attacker.functions.poseAsAavePool(executor, usdc, s.repay_wei, executor, params),
        attacker.functions.poseAsMorpho(executor, s.repay_wei, params),
    ]
    reasons = [H.revert_reason(net, attacker.address, c._encode_transaction_data(), mallory) for c in calls]
    assert reasons == ["PosmanExecutor.UnexpectedCallback()"] * 2
    # a real Aave flash loan somebody else starts, naming the executor as receiver: the pool calls back with
    # initiator = the attacker
    flash = attacker.functions.flashLoanForVictim(net.book["aave"]["pool"], executor, usdc, s.repay_wei, params)
    assert H.revert_reason(net, attacker.address, flash._encode_transaction_data(), mallory) == \
        "PosmanExecutor.BadInitiator()"
    for c in [*calls, flash]:
        tx = c.transact({"from": mallory, "gas": 3_000_000})
        assert net.w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
    assert _state(net, carol, executor) == before


def test_a_fake_lender_named_in_a_plan_cannot_go_beyond_the_plan(setup, attacker_art):
    """The flow's hash binds the lender the owner named and the exact plan data: even a fake lender the owner's
    own plan names can only trigger that plan, for the owner; it lends nothing, so repay-first has no funds and
    the whole transaction reverts."""
    net, carol, executor, s, _step = setup
    attacker = _deploy_attacker(net, attacker_art, net.address("liquidator"))
    t = net.book["tokens"]
    leg = E.SwapLeg(net.book["uniswap"]["router"], H.path(net, "WETH", "USDC", 500), s.withdraw_wei, 1)
    fake = E.FlashSource("aave", attacker.address, 0)
    bad = E.deleverage_step(executor, target=H.aave_target(net), debt_asset=t["USDC"], collateral_asset=t["WETH"],
                            repay_wei=s.repay_wei, withdraw_wei=s.withdraw_wei, legs=[leg], flash=fake,
                            min_health_wad=WAD)
    # the attacker "lends" nothing: the executor's repay-first has no funds and the flow reverts as a whole
    before = _state(net, carol, executor)
    assert H.revert_reason(net, bad.to, bad.data, carol) == "Error('ERC20: transfer amount exceeds balance')"
    assert H.send(net, bad, carol, gas=3_000_000)["status"] == 0
    assert _state(net, carol, executor) == before


def test_revoke_makes_the_executor_unable_to_act(setup):
    net, carol, executor, _s, step = setup
    reserves = H.reserves(net)
    for r in revoke_steps(executor, reserves, ["WETH", "USDC"]):
        assert r.label.startswith("revoke_")
        assert H.send(net, r, carol)["status"] == 1
    weth_a = H.erc20(net, reserves["WETH"].a_token)
    assert weth_a.functions.allowance(carol, executor).call() == 0
    before = _state(net, carol, executor)
    # the aToken transferFrom under a zero allowance fails
    assert H.revert_reason(net, step.to, step.data, carol) == \
        f"PosmanExecutor.TokenCallFailed(token={reserves['WETH'].a_token.lower()})"
    assert H.send(net, step, carol, gas=3_000_000)["status"] == 0
    assert _state(net, carol, executor) == before


def test_morpho_revoke_makes_the_executor_unable_to_act(chain):
    net = chain
    user = net.address("manager4")
    executor = H.executor_of(net, "manager4")
    step, _out, _repay = H.morpho_deleverage(net, user, "WETH/USDC", 10**18, H.morpho_flash(net), min_hf=WAD)
    (off,) = revoke_steps(executor, {}, [], morpho=[net.book["morpho"]["morpho"]])
    assert H.send(net, off, user)["status"] == 1
    before = H.morpho_position(net, user, "WETH/USDC")
    assert "Error('unauthorized')" in H.revert_reason(net, step.to, step.data, user)
    assert H.send(net, step, user, gas=3_000_000)["status"] == 0
    assert H.morpho_position(net, user, "WETH/USDC") == before


def test_a_callback_during_the_flow_is_refused(setup, attacker_art):
    """The flow accepts exactly one callback: a contract the flow calls (here a router of the plan) that calls a
    callback back mid-flow is refused, and the whole transaction reverts."""
    net, carol, executor, s, _step = setup
    art = compile_files({"posman/tests/Attacker.sol": Path(__file__).with_name("contracts") / "Attacker.sol"})[
        "ReenteringRouter"]
    router = _deploy_attacker(net, art, net.address("liquidator"))
    t = net.book["tokens"]
    leg = E.SwapLeg(router.address, H.path(net, "WETH", "USDC", 500), s.withdraw_wei, 1)
    step = E.deleverage_step(executor, target=H.aave_target(net), debt_asset=t["USDC"], collateral_asset=t["WETH"],
                             repay_wei=s.repay_wei, withdraw_wei=s.withdraw_wei, legs=[leg], flash=H.aave_flash(net),
                             min_health_wad=WAD)
    assert H.revert_reason(net, step.to, step.data, carol) == "PosmanExecutor.UnexpectedCallback()"
    before = _state(net, carol, executor)
    assert H.send(net, step, carol, gas=3_000_000)["status"] == 0
    assert _state(net, carol, executor) == before


def test_sweep_sends_stray_tokens_to_the_owner_only(setup):
    net, carol, executor, _s, _step = setup
    weth = H.contract(net, "erc20/WETH9", net.book["tokens"]["WETH"])
    stranger = net.address("spare1")
    net.w3.provider.make_request("anvil_setBalance", [stranger, hex(10**20)])
    net.transact(weth.functions.deposit(), sender=stranger, value=10**18)
    net.transact(weth.functions.transfer(executor, 10**18), sender=stranger)
    ex = H.contract(net, "posman/PosmanExecutor", executor)
    w0 = weth.functions.balanceOf(carol).call()
    net.transact(ex.functions.sweep(weth.address), sender=carol)
    assert weth.functions.balanceOf(carol).call() - w0 == 10**18
    assert weth.functions.balanceOf(executor).call() == 0
