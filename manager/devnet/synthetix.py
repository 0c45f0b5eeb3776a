"""Deploy a real Synthetix PerpsV2 system (ETH and BTC markets) on the devnet, then seed perp positions.

Every perp contract is compiled from the pinned npm ``synthetix`` 2.102.1 sources with solcjs 0.5.16
(optimizer on, 200 runs) and deployed unmodified: AddressResolver, FlexibleStorage, SystemStatus,
SystemSettings (+ SystemSettingsLib, SafeDecimalMath), ExchangeRates, CircuitBreaker, sUSD (Synth +
ProxyERC20 + TokenState), FuturesMarketManager, PerpsV2MarketSettings, PerpsV2ExchangeRate,
PerpsV2MarketData and per market ProxyPerpsV2, PerpsV2MarketState and the Market, Liquidate,
DelayedIntent, DelayedExecution and Views implementations.

Stand-ins (only for dependencies that are not perp logic):

- ``Exchanger`` and ``FeePool``: the package's own test helper ``GenericMock`` with fixed answers
  (``settle`` reclaims nothing, ``dynamicFeeRateForExchange`` = (0, not volatile), no waiting period,
  ``FEE_ADDRESS`` = Synthetix's fee address, ``recordFeePaid`` a no-op).
- ``Issuer``: the resolver name points at a funded devnet account (``book["synthetix"]["issuer"]``)
  that mints sUSD through the real ``Synth.issue()``.
- Price feeds: ExchangeRates reads the devnet's own Chainlink ``MockV3Aggregator`` feeds
  (``book["feeds"]["WETH"]`` for sETH, ``["WBTC"]`` for sBTC); they implement ``latestRoundData``,
  ``latestRound`` and ``decimals`` (AggregatorV2V3), so ``Devnet.set_price`` moves Aave, Uniswap and
  Synthetix together. The package's ``MockAggregatorV2V3`` is not used.

Wiring order mirrors Synthetix's deploy code and unit-test setup (see ``local-chain.md``): import the
resolver addresses, rebuild caches, settings, aggregators, markets (proxy + state + implementations,
``linkOrInitializeState``, routes, caches, ``addProxiedMarkets``, ``setParameters``).

Devnet parameters: the liquidation settings of test vector P1 (buffer 1%, fee ratio 0.35%, keeper fee
20..1000 sUSD, keeper liquidation fee 2 sUSD) and unit-test-like order fees (mainnet sets direct-order
fees to 30% to disable that path; the devnet keeps direct ``modifyPosition`` usable).
"""

from __future__ import annotations

import re
import time
from typing import Any

from eth_hash.auto import keccak

from manager.chain.abi import abi_type
from manager.devnet.compile import compile_sources
from manager.errors import DevnetError

WAD = 10**18
ZERO = "0x0000000000000000000000000000000000000000"
FEE_ADDRESS = "0xfeEFEEfeefEeFeefEEFEEfEeFeefEEFeeFEEFEeF"  # Synthetix's FeePool.FEE_ADDRESS
SOLC = "solc-0.5.16"
SRC = "synthetix/contracts"

# Contracts compiled from the npm sources (unit = file).
CONTRACTS = (
    "AddressResolver", "FlexibleStorage", "SystemStatus", "SystemSettings", "SystemSettingsLib", "SafeDecimalMath",
    "ExchangeRates", "CircuitBreaker", "Synth", "ProxyERC20", "TokenState", "FuturesMarketManager",
    "PerpsV2MarketSettings", "PerpsV2ExchangeRate", "PerpsV2MarketData", "ProxyPerpsV2", "PerpsV2MarketState",
    "PerpsV2Market", "PerpsV2MarketLiquidate", "PerpsV2MarketDelayedIntent", "PerpsV2MarketDelayedExecution",
    "PerpsV2MarketViews",
)
TEST_HELPERS = ("GenericMock",)
LIBRARIES = ("SafeDecimalMath", "SystemSettingsLib")

# Route order: the first implementation that has a selector gets it (as Synthetix's deploy does).
IMPLEMENTATIONS = ("PerpsV2Market", "PerpsV2MarketLiquidate", "PerpsV2MarketDelayedIntent",
                   "PerpsV2MarketDelayedExecution", "PerpsV2MarketViews")

