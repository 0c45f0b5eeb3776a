"""Deploy a real Aave V3 market and Uniswap V3 pools on an empty anvil, then seed demo positions.

Everything deployed here is the published bytecode of the pinned npm packages (Aave ``@aave/core-v3``,
Uniswap ``@uniswap/v3-core`` / ``@uniswap/v3-periphery``) or compiled from published sources with the
pinned npm ``solc`` (Chainlink's ``MockV3Aggregator``). Deploy order follows the checked notes:
provider -> ACL admin -> ACLManager -> libraries -> pool impl -> configurator impl -> oracle ->
data provider -> token impls -> rate strategies -> initReserves -> risk parameters.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal, getcontext
from typing import Any

from manager.devnet import market as M
from manager.devnet.artifacts import Deployer
from manager.devnet.compile import mock_v3_aggregator

getcontext().prec = 80
ZERO = "0x0000000000000000000000000000000000000000"
MAX_UINT = 2**256 - 1
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}
MIN_TICK, MAX_TICK = -887272, 887272


def token_units(amount: float, decimals: int) -> int:
    """``amount`` whole tokens in base units (exact decimal: 0.1 WETH is 10**17, not a float's rounding)."""
    return int(Decimal(str(amount)) * (Decimal(10) ** decimals))


def sqrt_price_x96(price0_usd: float, price1_usd: float, dec0: int, dec1: int) -> int:
    """sqrt(token1 per token0, raw units) * 2**96, computed exactly with integers."""
    num = Decimal(str(price0_usd)) * (Decimal(10) ** dec1)
    den = Decimal(str(price1_usd)) * (Decimal(10) ** dec0)
    ratio_x192 = int(num * Decimal(2**192) / den)
    return math.isqrt(ratio_x192)


def _tick_of(sqrt_x96: int) -> int:
    price = (Decimal(sqrt_x96) / Decimal(2**96)) ** 2
    return math.floor(math.log(float(price)) / math.log(1.0001))


def deploy_all(w3: Any, accounts: dict[str, str]) -> dict[str, Any]:
    """Deploy the whole devnet. Returns the address book (JSON-able)."""
    started = time.monotonic()
    admin = accounts["deployer"]
    d = Deployer(w3, admin)
    book: dict[str, Any] = {"aave": {}, "tokens": {}, "feeds": {}, "uniswap": {"pools": {}}, "decimals": {}}

    # ---- tokens ------------------------------------------------------------------------------
    tokens: dict[str, Any] = {}
    for spec in M.ASSETS:
        if spec.symbol == "WETH":
            tokens["WETH"] = d.deploy("WETH9Mocked")
        else:
            tokens[spec.symbol] = d.deploy("MintableERC20", _name(spec.symbol), spec.symbol, spec.decimals)
        book["tokens"][spec.symbol] = tokens[spec.symbol].address
        book["decimals"][spec.symbol] = spec.decimals

    # ---- price feeds (Chainlink MockV3Aggregator, 8 decimals) ----------------------------------
    agg = mock_v3_aggregator()
    feeds: dict[str, Any] = {}
    for spec in M.ASSETS:
        feeds[spec.symbol] = d.deploy("MockV3Aggregator", 8, token_units(spec.price_usd, 8), art=agg)
        book["feeds"][spec.symbol] = feeds[spec.symbol].address

    # ---- Aave V3 core --------------------------------------------------------------------------
    provider = d.deploy("PoolAddressesProvider", "posman-devnet", admin)
    d.send(provider.functions.setACLAdmin(admin))
    acl = d.deploy("ACLManager", provider.address)
    d.send(provider.functions.setACLManager(acl.address))
    d.send(acl.functions.addPoolAdmin(admin))
    d.send(acl.functions.addRiskAdmin(admin))
    d.send(acl.functions.addEmergencyAdmin(admin))
    d.send(acl.functions.addAssetListingAdmin(admin))

    libs: dict[str, str] = {}
    for lib in ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "EModeLogic", "BridgeLogic", "PoolLogic"):
        libs[lib] = d.deploy(lib).address
    libs["FlashLoanLogic"] = d.deploy("FlashLoanLogic", libraries={"BorrowLogic": libs["BorrowLogic"]}).address
    pool_impl = d.deploy("Pool", provider.address, libraries=libs)
    d.send(pool_impl.functions.initialize(provider.address))
    d.send(provider.functions.setPoolImpl(pool_impl.address))
    pool = d.at("Pool", provider.functions.getPool().call())

    cfg_lib = d.deploy("ConfiguratorLogic").address
    cfg_impl = d.deploy("PoolConfigurator", libraries={"ConfiguratorLogic": cfg_lib})
    d.send(cfg_impl.functions.initialize(provider.address))
    d.send(provider.functions.setPoolConfiguratorImpl(cfg_impl.address))
    configurator = d.at("PoolConfigurator", provider.functions.getPoolConfigurator().call())

    assets = [tokens[s.symbol].address for s in M.ASSETS]
    oracle = d.deploy(
        "AaveOracle", provider.address, assets, [feeds[s.symbol].address for s in M.ASSETS], ZERO, ZERO, 10**8
    )
    d.send(provider.functions.setPriceOracle(oracle.address))
    data_provider = d.deploy("AaveProtocolDataProvider", provider.address)
    d.send(provider.functions.setPoolDataProvider(data_provider.address))

    a_impl = d.deploy("AToken", pool.address)
    s_impl = d.deploy("StableDebtToken", pool.address)
    v_impl = d.deploy("VariableDebtToken", pool.address)
    strategies = {}
    for kind, (opt, base, s1, s2) in M.RATES.items():
        strategies[kind] = d.deploy(
            "DefaultReserveInterestRateStrategy", provider.address, opt, base, s1, s2,
            int(0.005 * M.RAY), int(0.6 * M.RAY), int(0.01 * M.RAY), int(0.08 * M.RAY), int(0.2 * M.RAY),
        )
    treasury = accounts["treasury"]
    inputs = []
    for spec in M.ASSETS:
        inputs.append((
            a_impl.address, s_impl.address, v_impl.address, spec.decimals,
            strategies["stable" if spec.stable else "volatile"].address, tokens[spec.symbol].address,
            treasury, ZERO, f"Aave devnet {spec.symbol}", f"a{spec.symbol}",
            f"Aave devnet variable debt {spec.symbol}", f"variableDebt{spec.symbol}",
            f"Aave devnet stable debt {spec.symbol}", f"stableDebt{spec.symbol}", b"",
        ))
    d.send(configurator.functions.initReserves(inputs))

    # ---- risk parameters -----------------------------------------------------------------------
    em = M.EMODE_ETH
    d.send(configurator.functions.setEModeCategory(em["id"], em["ltv_bps"], em["lt_bps"], em["bonus_bps"], ZERO,
                                                   em["label"]))
    for spec in M.ASSETS:
        asset = tokens[spec.symbol].address
        configure_reserve(d, configurator, asset, spec)
        if spec.emode:
            d.send(configurator.functions.setAssetEModeCategory(asset, spec.emode))
    d.send(configurator.functions.updateFlashloanPremiumTotal(M.FLASHLOAN_PREMIUM_TOTAL_BPS))
    d.send(configurator.functions.updateFlashloanPremiumToProtocol(M.FLASHLOAN_PREMIUM_PROTOCOL_BPS))

    book["aave"] = {
        "pool_addresses_provider": provider.address,
        "pool": pool.address,
        "pool_configurator": configurator.address,
        "oracle": oracle.address,
        "data_provider": data_provider.address,
        "acl_manager": acl.address,
        "treasury": treasury,
        "emode_categories": {"1": em["label"]},
    }

    # ---- Uniswap V3 ----------------------------------------------------------------------------
    factory = d.deploy("UniswapV3Factory")
    d.send(factory.functions.enableFeeAmount(100, 1))  # the 0.01% tier (enabled by governance on mainnet)
    weth = tokens["WETH"].address
    router = d.deploy("SwapRouter", factory.address, weth)
    quoter = d.deploy("QuoterV2", factory.address, weth)
    npm = d.deploy("NonfungiblePositionManager", factory.address, weth, ZERO)
    tick_lens = d.deploy("TickLens")
    multicall = d.deploy("UniswapInterfaceMulticall")
    book["uniswap"].update(
        factory=factory.address, router=router.address, quoter=quoter.address,
        position_manager=npm.address, tick_lens=tick_lens.address,
    )
    book["multicall"] = multicall.address
    book["multicall_kind"] = "uniswap_interface"

    # Fund the deployer (the pools' liquidity provider) and approve the position manager.
    w3.provider.make_request("anvil_setBalance", [admin, hex(10**30)])
    specs = {s.symbol: s for s in M.ASSETS}
    for sym, tok in tokens.items():
        if sym == "WETH":
            d.send(tok.functions.deposit(), value=token_units(2_000_000, 18))
        else:
            d.send(tok.functions.mint(token_units(_mint_amount(specs[sym]), specs[sym].decimals)))
        d.send(tok.functions.approve(npm.address, MAX_UINT))
        d.send(tok.functions.approve(router.address, MAX_UINT))

    for ps in M.POOLS:
        a, b = tokens[ps.a].address, tokens[ps.b].address
        sym0, sym1 = (ps.a, ps.b) if int(a, 16) < int(b, 16) else (ps.b, ps.a)
        t0, t1 = specs[sym0], specs[sym1]
        sqrt_p = sqrt_price_x96(t0.price_usd, t1.price_usd, t0.decimals, t1.decimals)
        d.send(npm.functions.createAndInitializePoolIfNecessary(tokens[sym0].address, tokens[sym1].address, ps.fee_pips,
                                                                sqrt_p))
        pool_addr = factory.functions.getPool(tokens[sym0].address, tokens[sym1].address, ps.fee_pips).call()
        book["uniswap"]["pools"][f"{ps.a}/{ps.b}/{ps.fee_pips}"] = pool_addr
        spacing = TICK_SPACING[ps.fee_pips]
        center = _tick_of(sqrt_p)
        for layer in ps.layers:
            half = max(spacing, int(math.log(1 + layer.width) / math.log(1.0001)))
            lo = max(MIN_TICK, ((center - half) // spacing) * spacing)
            hi = min(MAX_TICK, (-(-(center + half) // spacing)) * spacing)
            amt0 = token_units(layer.usd / 2 / t0.price_usd, t0.decimals)
            amt1 = token_units(layer.usd / 2 / t1.price_usd, t1.decimals)
            d.send(npm.functions.mint((tokens[sym0].address, tokens[sym1].address, ps.fee_pips, lo, hi, amt0, amt1, 0, 0,
                                       admin, 2**40)))
        # observation history so observe() works over a TWAP window
        pool_c = d.at("UniswapV3Pool", pool_addr)
        d.send(pool_c.functions.increaseObservationCardinalityNext(64))

    # ---- liquidity on Aave -----------------------------------------------------------------------
    lp = accounts["liquidity"]
    w3.provider.make_request("anvil_setBalance", [lp, hex(10**30)])
    for spec in M.ASSETS:
        if not spec.lp_supply:
            continue
        amount = token_units(spec.lp_supply, spec.decimals)
        tok = tokens[spec.symbol]
        if spec.symbol == "WETH":
            d.send(tok.functions.deposit(), sender=lp, value=amount)
        else:
            d.send(tok.functions.mint(amount), sender=lp)
        d.send(tok.functions.approve(pool.address, amount), sender=lp)
        d.send(pool.functions.supply(tok.address, amount, lp, 0), sender=lp)

    book["deploy_seconds"] = round(time.monotonic() - started, 3)
    book["deploy_transactions"] = d.tx_count
    return book


def seed_positions(w3: Any, book: dict[str, Any], accounts: dict[str, str]) -> dict[str, str]:
    """Open the demo positions of ``market.SEEDS``. Returns {name: note}."""
    d = Deployer(w3, accounts["deployer"])
    pool = d.at("Pool", book["aave"]["pool"])
    notes = {}
    for seed in M.SEEDS:
        user = accounts[seed.name]
        fund_and_supply(d, w3, book, user, seed.supplies)
        if seed.emode:
            d.send(pool.functions.setUserEMode(seed.emode), sender=user)
        for sym, amount in seed.borrows:
            asset = book["tokens"][sym]
            d.send(pool.functions.borrow(asset, token_units(amount, book["decimals"][sym]), 2, 0, user), sender=user)
        notes[seed.name] = seed.note
    return notes


def fund_and_supply(d: Deployer, w3: Any, book: dict[str, Any], user: str,
                    supplies: tuple[tuple[str, float], ...] | list[tuple[str, float]]) -> None:
    """Give ``user`` the tokens and supply them to Aave as collateral."""
    pool = d.at("Pool", book["aave"]["pool"])
    for sym, amount in supplies:
        asset = book["tokens"][sym]
        units = token_units(amount, book["decimals"][sym])
        if sym == "WETH":
            tok = d.at("WETH9Mocked", asset)
            w3.provider.make_request("anvil_setBalance", [user, hex(10**24 + units)])
            d.send(tok.functions.deposit(), sender=user, value=units)
        else:
            tok = d.at("MintableERC20", asset)
            d.send(tok.functions.mint(units), sender=user)
        d.send(tok.functions.approve(pool.address, units), sender=user)
        d.send(pool.functions.supply(asset, units, user, 0), sender=user)
        # NOTE: v3.0.2+ does not enable an isolated asset as collateral on supply (only holders of
        # ISOLATED_COLLATERAL_SUPPLIER_ROLE get that side effect): the user enables it explicitly.
        spec = next((s for s in M.ASSETS if s.symbol == sym), None)
        if spec is not None and spec.debt_ceiling_cents:
            d.send(pool.functions.setUserUseReserveAsCollateral(asset, True), sender=user)


def _mint_amount(spec: M.AssetSpec) -> float:
    """Tokens the pool deployer mints: enough for every layer plus arbitrage headroom."""
    return 400_000_000 / spec.price_usd


def _name(symbol: str) -> str:
    return {
        "WBTC": "Wrapped BTC (devnet)",
        "USDC": "USD Coin (devnet)",
        "DAI": "Dai Stablecoin (devnet)",
        "wstETH": "Wrapped liquid staked Ether (devnet)",
        "LINK": "ChainLink Token (devnet)",
    }.get(symbol, f"{symbol} (devnet)")


def configure_reserve(d: Any, configurator: Any, asset: str, spec: Any) -> None:
    """One reserve's risk parameters from its ``market.AssetSpec`` (collateral, borrowing, reserve factor,
    liquidation protocol fee, caps, debt ceiling, isolation): the same PoolConfigurator calls on v3.0 and v3.6."""
    d.send(configurator.functions.configureReserveAsCollateral(asset, spec.ltv_bps, spec.lt_bps, spec.bonus_bps))
    if spec.borrowing:
        d.send(configurator.functions.setReserveBorrowing(asset, True))
    d.send(configurator.functions.setReserveFactor(asset, spec.reserve_factor_bps))
    d.send(configurator.functions.setLiquidationProtocolFee(asset, spec.liq_protocol_fee_bps))
    if spec.supply_cap:
        d.send(configurator.functions.setSupplyCap(asset, spec.supply_cap))
    if spec.borrow_cap:
        d.send(configurator.functions.setBorrowCap(asset, spec.borrow_cap))
    if spec.debt_ceiling_cents:  # must be set before anyone supplies the asset
        d.send(configurator.functions.setDebtCeiling(asset, spec.debt_ceiling_cents))
    if spec.borrowable_in_isolation:
        d.send(configurator.functions.setBorrowableInIsolation(asset, True))
