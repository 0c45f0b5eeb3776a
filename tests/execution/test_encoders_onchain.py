"""Encoders executed on the real devnet (Aave V3 Pool, Uniswap V3 SwapRouter): ``repay_with_a_tokens``,
``set_use_reserve_as_collateral`` and ``exact_output`` do on chain what their calldata says."""

from __future__ import annotations

import pytest

from manager.execution.calls import erc20_approve
from manager.execution.types import TxStep
from manager.protocols.aave_v3 import encode as aave
from manager.protocols.uniswap_v3 import encode as uni

pytestmark = pytest.mark.chain

USER = "spare1"


def _send(net, step: TxStep, sender: str):
    tx = net.w3.eth.send_transaction({"from": sender, "to": step.to, "data": step.data, "value": step.value_wei})
    receipt = net.w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.01)
    assert receipt["status"] == 1, step.describe()
    return receipt


def _units(net, sym: str, amount: float) -> int:
    return int(amount * 10 ** net.book["decimals"][sym])


def _fund(net, user: str, sym: str, units: int) -> None:
    asset = net.book["tokens"][sym]
    if sym == "WETH":
        net.transact(net.contract("erc20/WETH9", asset).functions.deposit(), sender=user, value=units)
    else:
        token = net.contract("erc20/MintableERC20", asset)
        net.transact(token.get_function_by_signature("mint(uint256)")(units), sender=user)


def _open(net, user: str) -> tuple[str, str, str]:
    """``user`` supplies 10 WETH + 10,000 USDC and borrows 2,000 USDC (variable)."""
    pool = net.book["aave"]["pool"]
    weth, usdc = net.book["tokens"]["WETH"], net.book["tokens"]["USDC"]
    for sym, amount in (("WETH", 10), ("USDC", 10_000)):
        units = _units(net, sym, amount)
        _fund(net, user, sym, units)
        _send(net, aave.approve_for_pool(pool, net.book["tokens"][sym], units), user)
        _send(net, aave.supply(pool, net.book["tokens"][sym], units, user), user)
    _send(net, aave.borrow(pool, usdc, _units(net, "USDC", 2_000), user), user)
    return pool, weth, usdc


def _user_reserve(net, asset: str, user: str):
    """(aToken balance, variable debt, usage as collateral) from the AaveProtocolDataProvider."""
    dp = net.contract("aave_v3/AaveProtocolDataProvider", net.book["aave"]["data_provider"])
    data = dp.functions.getUserReserveData(asset, user).call()
    return data[0], data[2], data[8]


def test_repay_with_a_tokens_burns_a_tokens_and_reduces_debt(chain):
    user = chain.address(USER)
    pool, _weth, usdc = _open(chain, user)
    a_before, debt_before, _ = _user_reserve(chain, usdc, user)
    amount = _units(chain, "USDC", 500)
    _send(chain, aave.repay_with_a_tokens(pool, usdc, amount), user)
    a_after, debt_after, _ = _user_reserve(chain, usdc, user)
    tolerance = amount // 10**5  # interest accrued over the one block in between
    assert abs((debt_before - debt_after) - amount) <= tolerance
    assert abs((a_before - a_after) - amount) <= tolerance
    assert debt_after > 0


def test_set_use_reserve_as_collateral_flips_the_flag(chain):
    user = chain.address(USER)
    pool, weth, _usdc = _open(chain, user)
    assert _user_reserve(chain, weth, user)[2] is True
    _send(chain, aave.set_use_reserve_as_collateral(pool, weth, False), user)
    assert _user_reserve(chain, weth, user)[2] is False
    _send(chain, aave.set_use_reserve_as_collateral(pool, weth, True), user)
    assert _user_reserve(chain, weth, user)[2] is True


