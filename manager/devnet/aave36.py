"""Aave V3 v3.6 (``POOL_REVISION`` 10) on the devnet: compiled from npm ``@aave-dao/aave-v3-origin`` 3.6.0, deployed.

Sources: the package's ``src/contracts`` (instances, misc, helpers, protocol), compiled with the npm solc-js 0.8.27
(``solc-0.8.27``) in one standard-JSON input: optimizer 200 runs, ``evmVersion`` shanghai, ``bytecodeHash`` none,
one remapping ``openzeppelin-contracts/contracts/`` -> npm ``@openzeppelin/contracts`` 5.0.2 (what the package's own
foundry remapping points at). The output is cached under ``.cache/solc/`` (``manager.devnet.compile``).

Deploy order (the package's ``src/deployments`` procedure; checked notes ``local-chain.md``): PoolAddressesProvider ->
DefaultReserveInterestRateStrategyV2 (a Pool constructor immutable: one per market) -> libraries -> PoolInstance,
PoolConfiguratorInstance -> AaveOracle on the devnet's Chainlink feeds -> setPoolImpl (the proxy) ->
setPoolConfiguratorImpl -> ACL admin, ACLManager, roles -> flash-loan premium -> AaveProtocolDataProvider ->
ATokenInstance / VariableDebtTokenInstance (on the pool proxy) -> initReserves -> risk parameters -> e-mode.

The market has the same assets, feeds and risk parameters as the v3.0 market (``market.ASSETS``) and adds what only
v3.2+ can express (``market.EMODES_V36``): per-category collateral / borrowable / LTV-zero bitmaps.
"""

from __future__ import annotations

import json
from typing import Any

from manager.devnet import market as M
from manager.devnet.artifacts import NM, Deployer
from manager.devnet.compile import compile_files
from manager.devnet.deploy import configure_reserve
from manager.errors import SetupError

ORIGIN = "@aave-dao/aave-v3-origin/src/contracts"
SOLC_PACKAGE = "solc-0.8.27"
REMAPPINGS = ("openzeppelin-contracts/contracts/=@openzeppelin/contracts/",)
ZERO = "0x0000000000000000000000000000000000000000"

# unit name (path under node_modules) of every contract deployed; libraries come in as dependencies
UNITS = (
    f"{ORIGIN}/protocol/configuration/PoolAddressesProvider.sol",
    f"{ORIGIN}/protocol/configuration/ACLManager.sol",
    f"{ORIGIN}/instances/PoolInstance.sol",
    f"{ORIGIN}/instances/PoolConfiguratorInstance.sol",
    f"{ORIGIN}/instances/ATokenInstance.sol",
    f"{ORIGIN}/instances/VariableDebtTokenInstance.sol",
    f"{ORIGIN}/misc/AaveOracle.sol",
    f"{ORIGIN}/misc/DefaultReserveInterestRateStrategyV2.sol",
    f"{ORIGIN}/helpers/AaveProtocolDataProvider.sol",
    f"{ORIGIN}/protocol/libraries/helpers/Errors.sol",
)
LIBRARIES = ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "PoolLogic", "FlashLoanLogic", "ConfiguratorLogic")


def _package_version(name: str) -> str:
    path = NM / name / "package.json"
    if not path.is_file():
        raise SetupError(f"npm package {name} missing under {NM}: run 'make setup' (or 'npm ci')")
    return str(json.loads(path.read_text())["version"])


def compile_aave36() -> dict[str, dict]:
    """``{ContractName: {abi, bytecode, linkReferences}}`` of the v3.6 market (cached after the first ~12 s)."""
    key = "|".join(f"{p}={_package_version(p)}" for p in ("@aave-dao/aave-v3-origin", "@openzeppelin/contracts"))
    return compile_files({unit: NM / unit for unit in UNITS}, optimize_runs=200, evm_version="shanghai",
                         solc_package=SOLC_PACKAGE, remappings=REMAPPINGS, bytecode_hash="none", with_links=True,
                         key_extra=key)


def _rate_data(kind: str) -> bytes:
    """``abi.encode(uint16 optimalUsageRatio, uint32 baseVariableBorrowRate, uint32 slope1, uint32 slope2)`` in bps."""
    from eth_abi import encode

    opt, base, s1, s2 = M.RATES_BPS[kind]
    return encode(["uint16", "uint32", "uint32", "uint32"], [opt, base, s1, s2])


