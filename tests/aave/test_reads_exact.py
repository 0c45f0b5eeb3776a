"""Exactness: health, collateral, debt and available borrows computed locally from raw reads equal
``Pool.getUserAccountData`` at the same block, to the unit (Aave v3.0 rules), on the real contracts."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.protocols.aave_v3.reads import read_accounts, read_market
from manager.sizing.aave import account_data

WAD = 10**18
COLLATERALS = ("WETH", "WBTC", "USDC", "DAI", "wstETH")
DEBTS = ("USDC", "DAI", "WETH", "WBTC", "wstETH")


@pytest.fixture(scope="module")
def client(devnet):
    cfg = ChainConfig(chain_id=31337, rpc_urls=[devnet.url], multicall=devnet.book["multicall"],
                      multicall_kind="uniswap_interface")
    return ChainClient("devnet", cfg).connect()


def _read(devnet, client, accounts):
    block = devnet.w3.eth.block_number
    market = read_market(client, devnet.book["aave"]["pool_addresses_provider"], block)
    snaps, errors = read_accounts(client, market, accounts, with_reported=True)
    assert not errors
    return snaps


def test_seeded_positions_equal_protocol_view(devnet, client):
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "spare1"]
    snaps = _read(devnet, client, [devnet.address(n) for n in names])
    assert len(snaps) == len(names)
    for s in snaps:
        assert account_data(s) == s.reported, s.account
    kinds = {(s.emode_category_id != 0, s.isolated_asset is not None) for s in snaps}
    assert (True, False) in kinds and (False, True) in kinds  # e-mode and isolated users covered


position = st.fixed_dictionaries({
    "kind": st.sampled_from(["plain", "plain", "emode", "isolated"]),
    "collateral": st.lists(st.tuples(st.sampled_from(COLLATERALS), st.floats(50, 400_000)), min_size=1, max_size=4),
    "debts": st.lists(st.tuples(st.sampled_from(DEBTS), st.floats(0.01, 0.95)), min_size=0, max_size=3),
    "disable": st.booleans(),
    "shock": st.sampled_from([None, ("WETH", 0.8), ("WBTC", 1.1), ("wstETH", 0.7), ("DAI", 1.02)]),
    "mine_s": st.integers(0, 86_400 * 30),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(spec=position, salt=st.integers(0, 2**64))
def test_random_positions_exact(devnet, client, spec, salt):
    snap_id = devnet.snapshot()
    try:
        user = _open(devnet, spec, salt)
        if spec["shock"]:
            sym, factor = spec["shock"]
            devnet.set_price(sym, devnet.oracle_price(sym) / 1e8 * factor, arbitrage=False)
        if spec["mine_s"]:  # interest accrues; balances and indices move
            devnet.node.call("evm_increaseTime", [spec["mine_s"]])
            devnet.mine(1)
        (snap,) = _read(devnet, client, [user])
        mine = account_data(snap)
        assert mine == snap.reported
    finally:
        devnet.revert(snap_id)


def _open(devnet, spec, salt):
    from manager.devnet.artifacts import Deployer
    from manager.devnet.deploy import fund_and_supply

    user = "0x" + (salt % 2**160).to_bytes(20, "big").hex()
    user = devnet.w3.to_checksum_address(user if int(user, 16) > 2**20 else "0x00000000000000000000000000000000000c0ffe")
    devnet.node.call("anvil_impersonateAccount", [user])
    devnet.node.call("anvil_setBalance", [user, hex(10**24)])
    pool = devnet.contract("aave_v3/Pool", devnet.book["aave"]["pool"])
    d = Deployer(devnet.w3, devnet.address("deployer"))
    prices = {s: devnet.oracle_price(s) / 1e8 for s in devnet.book["tokens"]}
    if spec["kind"] == "isolated":
        supplies = [("LINK", spec["collateral"][0][1] / prices["LINK"])]
    elif spec["kind"] == "emode":
        supplies = [(s if s in ("WETH", "wstETH") else "wstETH", usd / prices["wstETH"]) for s, usd in spec["collateral"]]
    else:
        supplies = [(s, usd / prices[s]) for s, usd in spec["collateral"]]
    supplies = [(s, round(a, 6)) for s, a in supplies if round(a, 6) > 0]
    fund_and_supply(d, devnet.w3, devnet.book, user, supplies)
    if spec["kind"] == "emode":
        devnet.transact(pool.functions.setUserEMode(1), sender=user)
    if spec["disable"] and len({s for s, _ in supplies}) > 1:  # a supplied asset that does not count
        try:
            devnet.transact(pool.functions.setUserUseReserveAsCollateral(devnet.book["tokens"][supplies[0][0]],
                                                                         False), sender=user)
        except Exception:
            pass
    for sym, frac in spec["debts"]:
        if spec["kind"] == "isolated" and sym not in ("USDC", "DAI"):
            continue
        avail = pool.functions.getUserAccountData(user).call()[2] / 1e8
        amount = int(avail * frac / prices[sym] * 10 ** devnet.book["decimals"][sym])
        if amount <= 0:
            continue
        try:
            devnet.transact(pool.functions.borrow(devnet.book["tokens"][sym], amount, 2, 0, user), sender=user)
        except (ContractLogicError, Exception):
            pass  # caps, e-mode borrowing limits: the position stays as it is
    return user


def test_unsupported_pool_revision_is_refused(client, devnet):
    from manager.errors import ChainError
    from manager.protocols.aave_v3.reads import check_revision

    pool = devnet.book["aave"]["pool"]
    assert devnet.contract("aave_v3/Pool", pool).functions.POOL_REVISION().call() == 1
    assert check_revision(pool, 1, 0) == "3.0" and check_revision(pool, 3, 0) == "3.1"
    for bad in (4, 9, None):
        with pytest.raises(ChainError, match="POOL_REVISION"):
            check_revision(pool, bad, 0)
