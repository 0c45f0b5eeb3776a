"""Liquidation rules of v3.3+ on the real v3.6 contracts (and v3.0 on the v3.0 market): where ``liquidationCall`` flips, and exactly what it
repays, seizes and books as deficit (close factor 50%/100%, the $2,000 thresholds, the $1,000 leftover rule).

Every comparison is made at the block the liquidation runs in: the devnet's block-time interval is set to 0 for
the test, so no interest accrues between the snapshot and the call.
"""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError

from manager.chain.abi import load_abi
from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.domain import UINT256_MAX, WAD
from manager.protocols.aave_v3.liquidation import liquidation_call, max_liquidation, worst_liquidation
from manager.protocols.aave_v3.math import account_data, liquidation_prices
from manager.protocols.aave_v3.reads import read_accounts, read_market

_keccak = __import__("eth_hash.auto", fromlist=["keccak"]).keccak
LIQ_TOPIC = _keccak(b"LiquidationCall(address,address,address,uint256,uint256,address,bool)").hex()
TRANSFER_TOPIC = _keccak(b"Transfer(address,address,uint256)").hex()


def _outcome(net, rcpt, coll, user, key="aave"):
    """(debt repaid, collateral to the liquidator, protocol fee) from the receipt's events: ``LiquidationCall`` and
    the collateral aToken's ``Transfer(borrower -> treasury, fee)`` (balances would show the fee +-1 wei: they
    are scaled amounts read back rounding down)."""
    (log,) = [lg for lg in rcpt["logs"] if lg["topics"][0].hex().removeprefix("0x") == LIQ_TOPIC]
    data = bytes(log["data"])
    a_token = _pool(net, key).functions.getReserveData(net.book["tokens"][coll]).call()[8].lower()
    treasury = net.book[key]["treasury"].lower()
    fee = sum(int.from_bytes(bytes(lg["data"])[:32], "big") for lg in rcpt["logs"]
              if lg["address"].lower() == a_token and lg["topics"][0].hex().removeprefix("0x") == TRANSFER_TOPIC
              and "0x" + bytes(lg["topics"][1])[-20:].hex() == user.lower()
              and "0x" + bytes(lg["topics"][2])[-20:].hex() == treasury)
    return int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big"), fee


@pytest.fixture(scope="module")
def client(devnet):
    cfg = ChainConfig(chain_id=31337, rpc_urls=[devnet.url], multicall=devnet.book["multicall"],
                      multicall_kind="uniswap_interface")
    return ChainClient("devnet", cfg).connect()


@pytest.fixture()
def net(chain):
    """The devnet, reverted after the test, with no time passing between blocks."""
    chain.node.call("anvil_setBlockTimestampInterval", [0])
    try:
        yield chain
    finally:
        chain.node.call("anvil_removeBlockTimestampInterval")


def _snap(net, client, user, key="aave"):
    market = read_market(client, net.book[key]["pool_addresses_provider"], net.w3.eth.block_number)
    (snap,), errors = read_accounts(client, market, [user], with_reported=True)
    assert not errors and account_data(snap) == snap.reported
    return snap


def _open(net, name, supplies, borrows, emode=0, key="aave"):
    from manager.devnet.artifacts import Deployer
    from manager.devnet.deploy import fund_and_supply, token_units

    user = net.w3.to_checksum_address("0x" + (abs(hash(name)) % 2**150 + 2**152).to_bytes(20, "big").hex())
    net.node.call("anvil_impersonateAccount", [user])
    net.node.call("anvil_setBalance", [user, hex(10**24)])
    fund_and_supply(Deployer(net.w3, net.address("deployer")), net.w3, {**net.book, "aave": net.book[key]}, user,
                    supplies)
    pool = _pool(net, key)
    if emode:
        net.transact(pool.functions.setUserEMode(emode), sender=user)
    for sym, amount in borrows:
        net.transact(pool.functions.borrow(net.book["tokens"][sym], token_units(amount, net.book["decimals"][sym]),
                                           2, 0, user), sender=user)
    return user


def _pool(net, key="aave"):
    abi = load_abi("aave_v36/Pool" if key == "aave" else "aave_v3/Pool")
    return net.w3.eth.contract(address=net.book[key]["pool"], abi=abi)


def _fund_liquidator(net, sym, key="aave"):
    liq = net.address("liquidator")
    tok = net.contract("erc20/MintableERC20", net.book["tokens"][sym])
    net.transact(tok.functions.mint(10**30), sender=liq)
    net.transact(tok.functions.approve(net.book[key]["pool"], 2**256 - 1), sender=liq)
    return liq


def _liquidate(net, coll, debt, user, amount, key="aave"):
    """Run ``liquidationCall``; returns (debt repaid, collateral to the liquidator, protocol fee)."""
    liq = _fund_liquidator(net, debt, key)
    rcpt = net.transact(_pool(net, key).functions.liquidationCall(net.book["tokens"][coll], net.book["tokens"][debt],
                                                                  user, amount, False), sender=liq)
    return _outcome(net, rcpt, coll, user, key)


