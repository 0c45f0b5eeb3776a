"""Fixtures for the Synthetix PerpsV2 tests on the devnet's real contracts (snapshot/revert per test)."""

from __future__ import annotations

from typing import Any

import pytest

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.devnet.synthetix import b32
from manager.execution.types import TxStep
from manager.protocols.synthetix_perps.reads import PerpsV2Addresses, read_perps

WAD = 10**18


@pytest.fixture(scope="module")
def client(devnet):
    cfg = ChainConfig(chain_id=31337, rpc_urls=[devnet.url], multicall=devnet.book["multicall"],
                      multicall_kind="uniswap_interface")
    return ChainClient("devnet", cfg).connect()


def rpc(net, method: str, params: list[Any]) -> Any:
    return net.node.call(method, params)


def send_steps(net, sender: str, steps: tuple[TxStep, ...] | list[TxStep]) -> list[dict]:
    """Send unsigned steps from an unlocked devnet account (what the executor would sign); check receipts."""
    out = []
    for st in steps:
        tx_hash = net.w3.eth.send_transaction({"from": sender, "to": st.to, "data": st.data,
                                               "value": st.value_wei, "gas": 3_000_000})
        receipt = net.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
        assert receipt["status"] == 1, f"step {st.label} reverted"
        out.append(receipt)
    return out


def issue_susd(net, to: str, amount_wad: int) -> None:
    """Mint sUSD through the real ``Synth.issue`` from the account the resolver names as Issuer."""
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector

    snx = net.book["synthetix"]
    data = function_signature_to_4byte_selector("issue(address,uint256)") + encode(["address", "uint256"],
                                                                                   [to, amount_wad])
    tx = net.w3.eth.send_transaction({"from": snx["issuer"], "to": snx["susd_synth"], "data": "0x" + data.hex(),
                                      "gas": 500_000})
    assert net.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def read(net, client, market: str, names: list[str], block: int | None = None):
    a = PerpsV2Addresses.from_book(net.book["synthetix"], market)
    blk = net.w3.eth.block_number if block is None else block
    snaps, rep = read_perps(client, a, [net.address(n) for n in names], blk,
                            market_key=net.book["synthetix"]["markets"][market]["market_key"], names=names)
    return snaps, rep


def set_feed_at(net, symbol: str, answer: int, timestamp_s: int) -> int:
    """Update the Chainlink feed in a block stamped ``timestamp_s``; returns that block number."""
    rpc(net, "evm_setNextBlockTimestamp", [timestamp_s])
    receipt = net.transact(net.feed(symbol).functions.updateAnswer(answer))
    return int(receipt["blockNumber"])


__all__ = ["WAD", "b32", "issue_susd", "read", "rpc", "send_steps", "set_feed_at"]
