"""ChainClient on a real anvil: chain id check, failover, retry/backoff, timeouts, stale head, code checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from manager.chain.client import ChainClient, RpcResponseError
from manager.config.schema import ChainConfig
from manager.devnet.anvil import free_port
from manager.errors import ChainError, RpcError, StaleHeadError

from .conftest import ALICE, Devnet, Proxy


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused


def test_connect_and_basic_reads(devnet: Devnet):
    client = devnet.client().connect()
    assert client.block_number() == devnet.block_number()
    assert client.w3.eth.chain_id == 31337  # web3 routed through the client
    assert client.get_code(devnet.token)


def test_wrong_chain_id_is_a_chain_error(devnet: Devnet):
    client = devnet.client(chain_id=1)
    with pytest.raises(ChainError) as info:
        client.connect()
    assert str(info.value) == f"chain 'devnet' at {devnet.url} has chain id 31337, config expects 1"
    assert info.value.chain_id == 31337 and info.value.expected == 1


def test_backup_url_on_another_chain_is_refused(devnet: Devnet, proxy: Proxy):
    proxy.chain_id_hex = hex(1)
    client = devnet.client(rpc_urls=[dead_url(), proxy.url], max_retries=0)
    with pytest.raises(ChainError, match=r"has chain id 1, config expects 31337"):
        client.connect()


def test_failover_first_url_dead_second_alive(devnet: Devnet):
    sleeps: list[float] = []
    first = dead_url()
    client = devnet.client(rpc_urls=[first, devnet.url], max_retries=3, sleep=sleeps.append)
    client.connect()
    assert client.active_url == devnet.url
    assert sleeps == []  # failover within a round: no backoff needed
    assert client.block_number() == devnet.block_number()


def test_failover_remembers_the_healthy_url(devnet: Devnet, proxy: Proxy):
    proxy.fail_with = [500] * 100  # the first URL is broken for good
    client = devnet.client(rpc_urls=[proxy.url, devnet.url], max_retries=2)
    client.connect()
    seen = len(proxy.requests)
    assert seen == 1 and client.active_url == devnet.url
    for _ in range(3):
        client.block_number()
    assert len(proxy.requests) == seen  # later requests go straight to the healthy URL


def test_retry_with_backoff_on_429_and_500(devnet: Devnet, proxy: Proxy):
    sleeps: list[float] = []
    client = devnet.client(rpc_urls=[proxy.url], max_retries=3, sleep=sleeps.append)
    client.connect()
    proxy.fail_with = [429, 500, 503]
    proxy.requests.clear()
    assert client.block_number() == devnet.block_number()
    assert proxy.methods() == ["eth_blockNumber"] * 4
    assert len(sleeps) == 3
    for i, s in enumerate(sleeps):  # exponential, jittered within [50 %, 100 %] of the step
        step = min(client.backoff_max_s, client.backoff_base_s * 2**i)
        assert step * 0.5 <= s <= step
    assert sleeps[2] > sleeps[0]


def test_retries_are_bounded_and_end_in_rpc_error(devnet: Devnet, proxy: Proxy):
    sleeps: list[float] = []
    client = devnet.client(rpc_urls=[proxy.url], max_retries=2, sleep=sleeps.append)
    client.connect()
    proxy.fail_with = [429] * 10
    with pytest.raises(RpcError) as info:
        client.block_number()
    assert "eth_blockNumber failed 3 times on every RPC URL" in str(info.value)
    assert "HTTP 429" in str(info.value)
    assert len(sleeps) == 2
    assert len(proxy.fail_with) == 7  # exactly 3 attempts


def test_backoff_is_capped():
    cfg = ChainConfig(chain_id=1, rpc_urls=["http://127.0.0.1:1"])
    client = ChainClient("x", cfg, rng=lambda: 1.0, backoff_base_s=0.2, backoff_max_s=5.0)
    assert [client.backoff_s(i) for i in (0, 1, 2, 10, 50)] == [0.2, 0.4, 0.8, 5.0, 5.0]
    low = ChainClient("x", cfg, rng=lambda: 0.0)
    assert low.backoff_s(0) == pytest.approx(0.1)


def test_timeout_is_transient(devnet: Devnet, proxy: Proxy):
    client = devnet.client(rpc_urls=[proxy.url], max_retries=0, request_timeout_s=0.2)
    client.connect()
    proxy.delay_s = 1.0
    with pytest.raises(RpcError, match=r"timeout after 0.2 s"):
        client.block_number()


def forbidding(status: int = 403) -> Proxy:
    """A loopback JSON-RPC URL that refuses every request with ``status`` (a wrong path or API key)."""
    p = Proxy(None)
    p.fail_with = [status] * 1000
    return p


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refusing_first_url_fails_over_to_the_next(devnet: Devnet, status: int):
    # regression: a 401/403/404 on one URL used to be a ChainError (stop) without trying the other URLs
    bad = forbidding(status)
    try:
        sleeps: list[float] = []
        client = devnet.client(rpc_urls=[bad.url, devnet.url], max_retries=3, sleep=sleeps.append)
        client.connect()
        assert client.active_url == devnet.url and sleeps == []
        assert len(bad.requests) == 1  # refused once, never retried
        assert client.block_number() == devnet.block_number()
        assert client.w3.eth.chain_id == 31337
        assert len(bad.requests) == 1  # later requests go straight to the healthy URL
    finally:
        bad.close()


def test_refusing_url_mid_run_fails_over_without_stopping(devnet: Devnet, proxy: Proxy):
    client = devnet.client(rpc_urls=[proxy.url, devnet.url], max_retries=2)
    client.connect()
    assert client.active_url == proxy.url
    proxy.fail_with = [403] * 100  # the key of the first URL was revoked while running
    assert client.block_number() == devnet.block_number()
    assert client.active_url == devnet.url
    assert len(proxy.fail_with) == 99


def test_every_url_refusing_at_connect_is_one_chain_error_naming_each(devnet: Devnet):
    first, second = forbidding(403), forbidding(401)
    try:
        sleeps: list[float] = []
        key_url = second.url.replace("http://", "http://user:s3cret@") + "/v2/APIKEY"
        client = devnet.client(rpc_urls=[first.url, key_url], max_retries=3, sleep=sleeps.append)
        with pytest.raises(ChainError) as info:
            client.connect()
        msg = str(info.value)
        assert msg.startswith(f"chain 'devnet' is unreachable at every RPC URL ({first.url}, http://***@127.0.0.1:")
        assert f"{first.url}: HTTP 403, check the URL and its access key" in msg
        assert "HTTP 401, check the URL and its access key" in msg
        assert "s3cret" not in msg and "APIKEY" not in msg and "\n" not in msg
        assert sleeps == []  # no backoff: retrying a refusal cannot help
        assert len(first.requests) == 1 and len(second.requests) == 1
    finally:
        first.close()
        second.close()


def test_every_url_refusing_at_run_time_is_retryable_not_stop(devnet: Devnet, proxy: Proxy):
    from manager.errors import RetryableError, StopError

    other = Proxy(devnet.url)
    try:
        client = devnet.client(rpc_urls=[proxy.url, other.url], max_retries=2)
        client.connect()
        proxy.fail_with, other.fail_with = [403] * 100, [404] * 100
        with pytest.raises(RpcError) as info:
            client.block_number()
        err = info.value
        assert isinstance(err, RetryableError) and not isinstance(err, StopError)
        assert "eth_blockNumber failed 2 times on every RPC URL" in str(err)
        assert "HTTP 403" in str(err) and "HTTP 404" in str(err)
        proxy.fail_with.clear()  # the URL works again: the next request (next tick) succeeds
        assert client.block_number() == devnet.block_number()
    finally:
        other.close()


def test_refusal_and_transient_failure_mixed_end_in_rpc_error(devnet: Devnet, proxy: Proxy):
    sleeps: list[float] = []
    client = devnet.client(rpc_urls=[proxy.url, dead_url()], max_retries=2, sleep=sleeps.append)
    client.connect()
    proxy.fail_with = [403] * 100
    with pytest.raises(RpcError, match=r"failed 4 times on every RPC URL"):
        client.block_number()
    assert len(proxy.fail_with) == 99  # the refusing URL was asked once; the dead one each round
    assert len(sleeps) == 2


def test_unreachable_everywhere_names_masked_urls():
    a, b = dead_url(), dead_url().replace("http://", "http://user:s3cret@") + "/v2/APIKEY"
    cfg = ChainConfig(chain_id=31337, rpc_urls=[a, b], max_retries=1)
    with pytest.raises(ChainError) as info:
        ChainClient("devnet", cfg, sleep=lambda s: None).connect()
    msg = str(info.value)
    assert msg.startswith(f"chain 'devnet' is unreachable at every RPC URL ({a}, http://***@127.0.0.1:")
    assert "s3cret" not in msg and "APIKEY" not in msg and "\n" not in msg
    assert "connection failed" in msg


def test_stale_head_with_injected_clock(devnet: Devnet):
    client = devnet.client(max_head_age_s=120).connect()
    number, ts = client.head(now_s=0)  # a clock far in the past: never stale
    assert number == devnet.block_number()
    assert client.head(now_s=ts + 120) == (number, ts)
    with pytest.raises(StaleHeadError) as info:
        client.head(now_s=ts + 121)
    err = info.value
    assert str(err).startswith(f"chain 'devnet' head block {number} is 121 s old (max_head_age_s = 120)")
    assert err.block_number == number and err.timestamp_s == ts and err.age_s == 121
    devnet.rpc("evm_mine", [ts + 1000])  # a fresh head makes the same clock fine again
    assert client.head(now_s=ts + 1001) == (number + 1, ts + 1000)


def test_require_contract(devnet: Devnet):
    client = devnet.client().connect()
    client.require_contract(devnet.token, "token")
    with pytest.raises(ChainError) as info:
        client.require_contract(ALICE, "Aave PoolAddressesProvider")
    assert str(info.value) == (f"Aave PoolAddressesProvider {ALICE} on chain 'devnet' is not a contract "
                               "(no code at block latest)")
    # a contract deployed later has no code at an earlier block
    with pytest.raises(ChainError, match="no code at block 0"):
        client.require_contract(devnet.token, "token", block=0)


def test_json_rpc_error_is_not_retried(devnet: Devnet, proxy: Proxy):
    client = devnet.client(rpc_urls=[proxy.url], max_retries=3)
    client.connect()
    proxy.requests.clear()
    with pytest.raises(RpcResponseError, match=r"eth_nope failed on chain 'devnet'"):
        client.request("eth_nope")
    assert len(proxy.requests) == 1


def test_batch_returns_responses_in_order(devnet: Devnet):
    client = devnet.client().connect()
    out = client.batch([("eth_chainId", []), ("eth_blockNumber", []), ("eth_nope", [])])
    assert out[0]["result"] == hex(31337)
    assert int(out[1]["result"], 16) == devnet.block_number()
    assert "error" in out[2]


def test_importing_the_client_does_not_import_web3():
    code = "import sys, manager.chain.client, manager.chain.multicall; print('web3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_third_party_debug_logs_are_masked(devnet: Devnet, proxy: Proxy, caplog):
    import logging

    url = proxy.url.replace("http://", "http://user:s3cret@") + "/v2/APIKEY"
    client = devnet.client(url)
    with caplog.at_level(logging.DEBUG):
        client.connect()
        client.block_number()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cret" not in text and "APIKEY" not in text
    assert any("***" in r.getMessage() for r in caplog.records)
