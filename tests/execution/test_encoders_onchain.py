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