# System-wide settings (sUSD amounts and ratios as decimals; scaled to 1e18 when sent).
SYSTEM = {
    "rate_stale_period_s": 2 * 86400,  # devnet: tests jump a day ahead; mainnet 4200 s
    "price_deviation_threshold_factor": 3,  # circuit breaker at a 3x move (mainnet)
    "min_initial_margin_usd": 40,
    "min_keeper_fee_usd": 20,
    "max_keeper_fee_usd": 1000,
    "liquidation_fee_ratio": 0.0035,
    "keeper_liquidation_fee_usd": 2,
}


class MarketSpec:
    """One PerpsV2 market: keys, the devnet feed it reads, and its ``Parameters``."""

    def __init__(self, symbol: str, feed_symbol: str, asset: str, key: str, params: dict[str, float | str]) -> None:
        self.symbol, self.feed_symbol, self.asset, self.key, self.params = symbol, feed_symbol, asset, key, params


def _market_params(skew_scale: float, max_market_value: float, multiplier: float, buffer: float,
                   offchain_key: str) -> dict[str, float | str]:
    return {
        "takerFee": 0.0005, "makerFee": 0.0002,
        "takerFeeDelayedOrder": 0.0005, "makerFeeDelayedOrder": 0.0002,
        "takerFeeOffchainDelayedOrder": 0.0005, "makerFeeOffchainDelayedOrder": 0.0002,
        "maxLeverage": 50, "maxMarketValue": max_market_value, "maxFundingVelocity": 9, "skewScale": skew_scale,
        "nextPriceConfirmWindow": 2, "delayedOrderConfirmWindow": 120, "minDelayTimeDelta": 60,
        "maxDelayTimeDelta": 6000, "offchainDelayedOrderMinAge": 1, "offchainDelayedOrderMaxAge": 30,
        "offchainMarketKey": offchain_key, "offchainPriceDivergence": 0.1,
        "liquidationPremiumMultiplier": multiplier, "liquidationBufferRatio": buffer,
        "maxLiquidationDelta": 0.000601, "maxPD": 0.001202,
    }


MARKETS = (
    # ETH: P1's liquidation parameters (buffer 1%, premium multiplier 1, skew scale 1M).
    MarketSpec("ETH", "WETH", "sETH", "sETHPERP", _market_params(1_000_000, 100_000, 1.0, 0.01, "ocETHPERP")),
    # BTC: mainnet-like premium multiplier and buffer.
    MarketSpec("BTC", "WBTC", "sBTC", "sBTCPERP", _market_params(100_000, 5_000, 1.5625, 0.0075, "ocBTCPERP")),
)
PARAM_ORDER = ("takerFee", "makerFee", "takerFeeDelayedOrder", "makerFeeDelayedOrder", "takerFeeOffchainDelayedOrder",
               "makerFeeOffchainDelayedOrder", "maxLeverage", "maxMarketValue", "maxFundingVelocity", "skewScale",
               "nextPriceConfirmWindow", "delayedOrderConfirmWindow", "minDelayTimeDelta", "maxDelayTimeDelta",
               "offchainDelayedOrderMinAge", "offchainDelayedOrderMaxAge", "offchainMarketKey",
               "offchainPriceDivergence", "liquidationPremiumMultiplier", "liquidationBufferRatio",
               "maxLiquidationDelta", "maxPD")
_PLAIN_UINT = {"nextPriceConfirmWindow", "delayedOrderConfirmWindow", "minDelayTimeDelta", "maxDelayTimeDelta",
               "offchainDelayedOrderMinAge", "offchainDelayedOrderMaxAge"}  # seconds / blocks, not decimals

# Seeded perp positions: (account, market, size, margin sUSD). alice hedges her Aave ETH collateral.
SUSD_ISSUER = "spare3"
SEED_PERPS: tuple[tuple[str, str, float, float], ...] = (
    ("spare1", "ETH", 10.0, 6_000.0),  # long 10 ETH, ~5x
    ("alice", "ETH", -5.0, 3_000.0),  # short 5 ETH: hedges half of alice's 10 WETH Aave collateral
    ("spare2", "BTC", 0.5, 6_000.0),  # long 0.5 BTC, 5x
)
SEED_SUSD = 100_000  # sUSD minted to every seeded trader (margin + headroom for top-ups)


