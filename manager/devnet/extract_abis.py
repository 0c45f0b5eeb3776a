"""Copy the ABIs the manager uses out of the pinned npm artifacts into ``contracts_abi/``.

Run after changing ``package.json``: ``python -m manager.devnet.extract_abis``. The JSON files are
committed so the manager can talk to real chains without node_modules.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NM = ROOT / "node_modules"
OUT = ROOT / "contracts_abi"

AAVE = "@aave/core-v3/artifacts/contracts"
UNI_CORE = "@uniswap/v3-core/artifacts/contracts"
UNI_PERI = "@uniswap/v3-periphery/artifacts/contracts"

SOURCES: dict[str, str] = {
    "aave_v3/Pool": f"{AAVE}/protocol/pool/Pool.sol/Pool.json",
    "aave_v3/PoolConfigurator": f"{AAVE}/protocol/pool/PoolConfigurator.sol/PoolConfigurator.json",
    "aave_v3/PoolAddressesProvider": f"{AAVE}/protocol/configuration/PoolAddressesProvider.sol/PoolAddressesProvider.json",
    "aave_v3/ACLManager": f"{AAVE}/protocol/configuration/ACLManager.sol/ACLManager.json",
    "aave_v3/AToken": f"{AAVE}/protocol/tokenization/AToken.sol/AToken.json",
    "aave_v3/VariableDebtToken": f"{AAVE}/protocol/tokenization/VariableDebtToken.sol/VariableDebtToken.json",
    "aave_v3/StableDebtToken": f"{AAVE}/protocol/tokenization/StableDebtToken.sol/StableDebtToken.json",
    "aave_v3/AaveOracle": f"{AAVE}/misc/AaveOracle.sol/AaveOracle.json",
    "aave_v3/AaveProtocolDataProvider": f"{AAVE}/misc/AaveProtocolDataProvider.sol/AaveProtocolDataProvider.json",
    "aave_v3/DefaultReserveInterestRateStrategy": f"{AAVE}/protocol/pool/DefaultReserveInterestRateStrategy.sol/DefaultReserveInterestRateStrategy.json",
    "aave_v3/Errors": f"{AAVE}/protocol/libraries/helpers/Errors.sol/Errors.json",
    "erc20/MintableERC20": "@aave/core-v3/artifacts/contracts/mocks/tokens/MintableERC20.sol/MintableERC20.json",
    "erc20/WETH9": "@aave/core-v3/artifacts/contracts/mocks/tokens/WETH9Mocked.sol/WETH9Mocked.json",
    "uniswap_v3/UniswapV3Factory": f"{UNI_CORE}/UniswapV3Factory.sol/UniswapV3Factory.json",
    "uniswap_v3/UniswapV3Pool": f"{UNI_CORE}/UniswapV3Pool.sol/UniswapV3Pool.json",
    "uniswap_v3/SwapRouter": f"{UNI_PERI}/SwapRouter.sol/SwapRouter.json",
    "uniswap_v3/QuoterV2": f"{UNI_PERI}/lens/QuoterV2.sol/QuoterV2.json",
    "uniswap_v3/TickLens": f"{UNI_PERI}/lens/TickLens.sol/TickLens.json",
    "uniswap_v3/NonfungiblePositionManager": f"{UNI_PERI}/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
    "multicall/UniswapInterfaceMulticall": f"{UNI_PERI}/lens/UniswapInterfaceMulticall.sol/UniswapInterfaceMulticall.json",
    "chainlink/AggregatorV3Interface": "@chainlink/contracts/abi/v0.8/AggregatorV3Interface.json",
    "chainlink/MockV3Aggregator": "@chainlink/contracts/abi/v0.8/MockV3Aggregator.json",
}

# Multicall3 (canonical address on real chains): its ABI is not in an npm package we pin; the
# signatures below are the published interface of Multicall3.
MULTICALL3_ABI = [
    {
        "name": "aggregate3",
        "type": "function",
        "stateMutability": "payable",
        "inputs": [
            {
                "name": "calls",
                "type": "tuple[]",
                "components": [
                    {"name": "target", "type": "address"},
                    {"name": "allowFailure", "type": "bool"},
                    {"name": "callData", "type": "bytes"},
                ],
            }
        ],
        "outputs": [
            {
                "name": "returnData",
                "type": "tuple[]",
                "components": [{"name": "success", "type": "bool"}, {"name": "returnData", "type": "bytes"}],
            }
        ],
    },
    {
        "name": "getBlockNumber",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "blockNumber", "type": "uint256"}],
    },
]


def main() -> None:
    lines = ["# Where each ABI came from", "", "| file | npm package | artifact |", "|---|---|---|"]
    for name, rel in sorted(SOURCES.items()):
        src = NM / rel
        data = json.loads(src.read_text())
        abi = data["abi"] if isinstance(data, dict) else data
        dst = OUT / f"{name}.json"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(abi, indent=1) + "\n")
        pkg = "/".join(rel.split("/")[:2])
        version = json.loads((NM / pkg / "package.json").read_text())["version"]
        lines.append(f"| `{name}.json` | `{pkg}@{version}` | `{'/'.join(rel.split('/')[2:])}` |")
    (OUT / "multicall").mkdir(parents=True, exist_ok=True)
    (OUT / "multicall/Multicall3.json").write_text(json.dumps(MULTICALL3_ABI, indent=1) + "\n")
    lines.append("| `multicall/Multicall3.json` | (interface of Multicall3, written by hand: aggregate3, getBlockNumber) | - |")
    (OUT / "SOURCES.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