def _set(net, sym, usd):
    net.set_price(sym, usd, arbitrage=False)


def test_liquidation_price_is_where_liquidation_call_flips(net, client):
    carol = net.address("carol")  # 20 WETH, 42,000 USDC debt
    snap = _snap(net, client, carol)
    p_star = liquidation_prices(snap)["WETH"]
    assert 2_000 < p_star < 3_000
    pool, weth, usdc = _pool(net), net.book["tokens"]["WETH"], net.book["tokens"]["USDC"]
    _fund_liquidator(net, "USDC")
    _set(net, "WETH", p_star * (1 + 2e-8) + 1e-8)
    assert _snap(net, client, carol).reported.health_factor_wad >= WAD
    with pytest.raises(ContractLogicError):
        pool.functions.liquidationCall(weth, usdc, carol, 10**9, False).call({"from": net.address("liquidator")})
    _set(net, "WETH", p_star * (1 - 2e-8))
    assert _snap(net, client, carol).reported.health_factor_wad < WAD
    pool.functions.liquidationCall(weth, usdc, carol, 10**9, False).call({"from": net.address("liquidator")})


def test_close_factor_50_pct_of_the_position_above_hf_095(net, client):
    carol = net.address("carol")
    _set(net, "WETH", 2_520)  # HF ~0.996 > 0.95; $50k collateral, $42k debt: both >= $2,000
    snap = _snap(net, client, carol)
    q = max_liquidation(snap, "WETH", "USDC")
    assert q.liquidatable and q.close_factor_bps == 5_000
    assert q.max_debt_to_cover_wei == snap.reported.total_debt_base // 2 * 10**6 // 10**8
    assert _liquidate(net, "WETH", "USDC", carol, UINT256_MAX) == (
        q.debt_to_cover_wei, q.collateral_to_liquidator_wei, q.protocol_fee_wei)


def test_close_factor_100_pct_at_hf_095_or_below(net, client):
    carol = net.address("carol")
    _set(net, "WETH", 2_380)  # HF ~0.94
    snap = _snap(net, client, carol)
    assert snap.reported.health_factor_wad <= 95 * 10**16
    q = max_liquidation(snap, "WETH", "USDC")
    assert q.close_factor_bps == 10_000
    debt = next(a.variable_debt_wei for a in snap.assets if a.symbol == "USDC")
    assert q.max_debt_to_cover_wei == debt
    assert _liquidate(net, "WETH", "USDC", carol, UINT256_MAX) == (
        q.debt_to_cover_wei, q.collateral_to_liquidator_wei, q.protocol_fee_wei)


def test_close_factor_100_pct_below_the_2000_usd_thresholds(net, client):
    user = _open(net, "small", [("WETH", 0.6)], [("USDC", 1_400)])
    _set(net, "WETH", 2_750)  # HF ~0.98 > 0.95, but the $1,650 collateral is below $2,000
    snap = _snap(net, client, user)
    assert 95 * 10**16 < snap.reported.health_factor_wad < WAD
    q = max_liquidation(snap, "WETH", "USDC")
    assert q.close_factor_bps == 10_000
    assert _liquidate(net, "WETH", "USDC", user, UINT256_MAX) == (
        q.debt_to_cover_wei, q.collateral_to_liquidator_wei, q.protocol_fee_wei)


def test_leftover_rule_reverts_must_not_leave_dust(net, client):
    from manager.execution.simulate import decode_revert

    carol = net.address("carol")
    _set(net, "WETH", 2_380)  # 100% may be closed; leaving $500 of debt is dust
    snap = _snap(net, client, carol)
    debt = next(a.variable_debt_wei for a in snap.assets if a.symbol == "USDC")
    dust = liquidation_call(snap, "WETH", "USDC", debt - 500 * 10**6)
    assert dust.reverts_dust and not dust.liquidatable
    liq = _fund_liquidator(net, "USDC")
    pool = _pool(net)
    with pytest.raises(ContractLogicError) as err:
        pool.functions.liquidationCall(net.book["tokens"]["WETH"], net.book["tokens"]["USDC"], carol,
                                       debt - 500 * 10**6, False).call({"from": liq})
    assert decode_revert(err.value.data) == "Aave error MustNotLeaveDust()"
    ok = liquidation_call(snap, "WETH", "USDC", debt - 1_000 * 10**6)  # leaves exactly $1,000: allowed
    assert not ok.reverts_dust
    assert _liquidate(net, "WETH", "USDC", carol, debt - 1_000 * 10**6) == (
        ok.debt_to_cover_wei, ok.collateral_to_liquidator_wei, ok.protocol_fee_wei)