def b32(text: str) -> bytes:
    """``bytes32`` of a short ASCII string, right-padded (Synthetix keys: "sETH", "sETHPERP")."""
    raw = text.encode()
    if len(raw) > 32:
        raise ValueError(f"{text!r} does not fit bytes32")
    return raw.ljust(32, b"\0")


def _wad(x: float | int) -> int:
    from decimal import Decimal

    return int(Decimal(str(x)) * WAD)


def compile_synthetix() -> dict[str, dict]:
    """Compile the Synthetix contracts (cached by content hash under ``.cache/solc/``)."""
    units = {f"{SRC}/{n}.sol": f"{SRC}/{n}.sol" for n in CONTRACTS}
    units.update({f"{SRC}/test-helpers/{n}.sol": f"{SRC}/test-helpers/{n}.sol" for n in TEST_HELPERS})
    out = compile_sources(units, optimize_runs=200, evm_version=None, solc_package=SOLC)
    missing = [n for n in (*CONTRACTS, *TEST_HELPERS) if n not in out or len(out[n]["bytecode"]) <= 2]
    if missing:
        raise DevnetError(f"synthetix compile produced no bytecode for {', '.join(missing)}")
    return out


def _placeholder(lib: str) -> str:
    """solc 0.5 library placeholder: ``__$`` + keccak256("<file>:<lib>")[:34 hex] + ``$__``."""
    return "__$" + keccak(f"{SRC}/{lib}.sol:{lib}".encode()).hex()[:34] + "$__"


def _link(bytecode: str, libs: dict[str, str]) -> str:
    for lib, addr in libs.items():
        bytecode = bytecode.replace(_placeholder(lib), addr.lower().removeprefix("0x"))
    if re.search(r"__\$[0-9a-f]{34}\$__", bytecode):
        raise DevnetError("refusing to deploy Synthetix bytecode with an unlinked library placeholder")
    return bytecode


class _Tx:
    """Deploy/transact from unlocked anvil accounts with raw JSON-RPC (no gas estimation, no middleware).

    About 200 transactions: going through web3's middleware and gas estimation costs ~10 s; raw
    ``eth_sendTransaction`` with a fixed gas limit and one receipt read each costs ~1 s. Every receipt
    is checked; a revert is re-run as ``eth_call`` to report the reason.
    """

    GAS = 8_000_000

    def __init__(self, w3: Any, sender: str, arts: dict[str, dict], libs: dict[str, str]) -> None:
        self.w3, self.sender, self.arts, self.libs, self.count = w3, sender, arts, libs, 0

    def _rpc(self, method: str, params: list[Any]) -> Any:
        resp = self.w3.provider.make_request(method, params)
        if "error" in resp:
            raise DevnetError(f"synthetix devnet: {method} failed: {resp['error'].get('message', resp['error'])}")
        return resp["result"]

    def _send_raw(self, to: str | None, data: str, what: str, sender: str | None = None) -> dict[str, Any]:
        tx = {"from": sender or self.sender, "data": data, "gas": hex(self.GAS)}
        if to is not None:
            tx["to"] = to
        tx_hash = self._rpc("eth_sendTransaction", [tx])
        receipt = self._rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is None:  # not automining: mine it
            self._rpc("evm_mine", [])
            receipt = self._rpc("eth_getTransactionReceipt", [tx_hash])
        self.count += 1
        if int(receipt["status"], 16) != 1:
            reason = ""
            try:
                self.w3.eth.call({k: v for k, v in tx.items() if k != "gas"} | {"gas": self.GAS})
            except Exception as exc:
                reason = f": {exc}"
            raise DevnetError(f"synthetix devnet transaction reverted: {what} ({tx_hash}){reason}")
        return receipt

    def deploy(self, name: str, *args: Any) -> Any:
        art = self.arts[name]
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=_link(art["bytecode"], self.libs))
        receipt = self._send_raw(None, factory.constructor(*args).data_in_transaction, f"deploy {name}")
        address = self.w3.to_checksum_address(receipt["contractAddress"])
        if len(self.w3.eth.get_code(address)) == 0:
            raise DevnetError(f"synthetix: deploying {name} left no code (contract too large?)")
        return self.w3.eth.contract(address=address, abi=art["abi"])

    def at(self, name: str, address: str) -> Any:
        return self.w3.eth.contract(address=address, abi=self.arts[name]["abi"])

    def send(self, fn: Any, what: str = "", sender: str | None = None) -> dict[str, Any]:
        return self._send_raw(fn.address, fn._encode_transaction_data(), what or fn.fn_name, sender)


