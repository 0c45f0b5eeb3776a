"""Morpho Blue test helpers on the session devnet (real ``Morpho.sol`` compiled from the npm sources)."""

from __future__ import annotations

from typing import Any

import pytest

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.devnet.morpho import artifacts, market_params
from manager.protocols.morpho_blue.reads import PositionRef, read_snapshots
from manager.protocols.morpho_blue.types import MarketParams, MorphoPositionSnapshot


@pytest.fixture(scope="session")
def client(devnet) -> ChainClient:
    cfg = ChainConfig(chain_id=31337, rpc_urls=[devnet.url], multicall=devnet.book["multicall"],
                      multicall_kind="uniswap_interface")
    return ChainClient("devnet", cfg).connect()


def morpho_contract(devnet) -> Any:
    return devnet.w3.eth.contract(address=devnet.book["morpho"]["morpho"], abi=artifacts()["Morpho"]["abi"])


def params_of(devnet, key: str) -> MarketParams:
    loan, coll, oracle, irm, lltv = market_params(devnet.book["morpho"], key)
    return MarketParams(loan_token=loan, collateral_token=coll, oracle=oracle, irm=irm, lltv_wad=lltv)


def read_one(devnet, client, account: str, key: str, block: int | None = None) -> MorphoPositionSnapshot:
    block = devnet.w3.eth.block_number if block is None else block
    mid = devnet.book["morpho"]["markets"][key]["id"]
    snaps, errors = read_snapshots(client, devnet.book["morpho"]["morpho"], [PositionRef(key, account, mid)], block)
    assert not errors, errors
    return snaps[0]
