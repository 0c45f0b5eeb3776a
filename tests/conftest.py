"""Shared fixtures: one devnet (anvil + real Aave V3 / Uniswap V3) per test session, snapshot/revert per test.

``devnet`` is session-scoped: the cached chain state is loaded once (about 0.1 s). Tests that change
chain state use the function-scoped ``chain`` fixture, which takes an ``evm_snapshot`` before the test
and reverts after it, so every test starts from the same seeded state.
"""

from __future__ import annotations

import pytest

from manager.devnet.net import Devnet


@pytest.fixture(scope="session")
def devnet():
    with Devnet.start(time_mode="continue") as net:
        yield net


@pytest.fixture()
def chain(devnet):
    with devnet.reverted():
        yield devnet
