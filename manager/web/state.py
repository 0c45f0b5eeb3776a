"""What the dashboard and the metrics show, as JSON-ready dicts, from the runtime's ticks and the database.

The runtime calls ``WebState.observe(report)`` at the end of every tick (``Runtime.observers``) and its
reader is wrapped by ``RecordingReader``, which keeps the ``TickData`` the tick read. Both only store a
reference under a lock: the tick never waits for the view. Everything else runs on the web server's
threads:

- ``positions()``: every configured position at the last tick: the ``posman status`` row computed from
  that tick's reads (``manager.status.status_rows``, the same exact math, so the numbers equal
  ``posman status --block N``), its strategy's band (trigger / target / upper), the distances to the
  trigger and to liquidation, the price of each collateral asset at which the trigger is reached
  (``trigger_prices``), the tick's decision (what the manager would do now) and its last action;
- ``history(name)``: the recorded health series (``snapshots``) with the actions (plans) marked;
- ``alerts()``, ``transactions()``: the latest alert episodes and transactions, the latter with the
  plan step they carry (label, token amount, USD value), gas used and cost;
- ``signer_totals()``, ``alert_totals()``: the per-signer and per-kind counts behind the metrics.

Gas cost is ``gasUsed x effectiveGasPrice`` of the transaction's receipt (read by the poller thread,
with the view's own ``ChainClient``, once per final transaction) in native units, and in USD at the
native token's oracle price of the latest tick when the receipt was first read.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from manager.domain import UINT256_MAX

log = logging.getLogger("posman.web")

HISTORY_POINTS = 300
RECENT_ROWS = 50
RECEIPTS_PER_ROUND = 25
_FINAL_TX = ("included", "reverted")


def finite(value: Any) -> Any:
    """``value`` fit for JSON: non-finite floats become ``None`` (no debt = no health factor)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RecordingReader:
    """The runtime's tick reader, unchanged, that hands every ``TickData`` it returns to ``sink``."""

    def __init__(self, inner: Any, sink: Callable[[Any], None]) -> None:
        self._inner = inner
        self._sink = sink

    def read(self, now_s: float, block_number: int | None = None) -> Any:
        data = self._inner.read(now_s, block_number)
        self._sink(data)
        return data

    def __getattr__(self, name: str) -> Any:  # depth(), client(), config ... as the inner reader
        return getattr(self._inner, name)


class RpcErrorCounter(logging.Handler):
    """Counts the RPC client's failed attempts per chain from its warnings (``posman.chain`` logger).

    ``ChainClient._send`` logs one warning per failed attempt (``... failed: ...``) and per URL that
    refused a request (``... refused: ...``); both are counted by chain and kind.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[tuple[str, str]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.msg
        if isinstance(msg, str) and msg.startswith("chain %s: %s on %s") and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            kind = "refused" if "refused" in msg else "failed"
            self.counts[(str(args[0]), kind)] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self.lock:  # type: ignore[union-attr]
            return dict(self.counts)


def _band(strategy: str, params: Any) -> dict[str, Any]:
    """The strategy's band: health thresholds (``kind: health``) or perp margin ratios (``margin_ratio``)."""
    get = lambda key: getattr(params, key, None)  # noqa: E731
    if strategy == "cdp_health":
        return {"kind": "health", "trigger": get("trigger_health"), "target": get("target_health"),
                "upper": get("upper_health"), "emergency": get("emergency_health"),
                "risk_trigger": get("risk_trigger") is not None}
    if strategy == "perp_margin":
        return {"kind": "margin_ratio", "trigger": get("trigger_margin_ratio"), "target": get("target_margin_ratio"),
                "upper": get("upper_margin_ratio"), "min_health": get("min_health"),
                "emergency": get("emergency_health")}
    if strategy == "vault_leverage":
        return {"kind": "vault", "vault": get("vault"), "trigger": get("min_health"), "target": None, "upper": None,
                "target_leverage": get("target_leverage"), "leverage_band": get("leverage_band"),
                "weight": get("weight")}
    return {"kind": "alerts", "trigger": None, "target": None, "upper": None}


