"""What the strategies would decide now, without acting (``posman plan``): same inputs as a tick.

A position's price automations are listed with their distance to firing and what each would do at its trigger
price (``manager.runtime.automation_view``).

Every protocol the tick reads is previewed (Aave V3, Morpho Blue, Synthetix PerpsV2); ``steps`` are the
sizing steps of the decision (``posman plan`` shows the encoded calls with ``--calls`` where supported).

Pure apart from the read it is given (and, for positions with price automations, their stored state: a trailing
stop's peak, a partial close's armed flag, read from the run's database read-only): no signer, nothing sent.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from manager.runtime.loop import _snapshot_of, decide_with_depth, strategy_context
from manager.runtime.views import health_view
from manager.sizing.caps import SizingLimits
from strategies.api import LoadedStrategy, PeerView, armed_automations


def preview(cfg: Any, tick: Any, bound: dict[str, LoadedStrategy], peers: dict[str, list[str]], *,
            now_s: float, managed_only: bool = True, reader: Any = None) -> list[dict[str, Any]]:
    """One row per position: health, decision (action, target, projected, binding, steps, reason).

    With ``reader`` (the ``TickReader`` that produced ``tick``), a decision that swaps without a depth
    curve for its pair is decided again with the pools' depth read at the same block, as a tick does.
    """
    views: dict[str, PeerView] = {}
    for pos in cfg.positions:
        snap = _snapshot_of(tick, pos.name)
        if snap is None:
            continue
        proto = next((p for p in cfg.protocols if p.name == pos.protocol), None)
        hv = health_view(snap, asset=getattr(proto, "asset", None))
        views[pos.name] = PeerView(pos.name, snap, bound[pos.name].config, hv.health, hv.collateral_usd, hv.debt_usd)
    limits = SizingLimits(per_action_usd=cfg.limits.per_tx_usd, per_day_remaining_usd=cfg.limits.per_day_usd,
                          max_slippage_bps=float(cfg.limits.max_slippage_bps))

    def read_depth(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        got = reader.depth(tick, pairs)
        tick.depth.update(got)  # later positions reuse what this one read
        return dict(got)

    rows: list[dict[str, Any]] = []
    stored: dict[str, Any] | None = None
    for pos in cfg.positions:
        if managed_only and pos.mode != "manage":
            continue
        row: dict[str, Any] = {"position": pos.name, "mode": pos.mode, "strategy": pos.strategy,
                               "block": tick.block_number}
        if pos.name not in views:
            row.update(action="error", reason=tick.errors.get(pos.name, "not read"))
            rows.append(row)
            continue
        view = views[pos.name]
        try:
            ctx = strategy_context(pos.name, pos.mode, peers.get(pos.name, []), views, tick, now_s, limits)
            path = _path_for(cfg, tick, pos, view.snapshot)
            if path is not None:  # the path a run would take (atomic with the signer's executor, or direct)
                ctx = dataclasses.replace(ctx, flash_premium_bps=path.premium_bps if path.atomic else None,
                                          path_note=path.why)
            autos = armed_automations(bound[pos.name])
            if autos:  # a trailing stop's stored peak, a partial close's armed flag (the run's database, read-only)
                if stored is None:
                    from manager.commands.status import _stored_states

                    stored = _stored_states(cfg)
                ctx = dataclasses.replace(ctx, automation_state={
                    a.key: stored.get(f"automation:{pos.name}:{a.key}", {}) for a in autos})
            decision = decide_with_depth(bound[pos.name], view.snapshot, ctx,
                                         read_depth if reader is not None and hasattr(reader, "depth") else None)
        except Exception as exc:
            row.update(health=_num(view.health), action="error", reason=str(exc))
            rows.append(row)
            continue
        row["health"] = _num(view.health)
        if decision is None:
            row.update(action="none", reason="strategy returned None")
        else:
            row.update(action=decision.action, target_health=_num(decision.target_health),
                       projected_health=_num(decision.projected_health), binding=decision.binding_constraint,
                       feasible=decision.feasible, notional_usd=round(decision.notional_usd, 2),
                       steps=[{"kind": s.kind, "symbol": s.symbol, "amount_wei": str(s.amount_wei),
                               "symbol_out": s.symbol_out} for s in decision.steps],
                       reason=decision.reason)
        if armed_automations(bound[pos.name]):  # issue 16: each automation now and at its trigger price
            row["automations"] = _automations(bound[pos.name], view.snapshot, ctx)
        rows.append(row)
    return rows


def _automations(strategy: LoadedStrategy, snap: Any, ctx: Any) -> list[dict[str, Any]]:
    from manager.runtime.automation_view import armed_rows, at_trigger

    out = []
    for r in armed_rows(strategy, ctx):
        if r.get("level_usd") is not None and r.get("asset"):
            r["at_trigger"] = at_trigger(strategy, r["key"], snap, ctx, float(r["level_usd"]), str(r["asset"]))
        out.append(r)
    return out


def _path_for(cfg: Any, tick: Any, pos: Any, snap: Any) -> Any:
    """``planner.choose_path`` for a managed Aave / Morpho position from the config's ``[signers.X] executor``
    and the tick's executor reads (the run also checks the contract's code and owner at start-up)."""
    from types import SimpleNamespace

    from manager.execution.planner import AtomicSetup, choose_path

    if pos.mode != "manage" or pos.signer is None or pos.signer not in cfg.signers:
        return None
    proto = cfg.protocol(pos.protocol)
    if proto.kind not in ("aave_v3", "morpho_blue"):
        return None
    signer = cfg.signers[pos.signer]
    setup = None
    if getattr(signer, "executor", None) is not None:
        morpho = next((p.morpho for p in cfg.protocols if p.kind == "morpho_blue" and p.chain == proto.chain), None)
        aave_pool = next((m.pool for m in (getattr(tick, "markets", None) or {}).values()), None)
        setup = AtomicSetup(executor=signer.executor, aave_pool=aave_pool, morpho=morpho,
                            min_debt_usd=float(signer.atomic_min_debt_usd))
    return choose_path(SimpleNamespace(atomic=setup), snap, (getattr(tick, "atomic", None) or {}).get(pos.name))


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 6)