def test_exact_output_receives_exactly_the_amount_for_at_most_max_in(chain):
    user = chain.address(USER)
    weth, usdc = chain.book["tokens"]["WETH"], chain.book["tokens"]["USDC"]
    router = chain.book["uniswap"]["router"]
    chain.align_pool("WETH/USDC/500")
    _fund(chain, user, "WETH", _units(chain, "WETH", 5))
    amount_out = _units(chain, "USDC", 1_000)
    now = chain.w3.eth.get_block("latest")["timestamp"]
    step = uni.exact_output(router, tokens=[weth, usdc], fees_pips=[500], recipient=user, amount_out_wei=amount_out,
                            price_in_base=chain.oracle_price("WETH"), price_out_base=chain.oracle_price("USDC"),
                            decimals_in=chain.book["decimals"]["WETH"], decimals_out=chain.book["decimals"]["USDC"],
                            slippage_bps=100, deadline_unix_s=now + 600)
    assert step.swap is not None and step.swap.mode == "exact_out"
    max_in = step.swap.max_amount_in_wei
    _send(chain, erc20_approve(weth, router, max_in), user)
    erc20 = chain.contract("erc20/MintableERC20", usdc)
    weth_c = chain.contract("erc20/WETH9", weth)
    usdc_before, weth_before = erc20.functions.balanceOf(user).call(), weth_c.functions.balanceOf(user).call()
    _send(chain, step, user)
    spent = weth_before - weth_c.functions.balanceOf(user).call()
    assert erc20.functions.balanceOf(user).call() - usdc_before == amount_out
    assert 0 < spent <= max_in
    assert spent >= step.swap.oracle_amount_in_wei  # the pool fee is paid on top of the oracle price


def _market_snapshot(net, user):
    from manager.chain.client import ChainClient
    from manager.config.schema import ChainConfig
    from manager.protocols.aave_v3.reads import read_accounts, read_market

    client = ChainClient("devnet", ChainConfig(chain_id=31337, rpc_urls=[net.url], multicall=net.book["multicall"],
                                               multicall_kind="uniswap_interface")).connect()
    market = read_market(client, net.book["aave"]["pool_addresses_provider"], net.w3.eth.block_number)
    (snap,), _ = read_accounts(client, market, [user], with_reported=True)
    return market, snap


def _try(net, step: TxStep, sender: str) -> bool:
    try:
        net.w3.eth.call({"from": sender, "to": step.to, "data": step.data})
    except Exception:
        return False
    _send(net, step, sender)
    return True


def test_set_user_emode_respects_the_v36_bitmaps(chain):
    """``set_user_emode`` on the v3.6 pool; ``emode_switch`` predicts every accept/refuse of the contract."""
    from manager.protocols.aave_v3.math import emode_switch

    user = chain.address(USER)
    pool, _weth, _usdc = _open(chain, user)  # WETH + USDC collateral, USDC debt
    market, snap = _market_snapshot(chain, user)
    eth, stables = market.emodes[1], market.emodes[2]
    # USDC debt is not borrowable in the ETH category: refused (InvalidDebtInEmode)
    verdict = emode_switch(snap, eth)
    assert not verdict.ok and verdict.reason.startswith("InvalidDebtInEmode")
    assert not _try(chain, aave.set_user_emode(pool, 1), user)
    # the stablecoin category: USDC borrowable, WETH collateral out of the category keeps its own LTV/LT
    verdict = emode_switch(snap, stables)
    assert verdict.ok
    assert _try(chain, aave.set_user_emode(pool, 2), user)
    market, snap = _market_snapshot(chain, user)
    got, want = verdict.account_after, snap.reported  # one block of interest apart
    assert snap.emode_category_id == 2 and (got.ltv_bps, got.current_liquidation_threshold_bps) == (
        want.ltv_bps, want.current_liquidation_threshold_bps)
    assert abs(got.health_factor_wad - want.health_factor_wad) <= want.health_factor_wad // 10**8
    # leaving e-mode again: USDC has borrowingEnabled
    assert emode_switch(snap, None).ok and _try(chain, aave.set_user_emode(pool, 0), user)
    # with DAI collateral (LTV 0 in the stablecoin category) entering it is refused (InvalidCollateralInEmode)
    dai = chain.book["tokens"]["DAI"]
    units = _units(chain, "DAI", 1_000)
    _fund(chain, user, "DAI", units)
    _send(chain, aave.approve_for_pool(pool, dai, units), user)
    _send(chain, aave.supply(pool, dai, units, user), user)
    market, snap = _market_snapshot(chain, user)
    verdict = emode_switch(snap, market.emodes[2])
    assert not verdict.ok and verdict.reason.startswith("InvalidCollateralInEmode")
    assert not _try(chain, aave.set_user_emode(pool, 2), user)
