"""The view's bookkeeping: RPC failures of the real client are counted per chain; a failed tick keeps the
last good numbers on show and says so (``last_tick.ok``, ``posman_last_tick_ok``)."""

from __future__ import annotations

import logging
import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.errors import RpcError
from manager.runtime.loop import TickReport
from manager.web.state import RpcErrorCounter
from tests.web.conftest import get_json, get_text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rpc_failures_are_counted_per_chain():
    counter = RpcErrorCounter()
    chain_log = logging.getLogger("posman.chain")
    chain_log.addHandler(counter)
    try:
        urls = [f"http://127.0.0.1:{_closed_port()}", f"http://127.0.0.1:{_closed_port()}"]
        client = ChainClient("mainnet", ChainConfig(chain_id=1, rpc_urls=urls, max_retries=1), sleep=lambda s: None)
        with pytest.raises(RpcError):
            client.block_number()
    finally:
        chain_log.removeHandler(counter)
    assert counter.snapshot() == {("mainnet", "failed"): 4}  # 2 URLs x (1 try + 1 retry)


def test_a_failed_tick_keeps_the_last_numbers(served):
    _net, _cfg, manager, web = served
    good = manager.runtime.tick()
    web.state.observe(TickReport(block_number=None, ok=False, error="read failed: connection refused"))
    _s, health = get_json(web.url + "api/health")
    assert health["last_tick"]["ok"] is False and health["last_tick"]["error"] == "read failed: connection refused"
    assert health["last_block"] is not None and health["ticks_failed"] == 1
    _s, body = get_json(web.url + "api/positions")
    assert {p["block_number"] for p in body["positions"]} == {good.block_number}
    _s, _c, text = get_text(web.url + "metrics")
    fam = {f.name: f.samples for f in text_string_to_metric_families(text)}
    assert [s.value for s in fam["posman_last_tick_ok"]] == [0.0]
    failed = [s.value for s in fam["posman_ticks"] if s.labels.get("result") == "failed" and s.name.endswith("_total")]
    assert failed == [1.0]


def test_a_taken_port_is_one_line(served):
    _net, _cfg, manager, web = served
    from manager.errors import ConfigError
    from manager.web import start_web

    observers = list(manager.runtime.observers)
    with pytest.raises(ConfigError, match=rf"^--http 127\.0\.0\.1:{web.port}: cannot listen there: "):
        start_web(manager, f"127.0.0.1:{web.port}")
    assert manager.runtime.observers == observers  # nothing half-attached