def _routes(arts: dict[str, dict]) -> list[tuple[bytes, str, bool]]:
    """(selector, implementation name, is_view) for every function, first implementation wins."""
    seen: set[bytes] = set()
    out = []
    for impl in IMPLEMENTATIONS:
        for item in arts[impl]["abi"]:
            if item.get("type") != "function":
                continue
            sig = f"{item['name']}({','.join(abi_type(i) for i in item['inputs'])})"
            sel = keccak(sig.encode())[:4]
            if sel in seen:
                continue
            seen.add(sel)
            is_view = item.get("stateMutability") in ("view", "pure")
            if impl == "PerpsV2MarketViews" and not is_view:
                continue  # Views is not Proxyable: only its views are routed
            out.append((sel, impl, is_view))
    return out


def deploy_synthetix(w3: Any, book: dict[str, Any], accounts: dict[str, str]) -> dict[str, Any]:
    """Deploy the PerpsV2 system with ETH and BTC markets. Returns the ``book["synthetix"]`` section.

    Needs ``book["feeds"]["WETH"]`` / ``["WBTC"]`` (the devnet's Chainlink feeds). Raises
    ``DevnetError`` naming the step that failed.
    """
    started = time.monotonic()
    for m in MARKETS:
        if m.feed_symbol not in book.get("feeds", {}):
            raise DevnetError(f"synthetix: the devnet has no {m.feed_symbol} feed to price {m.asset}")
    arts = compile_synthetix()
    owner = accounts["deployer"]
    issuer = accounts[SUSD_ISSUER]
    tx = _Tx(w3, owner, arts, {})

    # libraries (public functions called by ExchangeRates, SystemSettings, DelayedExecution)
    tx.libs["SafeDecimalMath"] = tx.deploy("SafeDecimalMath").address
    tx.libs["SystemSettingsLib"] = tx.deploy("SystemSettingsLib").address

    resolver = tx.deploy("AddressResolver", owner)
    storage = tx.deploy("FlexibleStorage", resolver.address)
    status = tx.deploy("SystemStatus", owner)
    settings = tx.deploy("SystemSettings", owner, resolver.address)
    rates = tx.deploy("ExchangeRates", owner, resolver.address)
    breaker = tx.deploy("CircuitBreaker", owner, resolver.address)
    susd_proxy = tx.deploy("ProxyERC20", owner)
    susd_state = tx.deploy("TokenState", owner, owner)
    susd = tx.deploy("Synth", susd_proxy.address, susd_state.address, "Synth sUSD", "sUSD", owner, b32("sUSD"), 0,
                     resolver.address)
    tx.send(susd_proxy.functions.setTarget(susd.address))
    tx.send(susd_state.functions.setAssociatedContract(susd.address))
    manager = tx.deploy("FuturesMarketManager", owner, resolver.address)
    perp_settings = tx.deploy("PerpsV2MarketSettings", owner, resolver.address)
    perp_rates = tx.deploy("PerpsV2ExchangeRate", owner, resolver.address)
    market_data = tx.deploy("PerpsV2MarketData", resolver.address)

    # stand-ins for non-perp dependencies (the package's GenericMock)
    exchanger = tx.deploy("GenericMock")
    fee_pool = tx.deploy("GenericMock")
    _mock(tx, exchanger, "settle(address,bytes32)", ["uint256", "uint256", "uint256"], [0, 0, 0])
    _mock(tx, exchanger, "settlementOwing(address,bytes32)", ["uint256", "uint256", "uint256"], [0, 0, 0])
    _mock(tx, exchanger, "maxSecsLeftInWaitingPeriod(address,bytes32)", ["uint256"], [0])
    _mock(tx, exchanger, "dynamicFeeRateForExchange(bytes32,bytes32)", ["uint256", "bool"], [0, False])
    _mock(tx, fee_pool, "FEE_ADDRESS()", ["address"], [FEE_ADDRESS])
    _mock(tx, fee_pool, "recordFeePaid(uint256)", [], [])

    names = {
        "FlexibleStorage": storage.address, "SystemStatus": status.address, "SystemSettings": settings.address,
        "ExchangeRates": rates.address, "CircuitBreaker": breaker.address, "SynthsUSD": susd.address,
        "ProxysUSD": susd_proxy.address, "FuturesMarketManager": manager.address,
        "PerpsV2MarketSettings": perp_settings.address, "PerpsV2ExchangeRate": perp_rates.address,
        "PerpsV2MarketData": market_data.address, "Exchanger": exchanger.address, "FeePool": fee_pool.address,
        "Issuer": issuer,
    }
    tx.send(resolver.functions.importAddresses([b32(k) for k in names], list(names.values())))
    cached = [settings, rates, breaker, susd, manager, perp_settings, perp_rates]
    _check_resolver(cached, names)
    tx.send(resolver.functions.rebuildCaches([c.address for c in cached]))

    # system settings
    tx.send(settings.functions.setRateStalePeriod(SYSTEM["rate_stale_period_s"]))
    tx.send(settings.functions.setPriceDeviationThresholdFactor(_wad(SYSTEM["price_deviation_threshold_factor"])))
    tx.send(perp_settings.functions.setMinInitialMargin(_wad(SYSTEM["min_initial_margin_usd"])))
    tx.send(perp_settings.functions.setMinKeeperFee(_wad(SYSTEM["min_keeper_fee_usd"])))
    tx.send(perp_settings.functions.setMaxKeeperFee(_wad(SYSTEM["max_keeper_fee_usd"])))
    tx.send(perp_settings.functions.setLiquidationFeeRatio(_wad(SYSTEM["liquidation_fee_ratio"])))
    tx.send(perp_settings.functions.setKeeperLiquidationFee(_wad(SYSTEM["keeper_liquidation_fee_usd"])))

    section: dict[str, Any] = {
        "resolver": resolver.address, "flexible_storage": storage.address, "system_status": status.address,
        "system_settings": settings.address, "exchange_rates": rates.address, "circuit_breaker": breaker.address,
        "susd": susd_proxy.address, "susd_synth": susd.address, "susd_token_state": susd_state.address,
        "futures_market_manager": manager.address, "perps_settings": perp_settings.address,
        "perps_exchange_rate": perp_rates.address, "market_data": market_data.address,
        "libraries": dict(tx.libs), "issuer": issuer,
        "stand_ins": {"Exchanger": exchanger.address, "FeePool": fee_pool.address, "Issuer": issuer,
                      "note": "GenericMock (package test helper) for Exchanger/FeePool; Issuer = funded devnet account"},
        "feeds": {}, "markets": {},
        "settings": dict(SYSTEM),
    }

    for m in MARKETS:
        feed = book["feeds"][m.feed_symbol]
        tx.send(rates.functions.addAggregator(b32(m.asset), feed), f"addAggregator {m.asset}")
        section["feeds"][m.asset] = {"feed": feed, "devnet_symbol": m.feed_symbol, "kind": "MockV3Aggregator"}
        section["markets"][m.symbol] = _deploy_market(tx, m, owner, resolver, manager, perp_settings, perp_rates)

    section["deploy_seconds"] = round(time.monotonic() - started, 3)
    section["deploy_transactions"] = tx.count
    return section


