"""PosmanExecutor on the devnet's real Morpho Blue: deleverage funded by Morpho's fee-free flash loan and by
Aave's flash loan; the on-chain health equals Morpho's own ``_isHealthy`` arithmetic."""

from __future__ import annotations

import pytest

from tests.atomic import helpers as H

pytestmark = [pytest.mark.chain]
WAD = 10**18
KEY = "WETH/USDC"  # manager4: 10 WETH vs 23k USDC, LLTV 0.915, HF ~1.19


def _planned(net, user, withdraw_wei, repaid_wei):
    """Morpho._isHealthy's arithmetic on the planned post-state (oracle price at this block)."""
    m = net.book["morpho"]["markets"][KEY]
    oracle = net.w3.eth.contract(address=m["oracle"], abi=[{"type": "function", "name": "price", "inputs": [],
                                                            "outputs": [{"type": "uint256"}],
                                                            "stateMutability": "view"}])
    price = oracle.functions.price().call()
    _s, _b, coll = H.morpho_position(net, user, KEY)
    borrowed = H.morpho_borrowed(net, user, KEY)
    max_borrow = (coll - withdraw_wei) * price // 10**36 * int(m["lltv_wad"]) // WAD
    return max_borrow * WAD // (borrowed - repaid_wei)


@pytest.mark.parametrize("lender", ["morpho", "aave"])
def test_morpho_deleverage_in_one_transaction(chain, lender):
    net = chain
    user = net.address("manager4")
    executor = H.executor_of(net, "manager4")
    flash = H.morpho_flash(net) if lender == "morpho" else H.aave_flash(net)
    hf0 = H.morpho_health(net, user, KEY)
    assert 1.15 * WAD < hf0 < 1.25 * WAD
    withdraw = 2 * 10**18
    step, out, _repay = H.morpho_deleverage(net, user, KEY, withdraw, flash, min_hf=int(1.25 * WAD))
    planned = _planned(net, user, withdraw, out - flash.premium_wei(_repay))
    nonce0 = net.w3.eth.get_transaction_count(user)
    receipt = H.send(net, step, user)
    assert receipt["status"] == 1 and net.w3.eth.get_transaction_count(user) == nonce0 + 1
    hf1 = H.morpho_health(net, user, KEY)
    assert abs(hf1 - planned) / planned < 1e-6, (hf1, planned)
    assert hf1 > 1.25 * WAD
    # the executor's event carries the same health the contract checked
    ex = H.contract(net, "posman/PosmanExecutor", executor)
    (ev,) = ex.events.Executed().process_receipt(receipt)
    assert ev.args.healthWad == hf1 and ev.args.action == 0
    H.assert_clean(net, executor)


def test_morpho_flash_is_free_and_aave_charges_its_premium(chain):
    """Same action, two lenders: with Morpho's flash loan the whole swap output repays debt; with Aave's, the
    premium (FLASHLOAN_PREMIUM_TOTAL bps of the loan) is what is missing."""
    net = chain
    user = net.address("manager4")
    withdraw = 2 * 10**18
    repaid = {}
    for lender in ("morpho", "aave"):
        snap = net.snapshot()
        flash = H.morpho_flash(net) if lender == "morpho" else H.aave_flash(net)
        step, out, repay = H.morpho_deleverage(net, user, KEY, withdraw, flash, min_hf=WAD)
        before = H.morpho_borrowed(net, user, KEY)
        assert H.send(net, step, user)["status"] == 1
        repaid[lender] = (before - H.morpho_borrowed(net, user, KEY), out, flash.premium_wei(repay))
        net.revert(snap)
    (m_rep, m_out, m_prem), (a_rep, a_out, a_prem) = repaid["morpho"], repaid["aave"]
    # NOTE: abs=300 (0.0003 USDC): the interest that accrues on the 23k USDC debt between the read and the flow
    assert m_prem == 0 and m_rep == pytest.approx(m_out, abs=300)
    assert a_prem > 1_000_000 and a_rep == pytest.approx(a_out - a_prem, abs=300)