def trigger_health(band: dict[str, Any]) -> float | None:
    """The health below which the strategy acts (perps: ``min_health``; alert-only: none)."""
    if band["kind"] == "margin_ratio":
        return band.get("min_health")
    if band["kind"] in ("health", "vault"):
        return band.get("trigger")
    return None


def _pct_drop_to(health: float | None, level: float | None) -> float | None:
    """% drop of every collateral price (debt prices held) that takes ``health`` down to ``level``
    (health is proportional to the collateral prices; same convention as ``distance_to_liquidation_pct``)."""
    if health is None or level is None or not math.isfinite(health) or health <= 0:
        return None
    return max(0.0, (1 - level / health) * 100)


def _is_perp(proto: Any) -> bool:
    """A protocol entry whose adapter is a perp (margin) protocol."""
    from manager.protocols.registry import adapter

    try:
        return bool(adapter(getattr(proto, "kind", "")).family == "perp")
    except KeyError:
        return False


def _asset_prices(snap: Any) -> tuple[dict[str, float], set[str]]:
    """A lending snapshot's collateral prices (USD, by symbol) and the symbols it borrows."""
    prices: dict[str, float] = {}
    borrowed: set[str] = set()
    reserves = getattr(snap, "reserves", None)
    if reserves is not None and hasattr(snap, "assets"):  # Aave V3
        by_asset = {r.asset: r for r in reserves.values()}
        for a in snap.assets:
            r = by_asset.get(a.asset)
            if r is not None and r.price_base > 0:
                prices[a.symbol] = r.price_base / snap.base_unit
            if a.variable_debt_wei or a.stable_debt_wei:
                borrowed.add(a.symbol)
    elif getattr(snap, "collateral_symbol", None) and getattr(snap, "collateral_price_usd", None):  # Morpho Blue
        prices[snap.collateral_symbol] = float(snap.collateral_price_usd)
        if getattr(snap, "loan_symbol", None):
            borrowed.add(snap.loan_symbol)
    return prices, borrowed


def trigger_prices(health: float | None, trigger: float | None, liquidation_prices: dict[str, Any],
                   prices: dict[str, float], borrowed: set[str]) -> dict[str, float]:
    """Per collateral asset, alone (other prices held), the USD price at which health reaches ``trigger``.

    Health is affine in one collateral asset's price when that asset is not also borrowed (its weighted
    collateral value is ``tokens x price x LT``), so the line through (price now, health now) and
    (liquidation price, 1) gives the trigger price: ``p_T = p_L + (T - 1) (p - p_L) / (h - 1)``.
    Assets also borrowed (health is then a ratio of two lines) are left out.
    """
    out: dict[str, float] = {}
    if health is None or trigger is None or not math.isfinite(health) or abs(health - 1.0) < 1e-9:
        return out
    for symbol, p_liq in (liquidation_prices or {}).items():
        p_now = prices.get(symbol)
        if p_liq is None or p_now is None or symbol in borrowed or not math.isfinite(p_liq):
            continue
        p_trig = p_liq + (trigger - 1.0) * (p_now - p_liq) / (health - 1.0)
        if p_trig > 0:
            out[symbol] = p_trig
    return out


