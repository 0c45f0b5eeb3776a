"""The devnet is the real protocols: Aave V3 (the v3.6 market ``aave`` and the v3.0 market ``aave_v30``) and
Uniswap V3 behave as on mainnet."""

from __future__ import annotations

import itertools

import pytest
from web3.exceptions import ContractLogicError

WAD = 10**18
MARKETS = ["aave", "aave_v30"]
# v3.0 numeric revert codes -> the v3.4+ custom error of the same check
CODES = {"45": "HealthFactorNotBelowThreshold", "60": "AssetNotBorrowableInIsolation", "50": "BorrowCapExceeded",
         "51": "SupplyCapExceeded"}


@pytest.fixture(params=MARKETS)
def market(request, chain):
    """(net, market key): the test runs on both Aave markets of the devnet."""
    return chain, request.param


def _pool(net, key="aave"):
    return net.contract("aave_v3/Pool", net.book[key]["pool"])


def _expect(exc: ContractLogicError, key: str, code: str) -> None:
    from manager.execution.simulate import decode_revert

    if key == "aave_v30":
        assert _revert_code(exc) == code
    else:
        assert decode_revert(exc.data) == f"Aave error {CODES[code]}()"


def _erc20(net, sym):
    return net.contract("erc20/MintableERC20", net.book["tokens"][sym])


def _fund(net, user, sym, amount, key="aave"):
    from manager.devnet.artifacts import Deployer
    from manager.devnet.deploy import fund_and_supply

    fund_and_supply(Deployer(net.w3, net.address("deployer")), net.w3, {**net.book, "aave": net.book[key]}, user,
                    [(sym, amount)])


def _revert_code(exc: ContractLogicError) -> str:
    return str(exc.args[0]).rsplit(":", 1)[-1].strip()


