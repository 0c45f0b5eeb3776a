"""Conformance fixtures: a chain client on the session devnet (tests/conftest.py gives ``devnet``/``chain``)."""

from __future__ import annotations

import pytest

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig


@pytest.fixture(scope="session")
def client(devnet) -> ChainClient:
    cfg = ChainConfig(chain_id=31337, rpc_urls=[devnet.url], multicall=devnet.book["multicall"],
                      multicall_kind="uniswap_interface")
    return ChainClient("devnet", cfg).connect()