def _next_trigger(band: dict[str, Any], health: float | None, margin_ratio: float | None,
                  alerts: Any, protocol: str, at_prices: dict[str, float] | None = None) -> str:
    """One line: when the manager acts next and what it does then (``alerts``: the HealthAlertRules)."""
    hf = "no debt" if health is None else f"HF {health:.3f}"
    kind = band["kind"]
    if kind == "health":
        trig, target, upper = band.get("trigger"), band.get("target"), band.get("upper")
        if trig is None:
            text = f"deleverage at the volatility-derived trigger, back to HF {target:g}"
        elif health is not None and health < trig:
            text = f"{hf} is below the trigger {trig:g}: deleverage to HF {target:g}"
        else:
            drop = _pct_drop_to(health, trig)
            where = [f"{sym} < ${px:,.2f}" for sym, px in sorted((at_prices or {}).items())]
            if drop is not None:
                where.append(f"all collateral -{drop:.1f}%")
            text = f"deleverage when HF < {trig:g}" + (f" ({'; '.join(where)})" if where else "") \
                + f", back to HF {target:g}"
        if upper is not None:
            text += f"; boost when HF > {upper:g}"
        return text
    if kind == "margin_ratio":
        text = (f"add margin / cut size when margin ratio < {band['trigger']:g} or health < {band['min_health']:g}, "
                f"back to ratio {band['target']:g}")
        if margin_ratio is not None:
            text = f"margin ratio {margin_ratio:.4f}: " + text
        return text
    if kind == "vault":
        return (f"vault '{band['vault']}': rebalance when leverage is off {band['target_leverage']:g}x by more "
                f"than {band['leverage_band']:g}; deleverage this member when HF < {band['trigger']:g}")
    if alerts is None:
        return "watch only"
    return f"watch only: alert when HF < {alerts.warning_below_hf:g} (warning), < {alerts.critical_below_hf:g} (critical)"


def _band_state(band: dict[str, Any], health: float | None, margin_ratio: float | None,
                alert_rules: Any = None) -> str:
    """Where the position stands: below_trigger | in_band | above_upper | no_debt | no_position; watch-only
    positions (no strategy band) by their alert bands: critical | warning | normal."""
    if band["kind"] == "alerts":
        if health is None:
            return "no_debt"
        if alert_rules is not None and health < alert_rules.critical_below_hf:
            return "critical"
        if alert_rules is not None and health < alert_rules.warning_below_hf:
            return "warning"
        return "normal"
    if band["kind"] == "margin_ratio":
        if margin_ratio is None:
            return "no_position"
        if margin_ratio < band["trigger"] or (health is not None and health < band["min_health"]):
            return "below_trigger"
        if band.get("upper") is not None and margin_ratio > band["upper"]:
            return "above_upper"
        return "in_band"
    if health is None:
        return "no_debt"
    trig = trigger_health(band)
    if trig is not None and health < trig:
        return "below_trigger"
    if band.get("upper") is not None and health > band["upper"]:
        return "above_upper"
    return "in_band"


