"""PosmanExecutor.switchCollateral on the devnet's real Aave V3 + Uniswap V3: collateral WETH -> wstETH in one
transaction (flash wstETH -> supply for the owner -> pull + withdraw WETH -> swap -> repay flash), the debt
untouched, the final health >= the floor checked on chain; and its attack cases: another key, a direct callback,
a Morpho target, a floor below 1.0, a leg the wrong way, legs that do not cover the flash loan."""

from __future__ import annotations

import pytest
from eth_abi import encode

from manager.atomic import encode as E
from manager.execution.calls import encode_call
from tests.atomic import helpers as H

pytestmark = [pytest.mark.chain]
WAD = 10**18


def _switch(net, user: str, floor_hf: float, *, slippage_bps: int = 10, legs=None, flash_wei=None):
    """A switch of ``user``'s whole WETH collateral into wstETH (0.01 % pool), sized with the real quoter."""
    t = net.book["tokens"]
    flash = H.aave_flash(net)
    x = H.a_balance(net, user, "WETH")
    p = H.path(net, "WETH", "wstETH", 100)
    out = H.quote(net, p, x)
    min_out = out * (10_000 - slippage_bps) // 10_000
    f = min_out * 10_000 // (10_000 + flash.premium_bps)
    while f + flash.premium_wei(f) > min_out:
        f -= 1
    legs = legs or [E.SwapLeg(net.book["uniswap"]["router"], p, x, min_out)]
    step = E.switch_step(H.executor_of_address(net, user), pool=net.book["aave"]["pool"], from_asset=t["WETH"],
                         to_asset=t["wstETH"], flash_wei=flash_wei or f, withdraw_wei=x, legs=legs, flash=flash,
                         min_health_wad=int(floor_hf * WAD), plan_id=b"switch")
    return step, x, out, f, flash


def test_switch_moves_the_whole_collateral_in_one_transaction_above_the_floor(chain):
    net = chain
    alice = net.address("alice")
    executor = H.executor_of(net, "alice")
    debt0, hf0 = H.debt_of(net, alice, "USDC"), H.hf_wad(net, alice)
    step, x, out, f, flash = _switch(net, alice, 1.9)
    assert step.label == "atomic_switchCollateral" and step.selector == E.ENTRY_POINTS["switchCollateral"]
    nonce0 = net.w3.eth.get_transaction_count(alice)
    wallet0 = H.token_balances(net, alice)
    receipt = H.send(net, step, alice)
    assert receipt["status"] == 1
    assert net.w3.eth.get_transaction_count(alice) == nonce0 + 1
    assert H.a_balance(net, alice, "WETH") <= x // 10**9  # only the interest of the block between read and flow
    # the whole swap output less the premium is the new collateral (flash amount supplied first, surplus after)
    assert H.a_balance(net, alice, "wstETH") == pytest.approx(out - flash.premium_wei(f), rel=1e-6)  # + aToken interest
    assert H.debt_of(net, alice, "USDC") == pytest.approx(debt0, rel=1e-7)  # the debt is untouched
    hf1 = H.hf_wad(net, alice)
    assert 1.9 * WAD <= hf1 < hf0  # wstETH's threshold (79.5 %) is below WETH's (83 %)
    assert H.token_balances(net, alice) == wallet0
    H.assert_clean(net, executor)


def test_switch_below_its_floor_reverts_and_changes_nothing(chain):
    net = chain
    alice = net.address("alice")
    step, *_ = _switch(net, alice, 2.5)
    reason = H.revert_reason(net, step.to, step.data, alice)
    assert reason.startswith("PosmanExecutor.HealthTooLow(") and f"minHealthWad={int(2.5 * WAD)}" in reason
    before = H.account_data(net, alice)
    assert H.send(net, step, alice, gas=3_000_000)["status"] == 0
    assert H.account_data(net, alice) == before