def deploy_aave36(w3: Any, book: dict[str, Any], accounts: dict[str, str]) -> dict[str, Any]:
    """Deploy the v3.6 market on the devnet's tokens and feeds; returns its address-book section (``book["aave"]``)."""
    arts = compile_aave36()
    admin = accounts["deployer"]
    treasury = accounts["treasury"]
    d = Deployer(w3, admin)

    def deploy(name: str, *args: Any, libraries: dict[str, str] | None = None) -> Any:
        return d.deploy(name, *args, libraries=libraries, art=arts[name])

    def at(name: str, address: str) -> Any:
        return w3.eth.contract(address=address, abi=arts[name]["abi"])

    provider = deploy("PoolAddressesProvider", "posman-devnet-v3.6", admin)
    strategy = deploy("DefaultReserveInterestRateStrategyV2", provider.address)
    libs: dict[str, str] = {}
    pending = list(LIBRARIES)
    while pending:  # a library that links others (FlashLoanLogic -> BorrowLogic) goes after them
        for lib in list(pending):
            needs = {n for refs in arts[lib]["linkReferences"].values() for n in refs}
            if needs <= set(libs):
                libs[lib] = deploy(lib, libraries={n: libs[n] for n in needs}).address
                pending.remove(lib)
                break
        else:
            raise SetupError(f"v3.6 libraries with unresolvable links: {pending}")
    pool_impl = deploy("PoolInstance", provider.address, strategy.address, libraries=libs)
    cfg_impl = deploy("PoolConfiguratorInstance", libraries=libs)

    symbols = [s.symbol for s in M.ASSETS]
    assets = [book["tokens"][s] for s in symbols]
    oracle = deploy("AaveOracle", provider.address, assets, [book["feeds"][s] for s in symbols], ZERO, ZERO, 10**8)
    d.send(provider.functions.setPriceOracle(oracle.address))
    d.send(provider.functions.setPoolImpl(pool_impl.address))
    d.send(provider.functions.setPoolConfiguratorImpl(cfg_impl.address))  # after the pool: it caches its address
    pool = at("PoolInstance", provider.functions.getPool().call())
    configurator = at("PoolConfiguratorInstance", provider.functions.getPoolConfigurator().call())
    d.send(provider.functions.setACLAdmin(admin))  # before ACLManager: its constructor reads it
    acl = deploy("ACLManager", provider.address)
    d.send(provider.functions.setACLManager(acl.address))
    for role in ("addPoolAdmin", "addRiskAdmin", "addEmergencyAdmin", "addAssetListingAdmin"):
        d.send(getattr(acl.functions, role)(admin))
    d.send(configurator.functions.updateFlashloanPremium(M.FLASHLOAN_PREMIUM_V36_BPS))
    data_provider = deploy("AaveProtocolDataProvider", provider.address)
    d.send(provider.functions.setPoolDataProvider(data_provider.address))

    a_impl = deploy("ATokenInstance", pool.address, ZERO, treasury)
    v_impl = deploy("VariableDebtTokenInstance", pool.address, ZERO)
    inputs = [(a_impl.address, v_impl.address, book["tokens"][s.symbol], f"Aave devnet v3.6 {s.symbol}",
               f"a{s.symbol}", f"Aave devnet v3.6 variable debt {s.symbol}", f"variableDebt{s.symbol}", b"",
               _rate_data("stable" if s.stable else "volatile")) for s in M.ASSETS]
    d.send(configurator.functions.initReserves(inputs))

    for spec in M.ASSETS:
        configure_reserve(d, configurator, book["tokens"][spec.symbol], spec)
    labels = {}
    for em in M.EMODES_V36:
        d.send(configurator.functions.setEModeCategory(em.id, em.ltv_bps, em.lt_bps, em.bonus_bps, em.label))
        for sym in em.collateral:
            d.send(configurator.functions.setAssetCollateralInEMode(book["tokens"][sym], em.id, True))
        for sym in em.borrowable:
            d.send(configurator.functions.setAssetBorrowableInEMode(book["tokens"][sym], em.id, True))
        for sym in em.ltvzero:  # must already be collateral in the category
            d.send(configurator.functions.setAssetLtvzeroInEMode(book["tokens"][sym], em.id, True))
        labels[str(em.id)] = em.label

    # liquidity: virtual accounting is on for every reserve, so it must come in through Pool.supply
    lp = accounts["liquidity"]
    for spec in M.ASSETS:
        if not spec.lp_supply:
            continue
        from manager.devnet.deploy import token_units

        amount = token_units(spec.lp_supply, spec.decimals)
        tok = w3.eth.contract(address=book["tokens"][spec.symbol], abi=arts_token_abi())
        if spec.symbol == "WETH":
            d.send(tok.functions.deposit(), sender=lp, value=amount)
        else:
            d.send(tok.functions.mint(amount), sender=lp)
        d.send(tok.functions.approve(pool.address, amount), sender=lp)
        d.send(pool.functions.supply(tok.address, amount, lp, 0), sender=lp)

    return {
        "version": "3.6",
        "pool_revision": int(pool.functions.POOL_REVISION().call()),
        "pool_addresses_provider": provider.address,
        "pool": pool.address,
        "pool_configurator": configurator.address,
        "oracle": oracle.address,
        "data_provider": data_provider.address,
        "acl_manager": acl.address,
        "interest_rate_strategy": strategy.address,
        "treasury": treasury,
        "libraries": libs,
        "emode_categories": labels,
    }


def arts_token_abi() -> list[dict]:
    """ABI with the calls the liquidity step makes on devnet tokens (WETH ``deposit``, test-token ``mint``)."""
    from manager.devnet.artifacts import artifact

    abi = {f["name"]: f for f in artifact("MintableERC20")["abi"] if f.get("type") == "function"}
    abi.update({f["name"]: f for f in artifact("WETH9Mocked")["abi"] if f.get("type") == "function"
                and f["name"] == "deposit"})
    return list(abi.values())
