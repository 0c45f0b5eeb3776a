"""PosmanExecutor on the devnet's real Aave V3 (v3.0) + Uniswap V3: one-transaction deleverage, boost and close;
the final-health check; no funds or approvals left behind."""

from __future__ import annotations

import pytest

from manager.atomic import encode as E
from tests.atomic import helpers as H

pytestmark = [pytest.mark.chain]
WAD = 10**18


def test_deleverage_in_one_transaction_lands_at_the_planned_health(chain):
    net = chain
    carol = net.address("carol")
    executor = H.executor_of(net, "carol")
    flash = H.aave_flash(net)
    assert flash.premium_bps == 9  # read from the pool, the devnet's FLASHLOAN_PREMIUM_TOTAL
    hf0 = H.hf_wad(net, carol)
    debt0 = H.debt_of(net, carol, "USDC")
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.5, flash)
    step = H.deleverage_aave(net, carol, "WETH", "USDC", 500, s, flash, min_hf=int(1.5 * 0.995 * WAD),
                             max_hf=int(1.5 * 1.005 * WAD))
    assert step.label == "atomic_deleverage" and step.to == executor and step.kind == "call"
    nonce0 = net.w3.eth.get_transaction_count(carol)
    wallet0 = H.token_balances(net, carol)
    receipt = H.send(net, step, carol)
    assert receipt["status"] == 1
    assert net.w3.eth.get_transaction_count(carol) == nonce0 + 1  # one transaction
    hf1 = H.hf_wad(net, carol)
    assert hf0 < 1.2 * WAD
    assert abs(hf1 - s.planned_hf_wad) / s.planned_hf_wad < 1e-6, (hf1, s.planned_hf_wad)
    assert abs(hf1 / WAD / 1.5 - 1) < 0.005
    # the whole swap output, less the premium, repaid debt (the surplus over the flash loan too)
    assert debt0 - H.debt_of(net, carol, "USDC") == pytest.approx(s.out_wei - s.premium_wei, abs=debt0 // 10**5)
    assert H.token_balances(net, carol) == wallet0  # nothing paid out: all of it repaid debt
    H.assert_clean(net, executor)


def test_deleverage_below_min_health_reverts_and_changes_nothing(chain):
    net = chain
    carol = net.address("carol")
    flash = H.aave_flash(net)
    s = H.size_aave_deleverage(net, carol, "WETH", "USDC", 500, 1.3, flash)
    step = H.deleverage_aave(net, carol, "WETH", "USDC", 500, s, flash, min_hf=int(1.4 * WAD))
    reason = H.revert_reason(net, step.to, step.data, carol)
    assert reason.startswith("PosmanExecutor.HealthTooLow(healthWad=") and f"minHealthWad={int(1.4 * WAD)}" in reason
    before = H.account_data(net, carol)
    receipt = H.send(net, step, carol, gas=3_000_000)
    assert receipt["status"] == 0
    assert H.account_data(net, carol) == before
    # above the band's upper bound reverts too
    step = H.deleverage_aave(net, carol, "WETH", "USDC", 500, s, flash, min_hf=WAD, max_hf=int(1.25 * WAD))
    assert H.revert_reason(net, step.to, step.data, carol).startswith("PosmanExecutor.HealthTooHigh(")


def test_boost_supplies_and_borrows_for_the_owner(chain):
    net = chain
    alice = net.address("alice")
    executor = H.executor_of(net, "alice")
    flash = H.aave_flash(net)
    t = net.book["tokens"]
    borrow = 5_000 * 10**6
    p = H.path(net, "USDC", "WETH", 500)
    out = H.quote(net, p, borrow)
    leg = E.SwapLeg(net.book["uniswap"]["router"], p, borrow, out * 995 // 1000)
    coll0, debt0, hf0 = H.a_balance(net, alice, "WETH"), H.debt_of(net, alice, "USDC"), H.hf_wad(net, alice)
    step = E.boost_step(executor, target=H.aave_target(net), debt_asset=t["USDC"], collateral_asset=t["WETH"],
                        borrow_wei=borrow, legs=[leg], flash=flash, min_supply_wei=out * 995 // 1000,
                        min_health_wad=int(1.5 * WAD), plan_id=b"boost")
    assert step.label == "atomic_boost"
    assert H.send(net, step, alice)["status"] == 1
    # NOTE: tolerance = the interest a few seconds accrue on the whole balances between the reads and the flow
    assert H.a_balance(net, alice, "WETH") - coll0 == pytest.approx(out, abs=coll0 // 10**6)
    assert H.debt_of(net, alice, "USDC") - debt0 == pytest.approx(borrow + flash.premium_wei(borrow),
                                                                  abs=debt0 // 10**6)
    assert 1.5 * WAD < H.hf_wad(net, alice) < hf0
    H.assert_clean(net, executor)


def test_close_leaves_the_wallet_with_the_asset(chain):
    net = chain
    alice = net.address("alice")
    executor = H.executor_of(net, "alice")
    flash = H.aave_flash(net)
    t = net.book["tokens"]
    debt = H.debt_of(net, alice, "USDC")
    coll = H.a_balance(net, alice, "WETH")
    p = H.path(net, "WETH", "USDC", 500)
    sell = H.amount_in_for(net, p, (debt + flash.premium_wei(debt)) * 1003 // 1000)  # 0.3 % headroom
    leg = E.SwapLeg(net.book["uniswap"]["router"], p, sell, debt + flash.premium_wei(debt) + 1_000)
    weth0, usdc0 = H.erc20(net, t["WETH"]).functions.balanceOf(alice).call(), \
        H.erc20(net, t["USDC"]).functions.balanceOf(alice).call()
    step = E.close_step(executor, target=H.aave_target(net), debt_asset=t["USDC"], collateral_asset=t["WETH"],
                        legs=[leg], flash=flash, out_asset=t["WETH"], min_out_wei=coll - sell - 10**15,
                        plan_id=b"close")
    assert step.label == "atomic_close"
    assert H.send(net, step, alice)["status"] == 1
    assert H.debt_of(net, alice, "USDC") == 0 and H.a_balance(net, alice, "WETH") == 0
    weth1 = H.erc20(net, t["WETH"]).functions.balanceOf(alice).call()
    assert weth1 - weth0 >= coll - sell - 10**15  # the rest of the collateral, in WETH, in the wallet
    assert H.erc20(net, t["USDC"]).functions.balanceOf(alice).call() >= usdc0  # swap surplus over the debt
    H.assert_clean(net, executor)


def test_close_demands_its_minimum_out(chain):
    net = chain
    alice = net.address("alice")
    flash = H.aave_flash(net)
    t = net.book["tokens"]
    debt = H.debt_of(net, alice, "USDC")
    coll = H.a_balance(net, alice, "WETH")
    p = H.path(net, "WETH", "USDC", 500)
    sell = H.amount_in_for(net, p, (debt + flash.premium_wei(debt)) * 1003 // 1000)
    leg = E.SwapLeg(net.book["uniswap"]["router"], p, sell, debt + flash.premium_wei(debt))
    step = E.close_step(H.executor_of(net, "alice"), target=H.aave_target(net), debt_asset=t["USDC"],
                        collateral_asset=t["WETH"], legs=[leg], flash=flash, out_asset=t["WETH"],
                        min_out_wei=coll - sell + 10**18)  # a whole WETH more than there is
    assert H.revert_reason(net, step.to, step.data, alice).startswith("PosmanExecutor.OutTooLow(")


def test_deleverage_split_across_two_routes(chain):
    """One sale split over two legs: WETH -> USDC (0.05 %) and WETH -> DAI -> USDC (0.05 %, 0.01 %), each with its
    own minimum out; the output of both repays debt."""
    net = chain
    carol = net.address("carol")
    executor = H.executor_of(net, "carol")
    t = net.book["tokens"]
    flash = H.aave_flash(net)
    direct = H.path(net, "WETH", "USDC", 500)
    via_dai = E.pack_path([t["WETH"], t["DAI"], t["USDC"]], [500, 100])
    half = 3 * 10**18
    outs = [H.quote(net, direct, half), H.quote(net, via_dai, half)]
    legs = [E.SwapLeg(net.book["uniswap"]["router"], p, half, o * 995 // 1000) for p, o in zip((direct, via_dai), outs,
                                                                                            strict=True)]
    repay = sum(leg.min_out_wei for leg in legs) * 10_000 // 10_010
    debt0, hf0 = H.debt_of(net, carol, "USDC"), H.hf_wad(net, carol)
    step = E.deleverage_step(executor, target=H.aave_target(net), debt_asset=t["USDC"], collateral_asset=t["WETH"],
                             repay_wei=repay, withdraw_wei=2 * half, legs=legs, flash=flash,
                             min_health_wad=hf0 + 1)
    assert H.send(net, step, carol)["status"] == 1
    assert debt0 - H.debt_of(net, carol, "USDC") == pytest.approx(sum(outs) - flash.premium_wei(repay),
                                                                   abs=debt0 // 10**5)
    assert H.hf_wad(net, carol) > hf0
    H.assert_clean(net, executor)


def test_close_into_the_debt_asset_sells_everything(chain):
    """A leg of UINT256_MAX sells the whole withdrawn collateral: the wallet ends with USDC only."""
    net = chain
    alice = net.address("alice")
    executor = H.executor_of(net, "alice")
    t = net.book["tokens"]
    flash = H.aave_flash(net)
    debt, coll = H.debt_of(net, alice, "USDC"), H.a_balance(net, alice, "WETH")
    p = H.path(net, "WETH", "USDC", 500)
    out = H.quote(net, p, coll)
    usdc = H.erc20(net, t["USDC"])
    u0 = usdc.functions.balanceOf(alice).call()
    min_left = out * 995 // 1000 - debt - flash.premium_wei(debt) - 10**6
    step = E.close_step(executor, target=H.aave_target(net), debt_asset=t["USDC"], collateral_asset=t["WETH"],
                        legs=[E.SwapLeg(net.book["uniswap"]["router"], p, E.UINT256_MAX, out * 995 // 1000)],
                        flash=flash, out_asset=t["USDC"], min_out_wei=min_left)
    assert H.send(net, step, alice)["status"] == 1
    assert H.debt_of(net, alice, "USDC") == 0 and H.a_balance(net, alice, "WETH") == 0
    got = usdc.functions.balanceOf(alice).call() - u0
    assert got >= min_left and got == pytest.approx(_usdc_left(out, debt, flash), rel=1e-5)
    H.assert_clean(net, executor)


def _usdc_left(out, debt, flash):
    """The USDC a close leaves: the sale output less the debt and the flash premium."""
    return out - debt - flash.premium_wei(debt)


def test_deleverage_in_emode(chain):
    """dave: a wstETH/WETH loop in the ETH e-mode category (LT 95 %), HF ~1.15 -> 1.3 through the 0.01 % pool."""
    net = chain
    dave = net.address("dave")
    flash = H.aave_flash(net)
    s = H.size_aave_deleverage(net, dave, "wstETH", "WETH", 100, 1.3, flash)
    step = H.deleverage_aave(net, dave, "wstETH", "WETH", 100, s, flash, min_hf=int(1.3 * 0.995 * WAD),
                             max_hf=int(1.3 * 1.005 * WAD))
    assert H.send(net, step, dave)["status"] == 1
    hf1 = H.hf_wad(net, dave)
    assert abs(hf1 - s.planned_hf_wad) / s.planned_hf_wad < 1e-6
    H.assert_clean(net, H.executor_of(net, "dave"))
