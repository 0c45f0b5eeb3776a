"""What the strategies would decide now, without acting (``posman plan``): same inputs as a tick.

Every protocol the tick reads is previewed (Aave V3, Morpho Blue, Synthetix PerpsV2); ``steps`` are the
sizing steps of the decision (``posman plan`` shows the encoded calls with ``--calls`` where supported).

Pure apart from the read it is given: no database, no signer, nothing sent.
"""

from __future__ import annotations

import math
from typing import Any

from manager.runtime.loop import _snapshot_of, decide_with_depth, strategy_context
from manager.runtime.views import health_view
from manager.sizing.caps import SizingLimits
from strategies.api import LoadedStrategy, PeerView


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
        rows.append(row)
    return rows


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 6)
