"""Compile and deploy ``PosmanExecutor`` (``contracts/PosmanExecutor.sol``).

Compiled with the pinned npm ``solc`` 0.8.19 through ``manager.devnet.compile`` (optimizer 200 runs, EVM
``paris``; output cached under ``.cache/solc/`` keyed by the source). The ABI is also committed as
``contracts_abi/posman/PosmanExecutor.json`` (``manager.chain.abi.load_abi("posman/PosmanExecutor")``);
``tests/atomic`` checks that it equals the compiled one.

``deploy_step(owner)`` builds the unsigned contract-creation step (``TxStep`` cannot carry a creation, so it
returns the raw transaction fields); ``manager.commands.executor`` simulates, signs and sends it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from manager.errors import ConfigError

SOURCE = Path(__file__).with_name("contracts") / "PosmanExecutor.sol"
UNIT = "posman/atomic/PosmanExecutor.sol"
NAME = "PosmanExecutor"


@cache
def artifact() -> dict[str, Any]:
    """``{abi, bytecode}`` of PosmanExecutor (first call compiles, ~3 s; then read from the cache)."""
    from manager.devnet.compile import compile_files

    return compile_files({UNIT: SOURCE})[NAME]


def creation_data(owner: str) -> str:
    """Creation bytecode + ``abi.encode(owner)``: the ``data`` of the deploy transaction."""
    from eth_abi import encode
    from eth_utils import is_hex_address, to_checksum_address

    if not is_hex_address(owner):
        raise ConfigError(f"executor owner {owner!r} is not a hex address")
    return artifact()["bytecode"] + encode(["address"], [to_checksum_address(owner)]).hex()


def deploy(w3: Any, owner: str, *, sender: str | None = None) -> str:
    """Deploy an executor for ``owner`` from an unlocked account (devnet only); returns its address."""
    from manager.devnet.artifacts import wait_receipt

    tx = w3.eth.send_transaction({"from": sender or owner, "data": creation_data(owner)})
    receipt = wait_receipt(w3, tx, f"deploy PosmanExecutor for {owner}")
    return str(receipt["contractAddress"])


def check_executor(w3: Any, executor: str, owner: str) -> None:
    """Refuse an executor address that holds no PosmanExecutor code or whose ``OWNER`` is not ``owner``."""
    from eth_utils import to_checksum_address

    if not w3.eth.get_code(to_checksum_address(executor)):
        raise ConfigError(f"executor {executor}: no contract at that address on this chain")
    c = w3.eth.contract(address=to_checksum_address(executor), abi=abi())
    try:
        got = c.functions.OWNER().call()
    except Exception:
        raise ConfigError(f"executor {executor}: not a PosmanExecutor (OWNER() failed)") from None
    if to_checksum_address(got) != to_checksum_address(owner):
        raise ConfigError(f"executor {executor} belongs to {got}, not to the signer {owner}")


def abi() -> list[dict[str, Any]]:
    from manager.chain.abi import load_abi

    return load_abi("posman/PosmanExecutor")
