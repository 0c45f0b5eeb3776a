"""ChainClient under RPC faults (issue 15): a backup URL on another chain stops the start (one line); found
later it is dropped, never a stop; malformed answers and -32603 are retried on the other URL; a lagging URL
is not trusted for the head; every URL is scored."""

from __future__ import annotations

import time

import pytest

from manager.errors import ChainError, RpcError
from tests.support.faultproxy import FaultProxy

from .conftest import Devnet, Proxy


def test_backup_url_on_another_chain_stops_the_start(devnet: Devnet, proxy: Proxy):
    proxy.chain_id_hex = hex(10)
    client = devnet.client(rpc_urls=[devnet.url, proxy.url], max_retries=0)
    with pytest.raises(ChainError, match=r"has chain id 10, config expects 31337"):
        client.connect()


def test_backup_found_on_another_chain_later_is_dropped_not_fatal(devnet: Devnet, proxy: Proxy):
    proxy.fail_with = [503]  # down at start: its chain id cannot be checked then
    client = devnet.client(rpc_urls=[devnet.url, proxy.url], max_retries=0)
    client.connect()
    proxy.chain_id_hex = hex(10)
    client._active = 1  # pretend the primary failed over to the backup
    assert client.block_number() == devnet.block_number()  # served by the primary; no ChainError
    assert client.active_url == devnet.url
    assert [s["wrong_chain"] for s in client.scores()] == [False, True]
    for _ in range(3):
        client.block_number()
    assert proxy.methods().count("eth_blockNumber") == 0  # the wrong-chain URL is never asked again


@pytest.mark.parametrize("fault", ["garbage", "truncated", "rpc_error", "reset", "http5xx"])
def test_faulty_answer_is_retried_on_the_other_url(devnet: Devnet, fault: str):
    bad = FaultProxy(devnet.url, seed=1, rate=1.0, faults=(fault,))
    try:
        bad.enabled = False
        client = devnet.client(rpc_urls=[bad.url, devnet.url], max_retries=1, sleep=lambda _s: None)
        client.connect()
        bad.enabled = True
        assert client.block_number() == devnet.block_number()
        assert client.get_code(devnet.token)
        assert client.active_url == devnet.url and bad.counts[fault] >= 1
        assert client.scores()[0]["failures"] > 0
    finally:
        bad.close()


def test_one_url_answering_32603_then_recovering_is_retried(devnet: Devnet):
    flaky = FaultProxy(devnet.url, seed=3, rate=1.0, faults=("rpc_error",))
    try:
        flaky.enabled = False
        # the backoff sleep is where the node recovers: the first answer is -32603, the retry is served
        client = devnet.client(rpc_urls=[flaky.url], max_retries=3, sleep=lambda _s: setattr(flaky, "enabled", False))
        client.connect()
        flaky.enabled = True
        assert client.block_number() == devnet.block_number()  # -32603 once, then the retry answers
        flaky.enabled = True
        with pytest.raises(RpcError):  # never a ChainError / KeyError: retryable, the loop tries next tick
            devnet.client(rpc_urls=[flaky.url], max_retries=0).block_number()
    finally:
        flaky.close()


def test_lagging_url_is_not_trusted_for_the_head(devnet: Devnet):
    lag = FaultProxy(devnet.url, seed=1, rate=1.0, faults=("lag",), lag_blocks=5)
    try:
        devnet.mine(6)
        lag.enabled = False
        client = devnet.client(rpc_urls=[lag.url, devnet.url], max_retries=0)
        client.connect()
        lag.enabled = True
        number, _ts = client.head(time.time())  # the lagging URL is asked first
        assert number == devnet.block_number()
        assert client.active_url == devnet.url
        assert [s["lagging"] for s in client.scores()] == [True, False]
    finally:
        lag.close()