def test_supply_borrow_repay_withdraw(market):
    chain, key = market
    pool, user = _pool(chain, key), chain.address("spare1")
    usdc = chain.book["tokens"]["USDC"]
    _fund(chain, user, "WETH", 5, key)
    data = pool.functions.getUserAccountData(user).call()
    # v3.6 mints scaled aTokens rounded down (rayDivFloor) and reads them rounded down: 1 wei under 5 WETH
    assert data[0] == 5 * 3000 * 10**8 - (key == "aave") and data[1] == 0
    chain.transact(pool.functions.borrow(usdc, 6000 * 10**6, 2, 0, user), sender=user)
    assert _erc20(chain, "USDC").functions.balanceOf(user).call() == 6000 * 10**6
    data = pool.functions.getUserAccountData(user).call()
    # v3.6: the scaled debt is minted rounded up and read rounded up (one USDC wei more), valued rounding up
    assert data[1] == 6000 * 10**8 + (100 if key == "aave" else 0)
    if key == "aave_v30":
        assert data[5] == 15000 * 8300 * WAD // 10000 // 6000  # HF = coll*LT/debt
    else:  # v3.6: wadDiv(Σ coll·LT, debt) / 1e4, half-up wadDiv then floor
        assert data[5] == (data[0] * 8300 * WAD + data[1] // 2) // data[1] // 10000
    chain.transact(_erc20(chain, "USDC").functions.mint(10**6), sender=user)  # interest headroom
    chain.transact(_erc20(chain, "USDC").functions.approve(pool.address, 2**256 - 1), sender=user)
    chain.transact(pool.functions.repay(usdc, 2**256 - 1, 2, user), sender=user)
    assert pool.functions.getUserAccountData(user).call()[1] == 0
    a_weth = chain.contract("aave_v3/AToken", pool.functions.getReserveData(chain.book["tokens"]["WETH"]).call()[8])
    chain.mine(1)
    accrued = a_weth.functions.balanceOf(user).call()  # 5 WETH plus what WETH borrowers paid meanwhile
    # (v3.6 reads the scaled balance rounding down: without a second of interest it is 1 wei under 5 WETH)
    assert 5 * WAD - (key == "aave") <= accrued < 5 * WAD * 1_000_001 // 1_000_000
    chain.transact(pool.functions.withdraw(chain.book["tokens"]["WETH"], 2**256 - 1, user), sender=user)
    assert pool.functions.getUserAccountData(user).call()[0] == 0
    got = chain.contract("erc20/WETH9", chain.book["tokens"]["WETH"]).functions.balanceOf(user).call()
    assert accrued <= got < accrued + accrued // 10**9  # all of it, with one more second of interest


def test_account_data_follows_price_move(chain):
    pool, carol = _pool(chain), chain.address("carol")
    a_weth = chain.contract("aave_v3/AToken", pool.functions.getReserveData(chain.book["tokens"]["WETH"]).call()[8])
    before = pool.functions.getUserAccountData(carol).call()
    chain.set_price("WETH", 2400.0)
    block = chain.w3.eth.block_number
    after = pool.functions.getUserAccountData(carol).call(block_identifier=block)
    # NOTE: compared at one block: WETH supply interest may accrue between the two reads (wall-clock stamps)
    coll_wei = a_weth.functions.balanceOf(carol).call(block_identifier=block)
    assert after[0] == coll_wei * 2400 * 10**8 // 10**18
    assert after[0] * 3000 == pytest.approx(before[0] * 2400, rel=1e-9)
    assert after[5] < before[5]
    assert chain.contract("aave_v3/AaveOracle", chain.book["aave"]["oracle"]).functions.getAssetPrice(
        chain.book["tokens"]["WETH"]).call() == 2400 * 10**8


def test_liquidation_only_below_health_one(chain):
    key = "aave"
    pool, carol, liq = _pool(chain), chain.address("carol"), chain.address("liquidator")
    usdc, weth = chain.book["tokens"]["USDC"], chain.book["tokens"]["WETH"]
    token = _erc20(chain, "USDC")
    chain.transact(token.functions.mint(10**12), sender=liq)
    chain.transact(token.functions.approve(pool.address, 10**12), sender=liq)
    with pytest.raises(ContractLogicError) as exc:  # HF ~1.19: not liquidatable
        pool.functions.liquidationCall(weth, usdc, carol, 1000 * 10**6, False).call({"from": liq})
    _expect(exc.value, key, "45")  # HEALTH_FACTOR_NOT_BELOW_THRESHOLD
    chain.set_price("WETH", 2400.0)  # HF = 20*2400*0.83/42000 = 0.948
    assert pool.functions.getUserAccountData(carol).call()[5] < WAD
    chain.transact(pool.functions.liquidationCall(weth, usdc, carol, 1000 * 10**6, False), sender=liq)
    seized = chain.contract("erc20/WETH9", weth).functions.balanceOf(liq).call()
    # 1000 USDC at 2400 USD/WETH plus the 5% bonus, less the 10% protocol share of the bonus
    base = 1000 * 10**6 * 10**8 * WAD // (2400 * 10**8 * 10**6)
    assert seized == base * 10500 // 10000 - (base * 10500 // 10000 - base) // 10


def test_swap_price_impact_grows_with_size(devnet):
    quoter = devnet.contract("uniswap_v3/QuoterV2", devnet.book["uniswap"]["quoter"])
    weth, usdc = devnet.book["tokens"]["WETH"], devnet.book["tokens"]["USDC"]
    prices = []
    for eth in (1, 100, 1000, 5000):
        out = quoter.functions.quoteExactInputSingle((weth, usdc, eth * WAD, 500, 0)).call()[0]
        prices.append(out / 10**6 / eth)
    assert prices[0] == pytest.approx(3000 * (1 - 0.0005), rel=1e-3)
    assert all(a > b for a, b in itertools.pairwise(prices)), prices
    assert prices[-1] < prices[0] * 0.95  # a big sale moves the price by several percent


def test_isolated_collateral_refuses_non_isolation_borrow(chain):
    key = "aave"
    pool, erin = _pool(chain), chain.address("erin")
    with pytest.raises(ContractLogicError) as exc:
        pool.functions.borrow(chain.book["tokens"]["WETH"], WAD, 2, 0, erin).call({"from": erin})
    _expect(exc.value, key, "60")  # ASSET_NOT_BORROWABLE_IN_ISOLATION
    chain.transact(pool.functions.borrow(chain.book["tokens"]["DAI"], 100 * WAD, 2, 0, erin), sender=erin)
    reserve = pool.functions.getReserveData(chain.book["tokens"]["LINK"]).call()
    assert reserve[-1] == (50_000 + 100) * 100  # isolationModeTotalDebt in cents


def test_borrow_and_supply_caps_enforced(market):
    chain, key = market
    pool, user = _pool(chain, key), chain.address("spare2")
    wsteth = chain.book["tokens"]["wstETH"]
    _fund(chain, user, "WBTC", 100, key)  # $6M of collateral: only the cap can stop the borrow
    with pytest.raises(ContractLogicError) as exc:
        pool.functions.borrow(wsteth, 4001 * WAD, 2, 0, user).call({"from": user})
    _expect(exc.value, key, "50")  # BORROW_CAP_EXCEEDED
    pool.functions.borrow(wsteth, 1000 * WAD, 2, 0, user).call({"from": user})  # under the cap: fine
    token = _erc20(chain, "wstETH")
    chain.transact(token.functions.mint(40_000 * WAD), sender=user)
    chain.transact(token.functions.approve(pool.address, 40_000 * WAD), sender=user)
    with pytest.raises(ContractLogicError) as exc:
        pool.functions.supply(wsteth, 40_000 * WAD, user, 0).call({"from": user})
    _expect(exc.value, key, "51")  # SUPPLY_CAP_EXCEEDED


def test_emode_raises_ltv(chain):
    pool, user = _pool(chain), chain.address("spare3")
    _fund(chain, user, "wstETH", 10)
    ltv_plain = pool.functions.getUserAccountData(user).call()[4]
    chain.transact(pool.functions.setUserEMode(1), sender=user)
    data = pool.functions.getUserAccountData(user).call()
    assert (ltv_plain, data[4], data[3]) == (6900, 9300, 9500)
    assert pool.functions.getUserAccountData(chain.address("dave")).call()[4] == 9300