def test_switch_attack_cases_revert_and_move_nothing(chain):
    net = chain
    alice = net.address("alice")
    executor = H.executor_of(net, "alice")
    t = net.book["tokens"]
    step, x, out, f, flash = _switch(net, alice, 1.9)
    before = H.account_data(net, alice), H.token_balances(net, alice)
    # another key
    for name in ("bob", "deployer", "liquidator"):
        assert H.revert_reason(net, step.to, step.data, net.address(name)) == "PosmanExecutor.NotOwner()"
    assert H.send(net, step, net.address("bob"), gas=3_000_000)["status"] == 0
    # a direct callback carrying a switch plan (even from the owner, even naming the executor as initiator)
    ex = H.contract(net, "posman/PosmanExecutor", executor)
    leg = E.SwapLeg(net.book["uniswap"]["router"], H.path(net, "WETH", "wstETH", 100), x, 1)
    plan = E._plan_tuple(flash, H.aave_target(net), t["wstETH"], t["WETH"], f, x, [leg], WAD, 0, E.ZERO_ADDRESS, 0,
                         0, b"attack")
    params = encode(["uint8", E._PLAN], [3, plan])
    data = ex.functions.executeOperation(t["wstETH"], f, 0, executor, params)._encode_transaction_data()
    for who in ("alice", "liquidator"):
        assert H.revert_reason(net, executor, data, net.address(who)) == "PosmanExecutor.UnexpectedCallback()"
    data = ex.functions.onMorphoFlashLoan(f, params)._encode_transaction_data()
    assert H.revert_reason(net, executor, data, net.address("liquidator")) == "PosmanExecutor.UnexpectedCallback()"

    def raw(plan_tuple) -> str:
        return encode_call(E.ABI, "switchCollateral", [plan_tuple])

    # a Morpho Blue target (a market has one collateral), and a floor below 1.0 (the contract needs its own check)
    morpho = list(plan)
    morpho[2] = 1
    assert H.revert_reason(net, executor, raw(tuple(morpho)), alice) == 'PosmanExecutor.BadPlan(what=protocol)'
    no_floor = list(plan)
    no_floor[10] = WAD - 1
    assert H.revert_reason(net, executor, raw(tuple(no_floor)), alice) == 'PosmanExecutor.BadPlan(what=floor)'
    same = list(plan)
    same[5] = t["WETH"]
    assert H.revert_reason(net, executor, raw(tuple(same)), alice) == 'PosmanExecutor.BadPlan(what=assets)'
    # a leg the wrong way (wstETH -> WETH) and legs whose output cannot repay the flash loan
    wrong = list(plan)
    v1 = E.ROUTER_KINDS["swap_router"]  # a leg is (router, path, amount in, min out, router kind)
    wrong[9] = [(net.book["uniswap"]["router"], bytes(H.path(net, "wstETH", "WETH", 100)), x, 1, v1)]
    assert H.revert_reason(net, executor, raw(tuple(wrong)), alice) == "PosmanExecutor.BadLeg(index=0)"
    short = list(plan)
    short[9] = [(net.book["uniswap"]["router"], bytes(leg.path), x // 2, 1, v1)]
    assert H.revert_reason(net, executor, raw(tuple(short)), alice).startswith("PosmanExecutor.FlashNotCovered(")
    # the encoder refuses what the contract would refuse
    with pytest.raises(ValueError, match="cover the flash loan"):
        _switch(net, alice, 1.9, flash_wei=out * 2)
    with pytest.raises(ValueError, match="min_health_wad"):
        E.switch_step(executor, pool=net.book["aave"]["pool"], from_asset=t["WETH"], to_asset=t["wstETH"],
                      flash_wei=f, withdraw_wei=x, legs=[leg], flash=flash, min_health_wad=WAD // 2)
    assert (H.account_data(net, alice), H.token_balances(net, alice)) == before
    H.assert_clean(net, executor)
