"""End-to-end fixtures: a devnet with chain time = now (the manager's stale checks use the wall clock),
snapshot/revert per test, and configs written like the demo writes them."""

from __future__ import annotations

import pytest

from manager.devnet.net import Devnet


@pytest.fixture(scope="module")
def live_net():
    with Devnet.start(time_mode="now") as net:
        yield net


@pytest.fixture()
def net(live_net):
    with live_net.reverted():
        yield live_net