def _mock(tx: _Tx, mock: Any, signature: str, types: list[str], values: list[Any]) -> None:
    from eth_abi import encode

    tx.send(mock.functions.mockReturns(keccak(signature.encode())[:4], encode(types, values) if types else b""),
            f"mock {signature}")


def _check_resolver(contracts: list[Any], names: dict[str, str]) -> None:
    """Every name a contract's cache needs must be imported, or ``rebuildCaches`` reverts opaquely."""
    for c in contracts:
        need = {bytes(n).rstrip(b"\0").decode() for n in c.functions.resolverAddressesRequired().call()}
        missing = sorted(need - set(names))
        if missing:
            raise DevnetError(f"synthetix: resolver lacks {', '.join(missing)} needed by {c.address}")


def _deploy_market(tx: _Tx, m: MarketSpec, owner: str, resolver: Any, manager: Any, perp_settings: Any,
                   perp_rates: Any) -> dict[str, Any]:
    proxy = tx.deploy("ProxyPerpsV2", owner)
    state = tx.deploy("PerpsV2MarketState", owner, [], b32(m.asset), b32(m.key), ZERO)
    impls = {name: tx.deploy(name, proxy.address, state.address, owner, resolver.address)
             for name in IMPLEMENTATIONS if name != "PerpsV2MarketViews"}
    impls["PerpsV2MarketViews"] = tx.deploy("PerpsV2MarketViews", state.address, owner, resolver.address)
    tx.send(perp_rates.functions.addAssociatedContracts(
        [impls["PerpsV2MarketDelayedIntent"].address, impls["PerpsV2MarketDelayedExecution"].address]))
    # NOTE: without linkOrInitializeState the funding sequence is empty and every trade reverts.
    tx.send(state.functions.linkOrInitializeState(), f"linkOrInitializeState {m.key}")
    tx.send(state.functions.addAssociatedContracts([impls[n].address for n in IMPLEMENTATIONS[:4]]))
    for sel, impl, is_view in _routes(tx.arts):
        tx.send(proxy.functions.addRoute(sel, impls[impl].address, is_view), f"addRoute {impl}")
    for name in IMPLEMENTATIONS:
        tx.send(impls[name].functions.rebuildCache(), f"rebuildCache {name} {m.key}")
    # NOTE: after the routes: addProxiedMarkets registers the proxy's current targets as implementations.
    tx.send(manager.functions.addProxiedMarkets([proxy.address]), f"addProxiedMarkets {m.key}")
    params = tuple(
        b32(str(m.params[k])) if k == "offchainMarketKey"
        else int(m.params[k]) if k in _PLAIN_UINT else _wad(m.params[k])  # type: ignore[arg-type]
        for k in PARAM_ORDER
    )
    tx.send(perp_settings.functions.setParameters(b32(m.key), params), f"setParameters {m.key}")
    return {
        "proxy": proxy.address, "state": state.address, "market_key": m.key, "base_asset": m.asset,
        "devnet_symbol": m.feed_symbol,
        "implementations": {k: v.address for k, v in impls.items()},
        "parameters": {k: (str(v) if isinstance(v, str) else v) for k, v in m.params.items()},
    }