def test_bad_debt_is_burned_to_the_deficit(net, client):
    user = _open(net, "underwater", [("WETH", 3)], [("USDC", 6_000), ("DAI", 1_000)])
    _set(net, "WETH", 2_000)  # collateral $6,000 < debt $7,000; repaying all USDC would take $6,300
    snap = _snap(net, client, user)
    q = max_liquidation(snap, "WETH", "USDC")
    assert q.bad_debt and q.collateral_removed_wei == next(a.collateral_wei for a in snap.assets if a.symbol == "WETH")
    pool = _pool(net)
    usdc, dai = net.book["tokens"]["USDC"], net.book["tokens"]["DAI"]
    d0 = {a: pool.functions.getReserveDeficit(a).call() for a in (usdc, dai)}
    # all collateral seized: the fee is capped at the borrower's remaining scaled balance; with the scaled balance
    # and the index at the block the quote is exact, without them it says it is not
    assert not q.protocol_fee_exact
    weth = net.book["tokens"]["WETH"]
    a_weth = net.w3.eth.contract(address=pool.functions.getReserveAToken(weth).call(), abi=load_abi("aave_v36/AToken"))
    exact = liquidation_call(snap, "WETH", "USDC", UINT256_MAX,
                             collateral_scaled_wei=a_weth.functions.scaledBalanceOf(user).call(),
                             liquidity_index_ray=pool.functions.getReserveNormalizedIncome(weth).call())
    assert exact.protocol_fee_exact and q.protocol_fee_wei - 1 <= exact.protocol_fee_wei <= q.protocol_fee_wei
    assert _liquidate(net, "WETH", "USDC", user, UINT256_MAX) == (
        exact.debt_to_cover_wei, exact.collateral_to_liquidator_wei, exact.protocol_fee_wei)
    usdc_debt = next(a.variable_debt_wei for a in snap.assets if a.symbol == "USDC")
    dai_debt = next(a.variable_debt_wei for a in snap.assets if a.symbol == "DAI")
    assert pool.functions.getReserveDeficit(usdc).call() - d0[usdc] == usdc_debt - q.debt_to_cover_wei
    assert pool.functions.getReserveDeficit(dai).call() - d0[dai] == dai_debt
    assert pool.functions.getUserAccountData(user).call()[1] == 0


def test_emode_bonus_and_worst_liquidation(net, client):
    dave = net.address("dave")  # e-mode 1: wstETH collateral, WETH debt; e-mode bonus 1%
    snap = _snap(net, client, dave)
    w = worst_liquidation(snap)
    assert w is not None and w.bonus_bps == 10_100 and w.loss_base > 0
    _set(net, "wstETH", 2_900)
    snap = _snap(net, client, dave)
    assert snap.reported.health_factor_wad < WAD
    q = max_liquidation(snap, "wstETH", "WETH")
    liq = net.address("liquidator")
    weth = net.contract("erc20/WETH9", net.book["tokens"]["WETH"])
    net.node.call("anvil_setBalance", [liq, hex(10**26)])
    net.transact(weth.functions.deposit(), sender=liq, value=10**24)
    net.transact(weth.functions.approve(net.book["aave"]["pool"], 2**256 - 1), sender=liq)
    rcpt = net.transact(_pool(net).functions.liquidationCall(net.book["tokens"]["wstETH"], net.book["tokens"]["WETH"],
                                                             dave, UINT256_MAX, False), sender=liq)
    got = _outcome(net, rcpt, "wstETH", dave)
    assert got == (q.debt_to_cover_wei, q.collateral_to_liquidator_wei, q.protocol_fee_wei)


@pytest.mark.parametrize(("price", "close"), [(2_520, 5_000), (2_380, 10_000)])
def test_v30_close_factor_and_no_leftover_rule(net, client, price, close):
    """v3.0 (``aave_v30``): 50% of the *reserve* debt above HF 0.95, 100% at or below it; no leftover rule."""
    user = _open(net, "old-carol", [("WETH", 20)], [("USDC", 42_000)], key="aave_v30")
    _set(net, "WETH", price)
    snap = _snap(net, client, user, "aave_v30")
    assert snap.protocol_version == "3.0"
    q = max_liquidation(snap, "WETH", "USDC")
    debt = next(a.variable_debt_wei for a in snap.assets if a.symbol == "USDC")
    assert q.close_factor_bps == close and q.max_debt_to_cover_wei == (debt * close + 5_000) // 10_000
    if close == 10_000:  # leaving $500 of debt: allowed on v3.0 (v3.3+ reverts MustNotLeaveDust)
        q = liquidation_call(snap, "WETH", "USDC", debt - 500 * 10**6)
        assert not q.reverts_dust and q.liquidatable
        amount = debt - 500 * 10**6
    else:
        amount = UINT256_MAX
    assert _liquidate(net, "WETH", "USDC", user, amount, "aave_v30") == (
        q.debt_to_cover_wei, q.collateral_to_liquidator_wei, q.protocol_fee_wei)
