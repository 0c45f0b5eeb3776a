"""``posman multicall check|deploy``: a multicall for a chain that has none (a private chain, a new L2).

posman reads every value of a tick at one block through a multicall contract. Most public chains have
Multicall3 at ``0xcA11bde05977b3631167028862bE2a173976CA11``; a private chain usually has none.

``posman multicall check --rpc-url URL [--address A]``: is there a working Multicall3 (default: the canonical
address)? ``posman multicall deploy --rpc-url URL --from 0xADDR --key-env VAR`` (or ``--keystore FILE
--password-env VAR``): deploys Multicall3 from its canonical creation code (viem's ``multicall3Bytecode``,
kept in ``manager/data/addresses.json`` by ``manager.data.gen_addresses``), after simulating the creation
(``eth_call`` + ``eth_estimateGas``), then checks the deployed code answers ``getBlockNumber()`` and prints
the two config lines to use. The key comes from the environment or a keystore, never from the command line.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

GET_BLOCK_NUMBER = "0x42cbb15c"  # Multicall3.getBlockNumber()


def register(sub: Any) -> None:
    p = sub.add_parser("multicall", help="check for, or deploy, Multicall3 on a chain that has none")
    msub = p.add_subparsers(dest="multicall_command", metavar="ACTION", required=True)
    c = msub.add_parser("check", help="is there a working Multicall3 at the address (default: canonical)?")
    c.add_argument("--rpc-url", required=True, help="JSON-RPC endpoint")
    c.add_argument("--address", default=None, help="contract to check (default: the canonical Multicall3 address)")
    c.set_defaults(func=run_check)
    d = msub.add_parser("deploy", help="deploy Multicall3 (simulated first) and print the config lines")
    d.add_argument("--rpc-url", required=True, help="JSON-RPC endpoint")
    d.add_argument("--from", dest="sender", required=True, help="address of the deploying account")
    d.add_argument("--key-env", default=None, help="environment variable holding its private key")
    d.add_argument("--keystore", default=None, help="encrypted JSON keystore of the account (with --password-env)")
    d.add_argument("--password-env", default=None, help="environment variable holding the keystore password")
    d.add_argument("--max-fee-gwei", type=float, default=300.0, help="refuse to pay more per gas (default 300)")
    d.add_argument("--json", action="store_true", help="print {address, tx_hash, block, gas_used} as JSON")
    d.set_defaults(func=run_deploy)


def _w3(url: str) -> Any:
    from web3 import Web3

    from manager.errors import ConfigError

    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--rpc-url must start with http:// or https://, got {url[:40]!r}", field="rpc_url")
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))


def answers(w3: Any, address: str) -> int | None:
    """The block number ``getBlockNumber()`` of the Multicall3 at ``address`` returns, or None when it does not."""
    try:
        if not w3.eth.get_code(address):
            return None
        out = w3.eth.call({"to": address, "data": GET_BLOCK_NUMBER})
        return int.from_bytes(out, "big") if len(out) == 32 else None
    except Exception:
        return None


def run_check(args: argparse.Namespace) -> int:
    from eth_utils import to_checksum_address

    from manager.config.types import MULTICALL3_ADDRESS
    from manager.errors import ChainError

    w3 = _w3(args.rpc_url)
    address = to_checksum_address(args.address or MULTICALL3_ADDRESS)
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:
        raise ChainError(f"the node at --rpc-url does not answer: {type(exc).__name__}") from None
    block = answers(w3, address)
    if block is None:
        print(f"chain {chain_id}: no working Multicall3 at {address}; deploy one with "
              "'posman multicall deploy --rpc-url URL --from 0xADDR --key-env VAR'")
        return 1
    print(f"chain {chain_id}: Multicall3 at {address} answers (block {block})")
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    from eth_utils import to_checksum_address

    from manager.config.schema import SignerConfig
    from manager.config.types import MULTICALL3_ADDRESS
    from manager.data import load_table
    from manager.errors import ChainError, ConfigError, SimulationFailed
    from manager.execution.signer import Signer

    if (args.key_env is None) == (args.keystore is None):
        raise ConfigError("give exactly one of --key-env VAR or --keystore FILE (with --password-env VAR)")
    sender = to_checksum_address(args.sender)
    signer = Signer.from_config(SignerConfig.model_validate(
        {"address": sender, "key_env": args.key_env, "keystore": args.keystore, "password_env": args.password_env}))
    code = bytes.fromhex(load_table()["multicall3_creation_code"][2:])
    w3 = _w3(args.rpc_url)
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        raise ChainError(f"the node at --rpc-url does not answer: {type(exc).__name__}") from None
    if answers(w3, MULTICALL3_ADDRESS) is not None:
        print(f"chain {chain_id} already has Multicall3 at {MULTICALL3_ADDRESS}; nothing deployed")
        return 0
    call = {"from": sender, "data": "0x" + code.hex()}
    try:  # simulate the creation before signing anything
        runtime = bytes(w3.eth.call(call))
        gas = int(w3.eth.estimate_gas(call))
    except Exception as exc:
        raise SimulationFailed(f"Multicall3 creation does not simulate on chain {chain_id}: "
                               f"{' '.join(str(exc).split())[:200]}") from None
    if not runtime:
        raise SimulationFailed("Multicall3 creation simulated to empty code; nothing sent")
    latest = w3.eth.get_block("latest")
    base = int(latest.get("baseFeePerGas") or 0)
    prio = int(w3.eth.max_priority_fee) if base else 0
    max_fee = 2 * base + prio if base else int(w3.eth.gas_price)
    if max_fee > args.max_fee_gwei * 1e9:
        raise ConfigError(f"gas price {max_fee / 1e9:.2f} gwei exceeds --max-fee-gwei {args.max_fee_gwei:g}")
    tx: dict[str, Any] = {"chainId": chain_id, "nonce": int(w3.eth.get_transaction_count(sender, "pending")),
                          "gas": gas * 6 // 5, "data": "0x" + code.hex(), "value": 0}
    if base:
        tx.update(type=2, maxFeePerGas=max_fee, maxPriorityFeePerGas=prio)
    else:
        tx["gasPrice"] = max_fee
    raw, tx_hash = signer.sign_transaction(tx)
    w3.eth.send_raw_transaction(raw)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=180, poll_latency=0.5)
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise ChainError(f"Multicall3 creation {tx_hash} reverted in block {receipt['blockNumber']}")
    address = to_checksum_address(receipt["contractAddress"])
    deadline = time.monotonic() + 10
    while answers(w3, address) is None and time.monotonic() < deadline:
        time.sleep(0.3)
    if bytes(w3.eth.get_code(address)) != runtime or answers(w3, address) is None:
        raise ChainError(f"the contract at {address} is not the simulated Multicall3 (tx {tx_hash})")
    out = {"chain_id": chain_id, "address": address, "tx_hash": tx_hash, "block": receipt["blockNumber"],
           "gas_used": receipt["gasUsed"]}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"Multicall3 deployed on chain {chain_id} at {address} (tx {tx_hash}, block {receipt['blockNumber']}, "
          f"gas {receipt['gasUsed']:,}); it answers getBlockNumber().")
    print("Put these lines in your config's [chains.NAME]:")
    print(f'multicall = "{address}"')
    print('multicall_kind = "multicall3"')
    return 0
