"""Fixtures for the executor tests: one real anvil per module, snapshot/revert per test, a fresh random
key (funded) whose hex the leak tests search for, a deployed MintableERC20 and a temp SQLite repository."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from manager.devnet.anvil import ROOT, Anvil
from manager.execution.signer import Signer
from tests.support.clock import FakeClock

MINTABLE_ERC20 = (
    ROOT / "node_modules/@aave/core-v3/artifacts/contracts/mocks/tokens/MintableERC20.sol/MintableERC20.json"
)
KEY_ENV = "POSMAN_TEST_EXEC_KEY"


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    node = Anvil.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def w3(anvil):
    from web3 import Web3

    return Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="module")
def account(anvil):
    """A fresh key, funded with 100 ETH; its hex is what the leak tests search for."""
    from eth_account import Account

    acct = Account.create()
    anvil.call("anvil_setBalance", [acct.address, hex(100 * 10**18)])
    return acct


@pytest.fixture(scope="module")
def token(anvil, w3, account):
    """A MintableERC20 (aave-v3-core mock) with 1000 tokens minted to ``account``."""
    artifact = json.loads(MINTABLE_ERC20.read_text())
    deployer = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor("Test", "TST", 18).transact({"from": deployer}))
    contract = w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"])
    anvil.call("anvil_impersonateAccount", [account.address])
    w3.eth.wait_for_transaction_receipt(contract.functions.mint(1000 * 10**18).transact({"from": account.address}))
    anvil.call("anvil_stopImpersonatingAccount", [account.address])
    return contract


@pytest.fixture(autouse=True)
def chain_snapshot(request) -> Iterator[None]:
    """evm_snapshot before and evm_revert after every test that uses the chain."""
    if "anvil" not in request.fixturenames:
        yield
        return
    node = request.getfixturevalue("anvil")
    snap = node.call("evm_snapshot")
    yield
    node.call("evm_revert", [snap])
    node.call("evm_setAutomine", [True])  # NOTE: not evm_setIntervalMining 0: that turns mining off


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "state" / "posman.sqlite"


@pytest.fixture
def repo(db_path, clock):
    from manager.persistence import Database, Repository

    db = Database(f"sqlite:///{db_path}", clock=clock)
    yield Repository(db, clock=clock)
    db.dispose()


@pytest.fixture
def signer(account, monkeypatch):
    """The funded test account's key as the executor's signer, read from ``KEY_ENV`` like a user's key."""
    monkeypatch.setenv(KEY_ENV, account.key.hex())
    return Signer.from_env(key_env=KEY_ENV, expected_address=account.address)