def test_morpho_boost_and_close(chain):
    from manager.atomic import encode as E

    net = chain
    user = net.address("manager4")
    executor = H.executor_of(net, "manager4")
    m = net.book["morpho"]["markets"][KEY]
    router = net.book["uniswap"]["router"]
    target = H.morpho_target(net, KEY)
    flash = H.morpho_flash(net)
    _s, shares0, coll0 = H.morpho_position(net, user, KEY)
    # boost: 3,000 USDC more debt, bought WETH supplied as collateral
    borrow = 3_000 * 10**6
    p = H.path(net, "USDC", "WETH", 500)
    out = H.quote(net, p, borrow)
    hf0 = H.morpho_health(net, user, KEY)
    step = E.boost_step(executor, target=target, debt_asset=m["loan_token"], collateral_asset=m["collateral_token"],
                        borrow_wei=borrow, legs=[E.SwapLeg(router, p, borrow, out * 995 // 1000)], flash=flash,
                        min_supply_wei=out * 995 // 1000, min_health_wad=int(1.05 * WAD))
    assert H.send(net, step, user)["status"] == 1
    _s, shares1, coll1 = H.morpho_position(net, user, KEY)
    assert coll1 - coll0 == out and shares1 > shares0 and H.morpho_health(net, user, KEY) < hf0
    H.assert_clean(net, executor)
    # close: the whole debt repaid with a flash loan, all collateral withdrawn, the rest to the wallet in WETH
    debt = H.morpho_borrowed(net, user, KEY)
    p = H.path(net, "WETH", "USDC", 500)
    sell = H.amount_in_for(net, p, debt * 1003 // 1000)
    weth = H.erc20(net, m["collateral_token"])
    w0 = weth.functions.balanceOf(user).call()
    step = E.close_step(executor, target=target, debt_asset=m["loan_token"], collateral_asset=m["collateral_token"],
                        legs=[E.SwapLeg(router, p, sell, debt + 1)], flash=flash, out_asset=m["collateral_token"],
                        min_out_wei=coll1 - sell)
    assert H.send(net, step, user)["status"] == 1
    assert H.morpho_position(net, user, KEY)[1:] == (0, 0)
    assert weth.functions.balanceOf(user).call() - w0 == coll1 - sell
    H.assert_clean(net, executor)


def test_flash_sources_and_the_cheapest(chain):
    from manager.atomic.reads import aave_flash_option, cheapest, morpho_flash_option

    net = chain
    usdc = net.book["tokens"]["USDC"]
    aave = aave_flash_option(net.w3, net.book["aave"]["pool"], usdc)
    morpho = morpho_flash_option(net.w3, net.book["morpho"]["morpho"], usdc)
    assert aave.usable and aave.source.premium_bps == 9 and aave.liquidity_wei > 10**12
    assert morpho.source.premium_bps == 0 and morpho.liquidity_wei == H.erc20(net, usdc).functions.balanceOf(
        net.book["morpho"]["morpho"]).call()
    assert cheapest([aave, morpho], 10**9) == morpho.source  # free and deep enough
    assert cheapest([aave, morpho], morpho.liquidity_wei + 1) == aave.source  # only Aave has that much
    assert cheapest([aave, morpho], aave.liquidity_wei + morpho.liquidity_wei) is None
    # flash loans switched off on the reserve (as v3.0 reserves start): not usable, and said why
    cfg = H.contract(net, "aave_v3/PoolConfigurator", net.book["aave"]["pool_configurator"])
    net.transact(cfg.functions.setReserveFlashLoaning(usdc, False))
    off = aave_flash_option(net.w3, net.book["aave"]["pool"], usdc)
    assert not off.usable and off.why == "flash loans disabled for the reserve"
    assert cheapest([off, morpho], morpho.liquidity_wei + 1) is None
