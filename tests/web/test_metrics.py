"""``posman run --http``'s ``/metrics`` on the devnet, as Prometheus reads it: the text parses with
prometheus_client's own parser, and every configured position has a health gauge equal to what
``posman status --block N`` prints for the same block."""

from __future__ import annotations

import json
import math

from prometheus_client.parser import text_string_to_metric_families

from manager.config import load_config
from tests.cli_helpers import posman
from tests.web.conftest import get_json, get_text, running_manager, seeded_config, wait_until


def _families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_metrics_health_equals_posman_status(web_net, tmp_path):
    cfg = seeded_config(web_net, tmp_path)
    names = [p.name for p in load_config(cfg).positions]
    with running_manager(cfg) as url:
        wait_until(lambda: get_json(url + "api/health")[1].get("ticks_ok", 0) >= 1, what="a first tick")
        web_net.set_price("WETH", 2700)  # the manager ticks on the new block: the gauges move
        block = wait_until(lambda: (lambda h: h["last_block"] if h["last_block"] and h["last_block"] >= web_net.w3.eth.block_number else None)(
            get_json(url + "api/health")[1]), what="the tick of the price move's block")
        status, ctype, text = get_text(url + "metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    fam = _families(text)
    health = {s.labels["position"]: s.value for s in fam["posman_position_health"]}
    blocks = {s.labels["position"]: s.value for s in fam["posman_position_block"]}
    assert sorted(health) == sorted(names)  # a gauge for every configured position
    assert set(blocks.values()) == {float(block)}

    rows = json.loads(posman("status", "--config", str(cfg), "--json", "--block", str(block)).stdout)
    assert sorted(r["name"] for r in rows) == sorted(names)
    for row in rows:
        expected = math.inf if row["health_factor"] is None else row["health_factor"]
        assert health[row["name"]] == expected, row["name"]  # exactly: same block, same math
    coll = {s.labels["position"]: s.value for s in fam["posman_position_collateral_usd"]}
    debt = {s.labels["position"]: s.value for s in fam["posman_position_debt_usd"]}
    dist = {s.labels["position"]: s.value for s in fam["posman_position_distance_to_liquidation_pct"]}
    for row in rows:
        assert coll[row["name"]] == row["collateral_usd"] and debt[row["name"]] == row["debt_usd"]
        if row["distance_to_liquidation_pct"] is not None:
            assert dist[row["name"]] == row["distance_to_liquidation_pct"]
    liq = {(s.labels["position"], s.labels["asset"]): s.value for s in fam["posman_position_liquidation_price_usd"]}
    carol = next(r for r in rows if r["name"] == "carol")
    for asset, price in carol["liquidation_prices"].items():
        assert liq[("carol", asset)] == price

    # the runtime's own numbers: ticks, the histogram, head lag, feeds (WETH moved), alerts by kind
    ok = next(s.value for s in fam["posman_ticks"] if s.name == "posman_ticks_total" and s.labels["result"] == "ok")
    count = next(s.value for s in fam["posman_tick_duration_seconds"] if s.name.endswith("_count"))
    failed = next(s.value for s in fam["posman_ticks"] if s.name == "posman_ticks_total" and s.labels["result"] == "failed")
    assert ok >= 2 and count == ok + failed  # the histogram times failed ticks too
    assert "posman_head_lag_blocks" in fam and "posman_rpc_errors" in fam
    weth = {s.name: s.value for k in ("posman_oracle_price_usd", "posman_oracle_stale") for s in fam[k]
            if s.labels["symbol"] == "WETH"}
    assert weth == {"posman_oracle_price_usd": 2700.0, "posman_oracle_stale": 0.0}
    kinds = {s.labels["kind"] for s in fam["posman_alerts"]}
    assert "health_warning" in kinds  # carol (1.19) and dave (1.15) sit below the 1.3 warning band
