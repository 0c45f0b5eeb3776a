"""Regression: RPC URLs that refuse requests (HTTP 401/403/404) never stop the running manager.

A URL whose key is revoked while the manager runs must cost a skipped tick at most: the head poll fails
over to the next URL, and when every URL refuses, the scheduler logs the failure and polls again (the
error is an ``RpcError``, retryable; before the fix it was a ``ChainError`` that stopped the process).
Real anvil behind loopback proxies (``tests/chain/conftest.Proxy``).
"""

from __future__ import annotations

import time
import types
from collections.abc import Iterator

import pytest

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.devnet.anvil import Anvil
from manager.runtime.scheduler import ManagerScheduler
from tests.chain.conftest import Proxy


class CountingRuntime:
    """The scheduler's view of a runtime: counts ticks and the blocks they ran at."""

    def __init__(self, client: ChainClient) -> None:
        self.client = client
        self.blocks: list[int] = []
        self.last_processed_block: int | None = None
        self.last_tick = None
        self.alerting = types.SimpleNamespace(emit=lambda *a, **k: None)

    @property
    def ticks(self) -> int:
        return len(self.blocks)

    def tick(self, block: int | None = None) -> types.SimpleNamespace:
        number = self.client.block_number()
        self.blocks.append(number)
        self.last_processed_block = number
        return types.SimpleNamespace(ok=True, block_number=number)


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    with Anvil.start() as n:
        yield n


def _wait(cond, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_refusing_urls_do_not_stop_the_scheduler(node: Anvil, caplog):
    first, second = Proxy(node.url), Proxy(node.url)
    cfg = ChainConfig(chain_id=31337, rpc_urls=[first.url, second.url], max_retries=1, request_timeout_s=5)
    client = ChainClient("devnet", cfg, sleep=lambda s: None).connect()
    runtime = CountingRuntime(client)
    sched = ManagerScheduler(runtime, client.block_number, poll_interval_s=0.05, heartbeat_s=60)
    first.fail_with = [403] * 10_000  # the first URL's key is revoked: fail over to the second
    sched.start()
    try:
        assert _wait(lambda: runtime.ticks >= 1)
        assert not sched.stopped.is_set() and client.active_url == second.url
        second.fail_with = [401] * 10_000  # now every URL refuses: polls fail, the process stays up
        seen = len(second.requests)
        assert _wait(lambda: len(second.requests) >= seen + 3)
        assert not sched.stopped.is_set() and sched.fatal is None
        ticks = runtime.ticks
        node.call("anvil_mine", ["0x1"])
        time.sleep(0.2)
        assert runtime.ticks == ticks  # no head, no tick
        first.fail_with.clear()  # a URL works again: the next poll ticks at the new head
        assert _wait(lambda: runtime.ticks > ticks)
        assert runtime.blocks[-1] == int(node.call("eth_blockNumber"), 16)
        assert not sched.stopped.is_set()
    finally:
        sched.shutdown()
        first.close()
        second.close()
    assert any("event=head_failed" in r.getMessage() and "RpcError" in r.getMessage() for r in caplog.records)
