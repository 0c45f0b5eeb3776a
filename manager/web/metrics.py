"""``/metrics``: the manager's state in the Prometheus text format (``prometheus-client``).

One registry per served manager (never the library's global one). Per-tick numbers (the duration
histogram, tick counts) are observed when a tick ends; everything else is collected at scrape time
from ``WebState`` (the last tick's reads, the database, the poller's head and receipts):

| metric | labels | meaning |
|---|---|---|
| ``posman_position_health`` | position, protocol, mode | health at the last tick (``posman status``'s ``health_factor``; ``+Inf`` without debt) |
| ``posman_position_collateral_usd`` / ``_debt_usd`` | position, protocol, mode | collateral and debt (perps: remaining margin, notional) |
| ``posman_position_distance_to_liquidation_pct`` | position, ... | % drop of every collateral price to health 1 (perps: price move) |
| ``posman_position_distance_to_trigger_pct`` | position, ... | % drop of every collateral price to the strategy's trigger |
| ``posman_position_trigger_health`` / ``_target_health`` / ``_upper_health`` | position, ... | the strategy's band (perps: ``min_health`` as trigger) |
| ``posman_position_liquidation_price_usd`` | position, asset | per collateral asset, alone, the USD price at which health reaches 1 |
| ``posman_position_trigger_price_usd`` | position, asset | per collateral asset (not also borrowed), alone, the USD price at which the trigger is hit |
| ``posman_position_last_action_block`` | position | block of the last action sent |
| ``posman_automation_distance_pct`` / ``_level_usd`` | position, automation, kind, asset | price automations: % the oracle price must move to fire (<= 0: firing), and the level |
| ``posman_position_block`` / ``_oracle_fresh`` | position | block of the reading; 0 when an oracle of the position is stale or deviating |
| ``posman_position_up`` | position | 1 when the position was read at the last tick |
| ``posman_position_margin_ratio`` / ``_trigger_margin_ratio`` / ``_target_margin_ratio`` | position | perps (``perp_margin``): margin / notional and its band |
| ``posman_tick_duration_seconds`` | (histogram) | wall time of a tick |
| ``posman_ticks_total`` | result (ok, failed) | ticks run since start |
| ``posman_last_tick_ok`` / ``posman_last_tick_age_seconds`` | | the last tick succeeded; seconds since the last successful one |
| ``posman_last_tick_block`` / ``posman_head_block`` / ``posman_head_lag_blocks`` | chain | last block processed, chain head, and the gap |
| ``posman_rpc_errors_total`` | chain, kind (failed, refused) | failed RPC attempts of the manager's clients |
| ``posman_oracle_age_seconds`` / ``_stale`` / ``_deviating`` / ``_deviation_bps`` / ``_price_usd`` | symbol | feed freshness at the last tick |
| ``posman_signer_transactions_total`` | signer, status (sent, confirmed, failed) | transactions recorded (failed: reverted or dropped) |
| ``posman_signer_gas_used_total`` / ``_gas_spent_native_total`` / ``_gas_spent_usd_total`` | signer | gas of final transactions |
| ``posman_alerts_total`` | kind, severity | alert episodes opened (database, survives restarts) |
| ``posman_alerts_open`` | kind | episodes open now |
| ``posman_dry_run`` | | 1 when nothing is sent |
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("posman.web")

TICK_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class PosmanCollector(Collector):
    """Collects the scrape-time metrics of one ``WebState`` (see the module docstring)."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        for part in (self._positions, self._runtime, self._oracles, self._signers, self._alerts):
            try:
                yield from part()
            except Exception as exc:  # one broken part never empties the whole scrape
                log.warning("event=metrics_part_failed part=%s error_type=%s error=%r", part.__name__,
                            type(exc).__name__, str(exc)[:200])

    def _positions(self) -> Iterator[Metric]:
        labels = ["position", "protocol", "mode"]
        fam = {key: GaugeMetricFamily(f"posman_position_{key}", doc, labels=labels) for key, doc in (
            ("health", "Health at the last tick (1 = liquidatable; +Inf without debt), as posman status."),
            ("collateral_usd", "Collateral in USD (perps: remaining margin)."),
            ("debt_usd", "Debt in USD (perps: notional)."),
            ("distance_to_liquidation_pct", "Percent drop of every collateral price to health 1."),
            ("distance_to_trigger_pct", "Percent drop of every collateral price to the strategy's trigger."),
            ("trigger_health", "The strategy acts below this health."),
            ("target_health", "The health an action aims at."),
            ("upper_health", "The strategy boosts above this health."),
            ("last_action_block", "Block of the last action sent for the position."),
            ("block", "Block of the position's last reading."),
            ("oracle_fresh", "1 when every oracle of the position was fresh and in line with the DEX."),
            ("up", "1 when the position was read at the last tick."),
            ("margin_ratio", "Perps: remaining margin / notional."),
            ("trigger_margin_ratio", "Perps: the strategy acts below this margin ratio."),
            ("target_margin_ratio", "Perps: the margin ratio an action aims at."),
        )}
        liq = GaugeMetricFamily("posman_position_liquidation_price_usd",
                                "Per collateral asset, alone, the USD price at which health reaches 1.",
                                labels=[*labels, "asset"])
        trig_px = GaugeMetricFamily("posman_position_trigger_price_usd",
                                    "Per collateral asset, alone, the USD price at which the strategy's trigger is hit.",
                                    labels=[*labels, "asset"])
        auto_labels = [*labels, "automation", "kind", "asset"]
        auto_dist = GaugeMetricFamily("posman_automation_distance_pct",
                                      "Price automations: % the oracle price must move to fire (<= 0: firing).",
                                      labels=auto_labels)
        auto_level = GaugeMetricFamily("posman_automation_level_usd",
                                       "Price automations: the USD price at which it fires (a trailing stop's "
                                       "moves with its peak).", labels=auto_labels)
        for p in self.state.positions():
            lv = [p["name"], p["protocol"], p["mode"]]
            for au in p.get("automations") or []:
                alv = [*lv, str(au.get("key")), str(au.get("kind")), str(au.get("asset") or "")]
                if _num(au.get("distance_pct")) is not None:
                    auto_dist.add_metric(alv, float(au["distance_pct"]))
                if _num(au.get("level_usd")) is not None:
                    auto_level.add_metric(alv, float(au["level_usd"]))
            up = p["block_number"] is not None
            fam["up"].add_metric(lv, 1.0 if up else 0.0)
            if up:
                fam["health"].add_metric(lv, math.inf if p["health"] is None else float(p["health"]))
                fam["block"].add_metric(lv, float(p["block_number"]))
                fam["oracle_fresh"].add_metric(lv, 1.0 if p["oracle_fresh"] else 0.0)
            for key in ("collateral_usd", "debt_usd", "distance_to_liquidation_pct", "distance_to_trigger_pct",
                        "last_action_block"):
                v = _num(p.get(key))
                if v is not None:
                    fam[key].add_metric(lv, v)
            band = p["band"]
            trig = next((line["health"] for line in p["health_lines"] if line["label"] == "trigger"), None)
            for key, v in (("trigger_health", trig),
                           ("target_health", band.get("target") if band["kind"] == "health" else None),
                           ("upper_health", band.get("upper") if band["kind"] == "health" else None)):
                if v is not None:
                    fam[key].add_metric(lv, float(v))
            if band["kind"] == "margin_ratio":
                for key, v in (("margin_ratio", p.get("margin_ratio")), ("trigger_margin_ratio", band.get("trigger")),
                               ("target_margin_ratio", band.get("target"))):
                    if v is not None:
                        fam[key].add_metric(lv, float(v))
            for asset, price in sorted((p.get("liquidation_prices") or {}).items()):
                if price is not None:
                    liq.add_metric([*lv, str(asset)], float(price))
            for asset, price in sorted((p.get("trigger_prices") or {}).items()):
                trig_px.add_metric([*lv, str(asset)], float(price))
        yield from fam.values()
        yield liq
        yield trig_px
        yield auto_dist
        yield auto_level

    def _runtime(self) -> Iterator[Metric]:
        st = self.state
        health = st.health()
        ticks = CounterMetricFamily("posman_ticks", "Ticks run since the manager started.", labels=["result"])
        ticks.add_metric(["ok"], float(health["ticks_ok"]))
        ticks.add_metric(["failed"], float(health["ticks_failed"]))
        yield ticks
        last = GaugeMetricFamily("posman_last_tick_block", "Block of the last successful tick.", labels=["chain"])
        head = GaugeMetricFamily("posman_head_block", "Latest block of the chain.", labels=["chain"])
        lag = GaugeMetricFamily("posman_head_lag_blocks", "Chain head minus the last block processed.",
                                labels=["chain"])
        chain = health["chain"] or ""
        if health["last_block"] is not None:
            last.add_metric([chain], float(health["last_block"]))
        for name, block in sorted(st.heads().items()):
            head.add_metric([name], float(block))
        if health["head_lag_blocks"] is not None:
            lag.add_metric([chain], float(health["head_lag_blocks"]))
        yield from (last, head, lag)
        if health["last_tick"] is not None:
            yield GaugeMetricFamily("posman_last_tick_ok", "1 when the last tick succeeded (0: the numbers are older).",
                                    value=1.0 if health["last_tick"]["ok"] else 0.0)
        if health["last_ok_age_s"] is not None:
            yield GaugeMetricFamily("posman_last_tick_age_seconds", "Seconds since the last successful tick ended.",
                                    value=float(health["last_ok_age_s"]))
        rpc = CounterMetricFamily("posman_rpc_errors", "Failed RPC attempts of the manager's clients.",
                                  labels=["chain", "kind"])
        counts = st.rpc_errors.snapshot()
        for chain_name in st.cfg.chains:
            for kind in ("failed", "refused"):
                rpc.add_metric([chain_name, kind], float(counts.get((chain_name, kind), 0)))
        yield rpc
        yield GaugeMetricFamily("posman_dry_run", "1 when the manager sends nothing.", value=1.0 if health["dry_run"] else 0.0)

    def _oracles(self) -> Iterator[Metric]:
        fam = {key: GaugeMetricFamily(f"posman_oracle_{key}", doc, labels=["symbol"]) for key, doc in (
            ("age_seconds", "Age of the feed's answer at the last tick's block."),
            ("stale", "1 when the feed is older than its heartbeat."),
            ("deviating", "1 when the feed deviates from both the DEX spot and TWAP."),
            ("deviation_bps", "Oracle vs DEX deviation in basis points."),
            ("price_usd", "The feed's answer in USD."),
        )}
        for o in self.state.oracles():
            sym = [o["symbol"]]
            fam["age_seconds"].add_metric(sym, float(o["age_s"]))
            fam["stale"].add_metric(sym, 1.0 if o["stale"] else 0.0)
            fam["deviating"].add_metric(sym, 1.0 if o["deviating"] else 0.0)
            fam["price_usd"].add_metric(sym, float(o["price_usd"]))
            if o["deviation_bps"] is not None:
                fam["deviation_bps"].add_metric(sym, float(o["deviation_bps"]))
        yield from fam.values()

    def _signers(self) -> Iterator[Metric]:
        txs = CounterMetricFamily("posman_signer_transactions", "Transactions recorded per signer and outcome.",
                                  labels=["signer", "status"])
        gas = CounterMetricFamily("posman_signer_gas_used", "Gas used by the signer's final transactions.",
                                  labels=["signer"])
        native = CounterMetricFamily("posman_signer_gas_spent_native", "Gas spent, native token units (ETH).",
                                     labels=["signer"])
        usd = CounterMetricFamily("posman_signer_gas_spent_usd", "Gas spent in USD at the native token's oracle price.",
                                  labels=["signer"])
        for signer, t in sorted(self.state.signer_totals().items()):
            for status in ("sent", "confirmed", "failed"):
                txs.add_metric([signer, status], t[status])
            gas.add_metric([signer], t["gas_used"])
            native.add_metric([signer], t["gas_native"])
            usd.add_metric([signer], t["gas_usd"])
        yield from (txs, gas, native, usd)

    def _alerts(self) -> Iterator[Metric]:
        total, open_ = self.state.alert_totals()
        fam = CounterMetricFamily("posman_alerts", "Alert episodes opened, by kind and severity.",
                                  labels=["kind", "severity"])
        for (kind, severity), n in sorted(total.items()):
            fam.add_metric([kind, severity], float(n))
        yield fam
        now = GaugeMetricFamily("posman_alerts_open", "Alert episodes open now, by kind.", labels=["kind"])
        for kind, n in sorted(open_.items()):
            now.add_metric([kind], float(n))
        yield now


def build_registry(state: Any) -> CollectorRegistry:
    """A registry with the tick histogram (fed by ``state.on_tick``) and the scrape-time collector."""
    registry = CollectorRegistry(auto_describe=False)
    hist = Histogram("posman_tick_duration_seconds", "Wall time of one tick (read, decide, act, record).",
                     buckets=TICK_BUCKETS_S, registry=registry)
    state.on_tick.append(lambda report: hist.observe(max(0.0, float(report.elapsed_s))))
    registry.register(PosmanCollector(state))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text exposition format."""
    return generate_latest(registry)
