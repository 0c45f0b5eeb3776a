"""Exactness: health, collateral, debt and available borrows computed locally from raw reads equal
``Pool.getUserAccountData`` at the same block, to the unit, on the real contracts: the v3.6 market (``aave``,
aave-v3-origin 3.6.0) and the v3.0 market (``aave_v30``, aave-v3-core 1.19.3) of the devnet."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.protocols.aave_v3.math import account_data
from manager.protocols.aave_v3.reads import read_accounts, read_market
from manager.protocols.aave_v3.vector import health_factor_aave_batch

WAD = 10**18
COLLATERALS = ("WETH", "WBTC", "USDC", "DAI", "wstETH")
DEBTS = ("USDC", "DAI", "WETH", "WBTC", "wstETH")


@pytest.fixture(scope="module")
def client(devnet):
    cfg = ChainConfig(chain_id=31337, rpc_urls=[devnet.url], multicall=devnet.book["multicall"],
                      multicall_kind="uniswap_interface")
    return ChainClient("devnet", cfg).connect()


def _read(devnet, client, accounts, market_key="aave"):
    block = devnet.w3.eth.block_number
    market = read_market(client, devnet.book[market_key]["pool_addresses_provider"], block)
    assert market.version == devnet.book[market_key]["version"]
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
    assert {s.protocol_version for s in snaps} == {"3.6"}


def test_v36_market_reads_bitmaps_premium_and_no_stable_debt(devnet, client):
    market = read_market(client, devnet.book["aave"]["pool_addresses_provider"], devnet.w3.eth.block_number)
    assert (market.version, market.pool_revision, market.flash_loan_premium_bps) == ("3.6", 10, 5)
    ids = {market.reserves[market.by_symbol[s]].reserve_id: s for s in market.by_symbol}
    def members(bitmap):
        return {ids[i] for i in ids if bitmap >> i & 1}
    eth, stables = market.emodes[1], market.emodes[2]
    assert (eth.ltv_bps, eth.liquidation_threshold_bps, eth.label) == (9300, 9500, "ETH correlated")
    assert members(eth.collateral_bitmap) == {"WETH", "wstETH"} == members(eth.borrowable_bitmap)
    assert members(stables.ltvzero_bitmap) == {"DAI"} and members(stables.collateral_bitmap) == {"USDC", "DAI"}
    assert set(market.emodes) == {1, 2}
    assert all(r.total_stable_debt_wei == 0 and not r.stable_borrowing_enabled for r in market.reserves.values())
    usdc = market.reserves[market.by_symbol["USDC"]]  # virtual accounting: the pool's count equals the balance here
    token = devnet.contract("erc20/MintableERC20", usdc.asset)
    assert usdc.available_liquidity_wei == token.functions.balanceOf(usdc.a_token).call() > 0
    old = read_market(client, devnet.book["aave_v30"]["pool_addresses_provider"], devnet.w3.eth.block_number)
    assert (old.version, old.pool_revision, old.flash_loan_premium_bps) == ("3.0", 1, 9)


position = st.fixed_dictionaries({
    "kind": st.sampled_from(["plain", "plain", "emode", "emode_mixed", "ltv0", "isolated"]),
    "collateral": st.lists(st.tuples(st.sampled_from(COLLATERALS), st.floats(50, 400_000)), min_size=1, max_size=4),
    "debts": st.lists(st.tuples(st.sampled_from(DEBTS), st.floats(0.01, 0.95)), min_size=0, max_size=3),
    "disable": st.booleans(),
    "shock": st.sampled_from([None, ("WETH", 0.8), ("WBTC", 1.1), ("wstETH", 0.7), ("DAI", 1.02)]),
    "mine_s": st.sampled_from([0, 3_600, 86_400 * 30, 86_400 * 120]),  # up to four months of interest
})


@pytest.mark.parametrize("market_key", ["aave", "aave_v30"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(spec=position, salt=st.integers(0, 2**64))
def test_random_positions_exact(devnet, client, market_key, spec, salt):
    snap_id = devnet.snapshot()
    try:
        user = _open(devnet, spec, salt, market_key)
        if spec["shock"]:
            sym, factor = spec["shock"]
            devnet.set_price(sym, devnet.oracle_price(sym) / 1e8 * factor, arbitrage=False)
        if spec["mine_s"]:  # interest accrues; balances and indices move
            devnet.node.call("evm_increaseTime", [spec["mine_s"]])
            devnet.mine(1)
        (snap,) = _read(devnet, client, [user], market_key)
        mine = account_data(snap)
        assert mine == snap.reported
        # the vectorized float path follows the same version's rules
        vec = float(health_factor_aave_batch([snap])[0])
        want = mine.health_factor_wad / WAD if mine.total_debt_base else float("inf")
        assert vec == want or abs(vec - want) <= 1e-9 * want
    finally:
        devnet.revert(snap_id)


def _open(devnet, spec, salt, market_key="aave"):
    from manager.devnet.artifacts import Deployer
    from manager.devnet.deploy import fund_and_supply

    user = "0x" + (salt % 2**160).to_bytes(20, "big").hex()
    user = devnet.w3.to_checksum_address(user if int(user, 16) > 2**20 else "0x00000000000000000000000000000000000c0ffe")
    devnet.node.call("anvil_impersonateAccount", [user])
    devnet.node.call("anvil_setBalance", [user, hex(10**24)])
    book = {**devnet.book, "aave": devnet.book[market_key]}
    v36 = book["aave"]["version"] == "3.6"
    pool = devnet.contract("aave_v3/Pool", book["aave"]["pool"])
    d = Deployer(devnet.w3, devnet.address("deployer"))
    prices = {s: devnet.oracle_price(s) / 1e8 for s in devnet.book["tokens"]}
    kind = spec["kind"] if v36 or spec["kind"] != "ltv0" else "plain"
    emode = {"emode": 1, "emode_mixed": 1, "ltv0": 2}.get(kind, 0)
    if kind == "isolated":
        supplies = [("LINK", spec["collateral"][0][1] / prices["LINK"])]
    elif kind == "emode":
        supplies = [(s if s in ("WETH", "wstETH") else "wstETH", usd / prices["wstETH"]) for s, usd in spec["collateral"]]
    elif kind == "emode_mixed":  # in-category (WETH/wstETH) and out-of-category (WBTC) collateral in e-mode 1
        supplies = [(s if s in ("WETH", "wstETH", "WBTC") else "WBTC", usd / prices[s if s in ("WETH", "wstETH", "WBTC") else "WBTC"])
                    for s, usd in spec["collateral"]] + [("wstETH", 1.0), ("WBTC", 0.05)]
    elif kind == "ltv0":  # e-mode 2 with DAI, LTV 0 inside it (ltvzeroBitmap), next to USDC
        supplies = [("USDC", spec["collateral"][0][1]), ("DAI", sum(usd for _, usd in spec["collateral"]))]
    else:
        supplies = [(s, usd / prices[s]) for s, usd in spec["collateral"]]
    supplies = [(s, round(a, 6)) for s, a in supplies if round(a, 6) > 0]
    fund_and_supply(d, devnet.w3, book, user, supplies)
    configurator = devnet.w3.eth.contract(address=book["aave"]["pool_configurator"],
                                          abi=__import__("manager.chain.abi", fromlist=["x"]).load_abi("aave_v36/PoolConfigurator"))
    dai = devnet.book["tokens"]["DAI"]
    if kind == "ltv0":  # a position that held DAI before the risk admin set its LTV-0 bit (entering with it is refused)
        devnet.transact(configurator.functions.setAssetLtvzeroInEMode(dai, 2, False))
    if emode:
        devnet.transact(pool.functions.setUserEMode(emode), sender=user)
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
    if kind == "ltv0":
        devnet.transact(configurator.functions.setAssetLtvzeroInEMode(dai, 2, True))
    return user


def test_unsupported_pool_revision_is_refused(client, devnet):
    from manager.errors import ChainError
    from manager.protocols.aave_v3.reads import check_revision

    pool = devnet.book["aave"]["pool"]
    assert devnet.contract("aave_v3/Pool", pool).functions.POOL_REVISION().call() == 10
    old = devnet.book["aave_v30"]["pool"]
    assert devnet.contract("aave_v3/Pool", old).functions.POOL_REVISION().call() == 1
    assert check_revision(pool, 1, 0) == "3.0" and check_revision(pool, 3, 0) == "3.1"
    assert check_revision(pool, 10, 0) == "3.6"
    for bad in (4, 7, 9, 11, None):
        with pytest.raises(ChainError, match=r"POOL_REVISION.*supported: Aave v3\.0, v3\.1, v3\.6|no readable POOL_REVISION"):
            check_revision(pool, bad, 0)


def test_config_version_pin_must_match_the_pool(devnet, client):
    from manager.errors import ChainError

    provider, block = devnet.book["aave"]["pool_addresses_provider"], devnet.w3.eth.block_number
    assert read_market(client, provider, block, version="3.6").version == "3.6"
    with pytest.raises(ChainError, match=r"runs v3\.6 .* pins version = '3\.0'"):
        read_market(client, provider, block, version="3.0")


def test_ltv_zero_inside_emode_is_exact(devnet, client):
    """v3.6 ``ltvzeroBitmap``: DAI keeps the stablecoin category's LT but gives no LTV; a borrow is then refused
    while the HF still counts it; the local math equals the pool's."""
    spec = {"kind": "ltv0", "collateral": [("USDC", 10_000.0)], "debts": [("USDC", 0.5)], "disable": False}
    snap_id = devnet.snapshot()
    try:
        user = _open(devnet, spec, 0xD00D)
        (snap,) = _read(devnet, client, [user])
        rep = snap.reported
        assert snap.emode_category_id == 2 and account_data(snap) == rep
        # USDC (LTV 90% in the category) and DAI (LTV 0, LT 93%): avg LTV 45%, avg LT 93%
        assert rep.ltv_bps in (4499, 4500) and rep.current_liquidation_threshold_bps == 9300  # balances floored
        assert rep.total_debt_base > 0
    finally:
        devnet.revert(snap_id)
