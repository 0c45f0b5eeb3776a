"""Addresses that must be contracts are checked to have code and to answer as what they claim (issue 15:
a pool addresses provider that is an account, another contract or zero was an internal error; a missing
multicall was blamed on the pool addresses provider; a perps market or swap router without code was accepted)."""

from __future__ import annotations

import re

import pytest

from manager.devnet.cli import render_config
from tests.hardening.support import cli, one_line

EOA = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture(scope="module")
def base(devnet, tmp_path_factory):
    d = tmp_path_factory.mktemp("contracts")
    return render_config(devnet.info(), d), d


def _with(text: str, key: str, value: str) -> tuple[str, int]:
    """``text`` with the first ``key = ...`` replaced by ``value``; and that line's number."""
    m = re.search(rf'^{key} = "0x[0-9a-fA-F]+"$', text, flags=re.M)
    assert m, key
    line = text[: m.start()].count("\n") + 1
    return text[: m.start()] + f'{key} = "{value}"' + text[m.end():], line


CASES = [
    ("multicall", lambda b: EOA, "is not a contract", "multicall"),
    ("multicall", lambda b: b["aave"]["pool"], "getCurrentBlockTimestamp() reverted", "multicall"),
    ("pool_addresses_provider", lambda b: EOA, "is not a contract", "PoolAddressesProvider"),
    ("pool_addresses_provider", lambda b: b["tokens"]["USDC"], "getPool() reverted", "PoolAddressesProvider"),
    ("pool_addresses_provider", lambda b: "0x" + "0" * 40, "is not a contract", "PoolAddressesProvider"),
    ("swap_router", lambda b: EOA, "is not a contract", "SwapRouter"),
    ("swap_router", lambda b: b["tokens"]["USDC"], "factory() reverted", "SwapRouter"),
    ("quoter", lambda b: b["aave"]["pool"], "factory() reverted", "QuoterV2"),
    ("market", lambda b: EOA, "is not a contract", "PerpsV2 market"),
    ("market", lambda b: b["tokens"]["USDC"], "marketKey() reverted", "PerpsV2 market"),
]


@pytest.mark.parametrize("key,value,expected,what", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_contract_address_is_one_located_line(devnet, base, key, value, expected, what):
    text, d = base
    address = value(devnet.book)
    bad, line = _with(text, key, address)
    path = d / f"bad-{key}.toml"
    path.write_text(bad)
    rc, _out, err = cli("status", "--config", str(path))
    msg = one_line(rc, err)
    assert msg.startswith(f"error: {path}:{line}: ") and expected in msg and what in msg, msg
    assert address.lower() in msg.lower()
