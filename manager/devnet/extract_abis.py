"""Copy the ABIs the manager uses out of the pinned npm artifacts into ``contracts_abi/``.

Run after changing ``package.json``: ``python -m manager.devnet.extract_abis``. The JSON files are
committed so the manager can talk to real chains without node_modules.
"""

from __future__ import annotations

import json

from manager.devnet.artifacts import AAVE, ARTIFACTS, NM, ROOT

OUT = ROOT / "contracts_abi"

# contracts_abi/<file> -> the devnet's artifact of that name (same npm artifact, one path table)
FROM_ARTIFACTS: dict[str, str] = {
    "aave_v3/Pool": "Pool",
    "aave_v3/PoolConfigurator": "PoolConfigurator",
    "aave_v3/PoolAddressesProvider": "PoolAddressesProvider",
    "aave_v3/ACLManager": "ACLManager",
    "aave_v3/AToken": "AToken",
    "aave_v3/VariableDebtToken": "VariableDebtToken",
    "aave_v3/StableDebtToken": "StableDebtToken",
    "aave_v3/AaveOracle": "AaveOracle",
    "aave_v3/AaveProtocolDataProvider": "AaveProtocolDataProvider",
    "aave_v3/DefaultReserveInterestRateStrategy": "DefaultReserveInterestRateStrategy",
    "erc20/MintableERC20": "MintableERC20",
    "erc20/WETH9": "WETH9Mocked",
    "uniswap_v3/UniswapV3Factory": "UniswapV3Factory",
    "uniswap_v3/UniswapV3Pool": "UniswapV3Pool",
    "uniswap_v3/SwapRouter": "SwapRouter",
    "uniswap_v3/QuoterV2": "QuoterV2",
    "uniswap_v3/TickLens": "TickLens",
    "uniswap_v3/NonfungiblePositionManager": "NonfungiblePositionManager",
    "multicall/UniswapInterfaceMulticall": "UniswapInterfaceMulticall",
}

SOURCES: dict[str, str] = {
    **{out: ARTIFACTS[name] for out, name in FROM_ARTIFACTS.items()},
    "aave_v3/Errors": f"{AAVE}/protocol/libraries/helpers/Errors.sol/Errors.json",
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
    # posman's own contract: written by manager/atomic/deploy.py's compile, not extracted from npm
    lines.append("| `posman/PosmanExecutor.json` | (this repository, compiled with `solc@0.8.19`; "
                 "`tests/atomic/test_encode.py` checks it equals the compiled ABI) | "
                 "`manager/atomic/contracts/PosmanExecutor.sol` |")
    (OUT / "SOURCES.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