def seed_synthetix(w3: Any, book: dict[str, Any], accounts: dict[str, str]) -> dict[str, str]:
    """Mint sUSD (real ``Synth.issue`` from the Issuer account) and open ``SEED_PERPS``. Returns {label: note}."""
    snx = book["synthetix"]
    arts = compile_synthetix()
    tx = _Tx(w3, accounts[SUSD_ISSUER], arts, {})
    susd = tx.at("Synth", snx["susd_synth"])
    notes = {}
    funded: set[str] = set()
    for name, sym, size, margin in SEED_PERPS:
        user = accounts[name]
        if user not in funded:
            tx.send(susd.functions.issue(user, _wad(SEED_SUSD)), f"issue sUSD to {name}")
            funded.add(user)
        market = w3.eth.contract(address=snx["markets"][sym]["proxy"], abi=market_abi(arts))
        tx.send(market.functions.transferMargin(_wad(margin)), f"transferMargin {name} {sym}", sender=user)
        price = market.functions.assetPrice().call()[0]
        desired = price * 101 // 100 if size > 0 else price * 99 // 100  # 1% fill-price tolerance
        tx.send(market.functions.modifyPosition(_wad(size), desired), f"modifyPosition {name} {sym}", sender=user)
        notes[f"{name}:{sym}"] = f"{'long' if size > 0 else 'short'} {abs(size):g} {sym}, margin {margin:g} sUSD"
    snx["seeded"] = notes
    return notes


def market_abi(arts: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """The ABI a market proxy answers: the routed functions of the five implementations (first wins)."""
    arts = arts or compile_synthetix()
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for impl in IMPLEMENTATIONS:
        for item in arts[impl]["abi"]:
            if item.get("type") == "function":
                sig = f"{item['name']}({','.join(abi_type(i) for i in item['inputs'])})"
                if sig in seen or (impl == "PerpsV2MarketViews" and item.get("stateMutability") not in ("view", "pure")):
                    continue
                seen.add(sig)
                out.append(item)
            elif item.get("type") == "event" and item not in out:
                out.append(item)
    return out
