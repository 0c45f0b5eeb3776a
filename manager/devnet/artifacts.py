"""Hardhat artifacts from the pinned npm packages: load, link libraries, deploy, transact.

Only the devnet uses this module (real chains are never deployed to by the manager). It refuses to
deploy bytecode that still holds an unlinked library placeholder.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from manager.errors import DevnetError, SetupError

ROOT = Path(__file__).resolve().parents[2]
NM = ROOT / "node_modules"

AAVE = "@aave/core-v3/artifacts/contracts"
UNI_CORE = "@uniswap/v3-core/artifacts/contracts"
UNI_PERI = "@uniswap/v3-periphery/artifacts/contracts"
UNI_ROUTER02 = "@uniswap/swap-router-contracts/artifacts/contracts"

ARTIFACTS: dict[str, str] = {
    # Aave V3 (core-v3 1.19.3 = v3.0.x)
    "PoolAddressesProvider": f"{AAVE}/protocol/configuration/PoolAddressesProvider.sol/PoolAddressesProvider.json",
    "ACLManager": f"{AAVE}/protocol/configuration/ACLManager.sol/ACLManager.json",
    "Pool": f"{AAVE}/protocol/pool/Pool.sol/Pool.json",
    "PoolConfigurator": f"{AAVE}/protocol/pool/PoolConfigurator.sol/PoolConfigurator.json",
    "AaveOracle": f"{AAVE}/misc/AaveOracle.sol/AaveOracle.json",
    "AaveProtocolDataProvider": f"{AAVE}/misc/AaveProtocolDataProvider.sol/AaveProtocolDataProvider.json",
    "AToken": f"{AAVE}/protocol/tokenization/AToken.sol/AToken.json",
    "StableDebtToken": f"{AAVE}/protocol/tokenization/StableDebtToken.sol/StableDebtToken.json",
    "VariableDebtToken": f"{AAVE}/protocol/tokenization/VariableDebtToken.sol/VariableDebtToken.json",
    "DefaultReserveInterestRateStrategy": f"{AAVE}/protocol/pool/DefaultReserveInterestRateStrategy.sol/DefaultReserveInterestRateStrategy.json",
    "SupplyLogic": f"{AAVE}/protocol/libraries/logic/SupplyLogic.sol/SupplyLogic.json",
    "BorrowLogic": f"{AAVE}/protocol/libraries/logic/BorrowLogic.sol/BorrowLogic.json",
    "LiquidationLogic": f"{AAVE}/protocol/libraries/logic/LiquidationLogic.sol/LiquidationLogic.json",
    "EModeLogic": f"{AAVE}/protocol/libraries/logic/EModeLogic.sol/EModeLogic.json",
    "BridgeLogic": f"{AAVE}/protocol/libraries/logic/BridgeLogic.sol/BridgeLogic.json",
    "PoolLogic": f"{AAVE}/protocol/libraries/logic/PoolLogic.sol/PoolLogic.json",
    "FlashLoanLogic": f"{AAVE}/protocol/libraries/logic/FlashLoanLogic.sol/FlashLoanLogic.json",
    "ConfiguratorLogic": f"{AAVE}/protocol/libraries/logic/ConfiguratorLogic.sol/ConfiguratorLogic.json",
    "MintableERC20": f"{AAVE}/mocks/tokens/MintableERC20.sol/MintableERC20.json",
    "WETH9Mocked": f"{AAVE}/mocks/tokens/WETH9Mocked.sol/WETH9Mocked.json",
    # Uniswap V3
    "UniswapV3Factory": f"{UNI_CORE}/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": f"{UNI_CORE}/UniswapV3Pool.sol/UniswapV3Pool.json",
    "SwapRouter": f"{UNI_PERI}/SwapRouter.sol/SwapRouter.json",
    "QuoterV2": f"{UNI_PERI}/lens/QuoterV2.sol/QuoterV2.json",
    "TickLens": f"{UNI_PERI}/lens/TickLens.sol/TickLens.json",
    "NonfungiblePositionManager": f"{UNI_PERI}/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
    "UniswapInterfaceMulticall": f"{UNI_PERI}/lens/UniswapInterfaceMulticall.sol/UniswapInterfaceMulticall.json",
    "SwapRouter02": f"{UNI_ROUTER02}/SwapRouter02.sol/SwapRouter02.json",  # swap-router-contracts (router02.py)
}


@cache
def artifact(name: str) -> dict[str, Any]:
    rel = ARTIFACTS.get(name)
    if rel is None:
        raise DevnetError(f"unknown artifact {name!r}")
    path = NM / rel
    if not path.is_file():
        raise SetupError(f"npm artifact missing: {path}; run 'make setup' (or 'npm ci') in {ROOT}")
    data = json.loads(path.read_text())
    return {"abi": data["abi"], "bytecode": data["bytecode"], "linkReferences": data.get("linkReferences", {})}


def link(art: dict[str, Any], libraries: dict[str, str]) -> str:
    """Return the artifact's creation bytecode with every library placeholder replaced."""
    code = art["bytecode"]
    if code.startswith("0x"):
        code = code[2:]
    chars = list(code)
    for _file, libs in art["linkReferences"].items():
        for lib, refs in libs.items():
            if lib not in libraries:
                raise DevnetError(f"library {lib} is not deployed/linked")
            addr = libraries[lib].lower().removeprefix("0x")
            for ref in refs:
                start = ref["start"] * 2
                chars[start : start + ref["length"] * 2] = list(addr)
    linked = "".join(chars)
    if "__$" in linked or "$__" in linked:
        raise DevnetError("refusing to deploy bytecode with an unlinked library placeholder")
    return "0x" + linked


class Deployer:
    """Deploys and transacts from unlocked anvil accounts; checks every receipt."""

    def __init__(self, w3: Any, sender: str) -> None:
        self.w3 = w3
        self.sender = sender
        self.tx_count = 0

    def deploy(
        self, name: str, *args: Any, libraries: dict[str, str] | None = None, art: dict | None = None
    ) -> Any:
        art = art or artifact(name)
        bytecode = link(art, libraries or {}) if art.get("linkReferences") else art["bytecode"]
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=bytecode)
        tx_hash = factory.constructor(*args).transact({"from": self.sender})
        receipt = self._wait(tx_hash, f"deploy {name}")
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])

    def at(self, name: str, address: str) -> Any:
        return self.w3.eth.contract(address=address, abi=artifact(name)["abi"])

    def send(self, fn: Any, sender: str | None = None, value: int = 0, what: str = "") -> Any:
        tx_hash = fn.transact({"from": sender or self.sender, "value": value})
        return self._wait(tx_hash, what or getattr(fn, "fn_name", "tx"))

    def _wait(self, tx_hash: Any, what: str) -> Any:
        self.tx_count += 1
        return wait_receipt(self.w3, tx_hash, what)


def wait_receipt(w3: Any, tx_hash: Any, what: str) -> Any:
    """The mined receipt of ``tx_hash``; ``DevnetError`` naming ``what`` if it reverted."""
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.005)
    if receipt["status"] != 1:
        raise DevnetError(f"devnet transaction reverted: {what} ({tx_hash.hex()})")
    return receipt