class WebState:
    """The view of one running ``Manager`` (see the module docstring). Thread-safe."""

    def __init__(self, manager: Any, *, clock: Callable[[], float] = time.time,
                 clients: dict[str, Any] | None = None) -> None:
        self.manager = manager
        self.cfg = manager.cfg
        self.repo = manager.repo
        self.runtime = manager.runtime
        self.clock = clock
        self.started_s = clock()
        self.on_tick: list[Callable[[Any], None]] = []
        self.rpc_errors = RpcErrorCounter()
        self._lock = threading.Lock()
        self._read: Any = None  # the last TickData the reader returned (maybe of a tick still running)
        self._data: Any = None  # the TickData of the last successful tick
        self._report: Any = None
        self._last_ok_s: float | None = None  # wall time of the last successful tick
        self.ticks: Counter[str] = Counter()
        self.version = 0
        self._positions_cache: tuple[int, list[dict[str, Any]]] | None = None
        self._clients: dict[str, Any] = dict(clients or {})
        self._heads: dict[str, int] = {}
        self._receipts: dict[str, dict[str, Any]] = {}  # tx hash -> gas facts (final transactions only)
        self._signer_of = self._signers_by_account()
        self._perp_markets = {str(p.market).lower() for p in self.cfg.protocols
                              if _is_perp(p) and getattr(p, "market", None)}

    # --- hooks the runtime calls (on the tick thread: store references only) ----------------------
    def attach(self) -> None:
        """Observe the manager's runtime: wrap its reader and register the tick observer."""
        self.runtime.reader = RecordingReader(self.runtime.reader, self._on_read)
        self.runtime.observers.append(self.observe)
        logging.getLogger("posman.chain").addHandler(self.rpc_errors)

    def detach(self) -> None:
        logging.getLogger("posman.chain").removeHandler(self.rpc_errors)
        if self.observe in self.runtime.observers:
            self.runtime.observers.remove(self.observe)
        if isinstance(self.runtime.reader, RecordingReader):
            self.runtime.reader = self.runtime.reader._inner

    def _on_read(self, data: Any) -> None:
        with self._lock:
            self._read = data

    def observe(self, report: Any) -> None:
        """The runtime's tick observer: keep the report and the tick's reads; never raises."""
        try:
            with self._lock:
                data = self._read
                if report.ok and data is not None and int(data.block_number) == report.block_number:
                    self._data = data
                self._report = report
                if report.ok:
                    self._last_ok_s = self.clock()
                self.ticks["ok" if report.ok else "failed"] += 1
                self.version += 1
            for fn in self.on_tick:
                fn(report)
        except Exception:  # pragma: no cover - the view must never break a tick
            log.exception("event=web_observe_failed")

    def latest(self) -> tuple[int, Any, Any]:
        """``(version, tick data, tick report)`` of the last tick, as one consistent triple."""
        with self._lock:
            return self.version, self._data, self._report

    # --- positions ---------------------------------------------------------------------------------
    def positions(self) -> list[dict[str, Any]]:
        """Every configured position at the last successful tick (config order), cached per tick."""
        version, data, report = self.latest()
        cached = self._positions_cache
        if cached is not None and cached[0] == version:
            return cached[1]
        rows: dict[str, dict[str, Any]] = {}
        if data is not None:
            from manager.status import status_rows

            try:
                rows = {r["name"]: r for r in status_rows(data)}
            except Exception as exc:  # the view degrades to the report's numbers; the tick is unaffected
                log.warning("event=web_status_rows_failed error_type=%s error=%r", type(exc).__name__, str(exc)[:200])
        last_actions = self._last_actions()
        out = [self._position(p, rows.get(p.name), data, report, last_actions.get(p.name))
               for p in self.cfg.positions]
        self._positions_cache = (version, out)
        return out

    def _last_actions(self) -> dict[str, int]:
        """Position name -> block of its last action sent (the runtime's ``last_action:NAME`` state), one query."""
        from sqlmodel import col, select

        from manager.persistence.models import RuntimeStateRow

        rows = self.repo._run(lambda s: list(s.exec(select(RuntimeStateRow).where(
            col(RuntimeStateRow.key).startswith("last_action:")))))
        return {r.key.split(":", 1)[1]: r.value_json.get("block")  # type: ignore[misc]
                for r in rows if isinstance(r.value_json, dict)}

    def _position(self, pos: Any, row: dict[str, Any] | None, data: Any, report: Any,
                  last_block: int | None) -> dict[str, Any]:
        proto = self.cfg.protocol(pos.protocol)
        outcome = (report.positions.get(pos.name) if report is not None else None)
        band = _band(pos.strategy, self._params(pos))
        health = finite(row["health_factor"]) if row else None
        perp = _is_perp(proto)
        margin_ratio = row.get("ltv") if (row and perp) else None
        rules = self.cfg.alerts.rules.health_for(pos.name, perp=perp)
        lines = [{"label": "liquidation", "health": 1.0}]
        trig = trigger_health(band)
        for label, value in (("trigger", trig), ("target", band.get("target") if band["kind"] == "health" else None),
                             ("upper", band.get("upper") if band["kind"] == "health" else None),
                             ("warning", rules.warning_below_hf), ("critical", rules.critical_below_hf)):
            if value is not None:
                lines.append({"label": label, "health": value})
        at_prices: dict[str, float] = {}
        snap = data.snapshot(pos.name) if (data is not None and row is not None and not perp) else None
        if snap is not None:
            at_prices = trigger_prices(health, trig, (row or {}).get("liquidation_prices") or {}, *_asset_prices(snap))
        decision = None
        if outcome is not None:
            d = outcome.decision
            decision = {
                "action": outcome.action, "status": outcome.status, "reason": outcome.reason,
                "plan_id": outcome.plan_id,
                "target_health": finite(d.target_health) if d else None,
                "projected_health": finite(d.projected_health) if d else None,
                "notional_usd": d.notional_usd if d else 0.0,
                "binding_constraint": d.binding_constraint if d else None,
                "feasible": d.feasible if d else None,
                "steps": len(d.steps) if d else 0,
            }
        error = None
        if data is not None and row is None:
            error = (getattr(data, "errors", {}) or {}).get(pos.name) or "no reading at the last tick"
        elif outcome is not None and outcome.status == "error":
            error = outcome.reason
        return {
            "name": pos.name, "protocol": proto.kind, "protocol_name": pos.protocol, "account": pos.account,
            "mode": pos.mode, "strategy": pos.strategy, "signer": pos.signer,
            "block_number": row["block_number"] if row else None,
            "health": health, "health_factor_wad": row.get("health_factor_wad") if row else None,
            "no_debt": row is not None and bool(row) and row["health_factor"] is None,
            "collateral_usd": row["collateral_usd"] if row else None,
            "debt_usd": row["debt_usd"] if row else None,
            "ltv": row.get("ltv") if row else None,
            "liquidation_threshold": row.get("liquidation_threshold") if row else None,
            "liquidation_prices": {k: finite(v) for k, v in (row.get("liquidation_prices") or {}).items()} if row else {},
            "distance_to_liquidation_pct": finite(row.get("distance_to_liquidation_pct")) if row else None,
            "distance_to_trigger_pct": None if perp else _pct_drop_to(health, trig),
            "trigger_prices": at_prices,
            "margin_ratio": margin_ratio,
            "oracle_fresh": row.get("oracle_fresh") if row else None,
            "oracle_issues": row.get("oracle_issues", []) if row else [],
            "band": band, "band_state": _band_state(band, health, margin_ratio, rules) if row else "unknown",
            "health_lines": lines,
            "next_trigger": _next_trigger(band, health, margin_ratio, rules, proto.kind, at_prices),
            "decision": decision, "last_action_block": last_block, "error": error,
            "automations": self._automations(pos, data, health),
        }

    def _automations(self, pos: Any, data: Any, health: float | None) -> list[dict[str, Any]]:
        """The position's armed price automations at the last tick: level, price, distance to firing, and a
        trailing stop's stored peak (``manager.runtime.automation_view.armed_rows``)."""
        managed = getattr(self.runtime, "positions", {}).get(pos.name)
        if managed is None or data is None:
            return []
        from manager.runtime.automation_view import armed_rows
        from manager.runtime.loop import _snapshot_of
        from strategies._price import feeds_of
        from strategies.api import StrategyContext, armed_automations

        autos = armed_automations(managed.strategy)
        if not autos:
            return []
        try:
            snap = _snapshot_of(data, pos.name)
            states = {a.key: self.repo.get_state(f"automation:{pos.name}:{a.key}") or {} for a in autos}
            ctx = StrategyContext(position=pos.name, mode=pos.mode, block_number=int(data.block_number),
                                  block_timestamp=int(data.block_timestamp), now_s=self.clock(),
                                  health=float("inf") if health is None else float(health),
                                  oracles={**feeds_of(snap), **dict(data.oracles)} if snap is not None
                                  else dict(data.oracles), automation_state=states)
            return armed_rows(managed.strategy, ctx)
        except Exception as exc:  # the view degrades; the tick is unaffected
            log.warning("event=web_automations_failed position=%s error=%r", pos.name, str(exc)[:200])
            return []

    def _params(self, pos: Any) -> Any:
        strat = getattr(self.runtime, "positions", {}).get(pos.name)
        return strat.strategy.config if strat is not None else None

    # --- history, alerts, transactions (database) ----------------------------------------------------
    def history(self, name: str, *, limit: int = HISTORY_POINTS) -> dict[str, Any] | None:
        """The health series of ``name`` (oldest first) with its actions; ``None`` for an unknown name."""
        pos = next((p for p in self.cfg.positions if p.name == name), None)
        if pos is None:
            return None
        series = self.repo.health_series(name, limit=limit)
        points = [{"block": s.block_number, "timestamp": s.block_timestamp,
                   "health": None if s.health_factor_wad == UINT256_MAX else s.health_factor,
                   "collateral_usd": s.collateral_usd, "debt_usd": s.debt_usd} for s in series]
        first = points[0]["block"] if points else None
        actions = []
        for plan in self.repo.actions_for(name, limit=100):
            if first is not None and plan.block_number < first:
                continue
            actions.append({"block": plan.block_number, "action": plan.action, "status": plan.status,
                            "plan_id": plan.plan_id, "reason": plan.refusal_reason or plan.error or ""})
        if pos.mode != "manage":  # watch positions: what the strategy would have done
            for d in self.repo.decisions_for(name, limit=100):
                if first is None or d.block_number >= first:
                    actions.append({"block": d.block_number, "action": d.action, "status": "watch", "plan_id": None,
                                    "reason": d.reason})
        actions.sort(key=lambda a: a["block"])
        return {"name": name, "points": points, "actions": actions}

    def alerts(self, *, limit: int = RECENT_ROWS) -> list[dict[str, Any]]:
        """The latest alert episodes, newest first."""
        from sqlmodel import col, select

        from manager.persistence.models import AlertRow

        rows = self.repo._run(lambda s: list(s.exec(select(AlertRow).order_by(col(AlertRow.id).desc()).limit(limit))))
        return [{"id": a.id, "kind": a.kind, "severity": a.severity, "position": a.position, "title": a.title,
                 "message": a.message, "block_number": a.block_number, "first_seen_s": a.first_seen_s,
                 "last_sent_s": a.last_sent_s, "sent_count": a.sent_count, "open": a.resolved_at_s is None,
                 "resolved_at_s": a.resolved_at_s, "channels": list(a.channels_delivered or [])} for a in rows]

    def alert_totals(self) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        """Alert episodes ever opened by ``(kind, severity)``, and those open now by kind."""
        from sqlalchemy import func
        from sqlmodel import col, select

        from manager.persistence.models import AlertRow

        def work(s: Any) -> tuple[list[Any], list[Any]]:
            total = list(s.exec(select(AlertRow.kind, AlertRow.severity, func.count()).group_by(
                AlertRow.kind, AlertRow.severity)))
            open_ = list(s.exec(select(AlertRow.kind, func.count()).where(col(AlertRow.resolved_at_s).is_(None))
                                .group_by(AlertRow.kind)))
            return total, open_

        total, open_ = self.repo._run(work)
        return {(k, sev): int(n) for k, sev, n in total}, {k: int(n) for k, n in open_}

    def _tx_rows(self, limit: int | None) -> list[tuple[Any, Any]]:
        from sqlmodel import col, select

        from manager.persistence.models import PlanRow, TransactionRow

        def work(s: Any) -> list[tuple[Any, Any]]:
            q = (select(TransactionRow, PlanRow).join(PlanRow, col(PlanRow.plan_id) == col(TransactionRow.plan_id))
                 .order_by(col(TransactionRow.id).desc()))
            if limit is not None:
                q = q.limit(limit)
            return [(t, p) for t, p in s.exec(q)]

        return self.repo._run(work)

    def transactions(self, *, limit: int = RECENT_ROWS) -> list[dict[str, Any]]:
        """The latest transactions, newest first, with their plan step, gas and cost."""
        tokens = self._tokens()
        out = []
        for tx, plan in self._tx_rows(limit):
            steps = plan.steps_json or []
            step = steps[tx.step_index] if 0 <= tx.step_index < len(steps) and isinstance(steps[tx.step_index], dict) \
                else {}
            token = step.get("token")
            if token is None and str(step.get("to", "")).lower() in self._perp_markets:
                token = "sUSD"  # PerpsV2 margin moves are in sUSD (18 decimals); the step names only the market
            symbol, decimals = tokens.get(str(token).lower(), (None, None)) if token else (None, None)
            amount_wei = step.get("amount_wei")
            gas = self._receipts.get(tx.tx_hash, {})
            out.append({
                "tx_hash": tx.tx_hash, "plan_id": tx.plan_id, "position": plan.position, "action": plan.action,
                "plan_status": plan.status, "step_index": tx.step_index, "label": step.get("label"),
                "token": symbol or token, "amount_wei": str(amount_wei) if amount_wei is not None else None,
                "amount": (int(amount_wei) / 10**decimals) if amount_wei is not None and decimals is not None else None,
                "usd_value": step.get("usd_value"), "nonce": tx.nonce, "sender": tx.sender,
                "signer": self._signer_of.get((tx.sender or "").lower()), "status": tx.status,
                "block_included": tx.block_included, "gas_used": tx.gas_used,
                "effective_gas_price_wei": str(gas["price_wei"]) if gas.get("price_wei") is not None else None,
                "gas_cost_native": gas.get("cost_native"), "gas_cost_usd": gas.get("cost_usd"),
                "created_at_s": tx.created_at_s,
            })
        return out

    def signer_totals(self) -> dict[str, dict[str, float]]:
        """Per signer: transactions sent / confirmed / failed, gas used, gas spent (native, USD)."""
        out: dict[str, dict[str, float]] = {
            name: dict.fromkeys(("sent", "confirmed", "failed", "gas_used", "gas_native", "gas_usd"), 0.0)
            for name in sorted(self.cfg.signers)}
        for tx, _plan in self._tx_rows(None):
            signer = self._signer_of.get((tx.sender or "").lower()) or (tx.sender or "unknown")
            acc = out.setdefault(signer, dict.fromkeys(("sent", "confirmed", "failed", "gas_used", "gas_native",
                                                        "gas_usd"), 0.0))
            acc["sent"] += 1
            if tx.status == "included":
                acc["confirmed"] += 1
            elif tx.status in ("reverted", "dropped"):
                acc["failed"] += 1
            if tx.status in _FINAL_TX and tx.gas_used:
                acc["gas_used"] += tx.gas_used
                gas = self._receipts.get(tx.tx_hash, {})
                acc["gas_native"] += gas.get("cost_native") or 0.0
                acc["gas_usd"] += gas.get("cost_usd") or 0.0
        return out

    def _signers_by_account(self) -> dict[str, str]:
        """Account address (lowercase) -> signer name (a managed position's signer controls its account)."""
        return {p.account.lower(): p.signer for p in self.cfg.positions if p.mode == "manage" and p.signer}

    def _tokens(self) -> dict[str, tuple[str, int]]:
        """Token address (lowercase) -> (symbol, decimals), from the last tick's snapshots."""
        _v, data, _r = self.latest()
        out: dict[str, tuple[str, int]] = {}
        if data is None:
            return out
        for snap in (getattr(data, "snapshots", None) or {}).values():
            for token, info in snap.token_info().items():
                out[token.lower()] = info
        for proto in self.cfg.protocols:
            if _is_perp(proto) and getattr(proto, "susd", None):
                out[str(proto.susd).lower()] = ("sUSD", 18)
        out["susd"] = ("sUSD", 18)
        return out

    # --- oracles, head, health ------------------------------------------------------------------------
    def oracles(self) -> list[dict[str, Any]]:
        _v, data, _r = self.latest()
        if data is None:
            return []
        now = self.clock()
        return [{"symbol": s, "price_usd": r.answer / 10**r.decimals, "updated_at": r.updated_at,
                 "age_s": r.age_s, "age_now_s": max(0.0, now - r.updated_at), "heartbeat_s": r.heartbeat_s,
                 "stale": r.stale, "deviating": r.deviating, "deviation_bps": finite(r.deviation_bps),
                 "block_number": r.block_number} for s, r in sorted(data.oracles.items())]

    def native_price_usd(self) -> float | None:
        _v, data, _r = self.latest()
        symbol = getattr(self.runtime, "native_symbol", "WETH")
        reading = (getattr(data, "oracles", None) or {}).get(symbol) if data is not None else None
        if reading is None or reading.stale or reading.answer <= 0:
            return None
        return reading.answer / 10**reading.decimals

    def heads(self) -> dict[str, int]:
        with self._lock:
            return dict(self._heads)

    def health(self) -> dict[str, Any]:
        """The manager's own state: last tick, head and lag, counts; ``version`` changes at every tick."""
        version, data, report = self.latest()
        heads = self.heads()
        chain = next(iter(self.cfg.chains), None)
        head = heads.get(chain) if chain else None
        last = report.block_number if report is not None and report.ok else (
            int(data.block_number) if data is not None else None)
        return {
            "version": version, "now_s": self.clock(), "uptime_s": self.clock() - self.started_s,
            "dry_run": bool(getattr(self.manager, "dry_run", False)),
            "ticks_ok": self.ticks["ok"], "ticks_failed": self.ticks["failed"],
            "last_tick": None if report is None else {
                "block_number": report.block_number, "ok": report.ok, "error": report.error,
                "elapsed_s": report.elapsed_s, "alerts": report.alerts},
            "last_ok_age_s": None if self._last_ok_s is None else max(0.0, self.clock() - self._last_ok_s),
            "last_block": last, "block_timestamp": int(data.block_timestamp) if data is not None else None,
            "head_block": head, "head_lag_blocks": (head - last) if head is not None and last is not None else None,
            "chain": chain, "positions": len(self.cfg.positions),
        }

    # --- the poller (own thread, own RPC clients) ------------------------------------------------------
    def _client(self, chain: str) -> Any:
        client = self._clients.get(chain)
        if client is None:
            from manager.chain.client import ChainClient

            client = self._clients[chain] = ChainClient.from_config(self.cfg, chain)
        return client

    def poll_once(self) -> None:
        """Read every chain's head and the receipts of final transactions not yet costed."""
        for chain in self.cfg.chains:
            try:
                head = int(self._client(chain).block_number())
            except Exception as exc:
                log.debug("event=web_head_failed chain=%s error=%r", chain, str(exc)[:200])
                continue
            with self._lock:
                self._heads[chain] = head
        missing = [(tx, plan) for tx, plan in self._tx_rows(200)
                   if tx.status in _FINAL_TX and tx.tx_hash not in self._receipts]
        if not missing:
            return
        price = self.native_price_usd()
        chain_of = self._chain_of_position()
        for tx, plan in missing[:RECEIPTS_PER_ROUND]:
            chain = chain_of.get(plan.position) or next(iter(self.cfg.chains))
            try:
                receipt = self._client(chain).request("eth_getTransactionReceipt", [tx.tx_hash])
            except Exception as exc:
                log.debug("event=web_receipt_failed tx_hash=%s error=%r", tx.tx_hash, str(exc)[:200])
                continue
            if not receipt:
                continue
            gas_used = int(receipt["gasUsed"], 16)
            price_wei = int(receipt.get("effectiveGasPrice") or "0x0", 16)
            cost_native = gas_used * price_wei / 1e18
            self._receipts[tx.tx_hash] = {"gas_used": gas_used, "price_wei": price_wei, "cost_native": cost_native,
                                          "cost_usd": cost_native * price if price is not None else None}

    def _chain_of_position(self) -> dict[str, str]:
        return {p.name: self.cfg.protocol(p.protocol).chain for p in self.cfg.positions}
