"""The armed price automations of a position, for ``posman status``, ``posman plan`` and the dashboard.

``armed_rows`` lists each automation (``[[positions.automations]]``, or the strategy itself when it is one) with its
level, the oracle price now and the distance to firing (% the price must move; <= 0 = firing), from the pure
``armed(config, ctx)`` of its module. ``at_trigger`` decides an automation as if the oracle price of its asset were at
its level (Aave V3: the reserve's oracle price and the feed's answer set to the level), with the sale valued at the
oracle less the slippage haircut (the pools' depth at that price is not known now): what it would do when it fires.

Pure apart from the state it is given (a trailing stop's stored peak): no chain, database or signer access.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from strategies.api import LoadedStrategy, StrategyContext, armed_automations


def armed_rows(strategy: LoadedStrategy, ctx: StrategyContext) -> list[dict[str, Any]]:
    """Every armed automation of the position with its distance to firing (JSON-ready)."""
    rows: list[dict[str, Any]] = []
    for auto in armed_automations(strategy):
        fn = getattr(auto.module, "armed", None)
        if fn is None:
            continue
        for r in fn(auto.config, dataclasses.replace(ctx, automation_key=auto.key)):
            rows.append({"key": auto.key, **{k: _clean(v) for k, v in r.items()}})
    return rows


def at_trigger(strategy: LoadedStrategy, key: str, snapshot: Any, ctx: StrategyContext, level_usd: float,
               asset: str) -> dict[str, Any]:
    """What automation ``key`` would decide with ``asset``'s oracle price at ``level_usd`` (Aave V3 only)."""
    auto = next((a for a in armed_automations(strategy) if a.key == key), None)
    if auto is None:
        return {"error": f"no automation {key!r}"}
    if not hasattr(snapshot, "reserves") or not hasattr(snapshot, "base_unit"):  # a position priced per reserve
        return {"note": "the trigger-price preview covers Aave V3 positions"}
    reserve = next((r for r in snapshot.reserves.values() if r.symbol == asset), None)
    reading = ctx.oracles.get(asset)
    if reserve is None or reading is None:
        return {"note": f"{asset} is not priced by the position's pool"}
    price_base = max(1, round(level_usd * snapshot.base_unit))
    shifted = snapshot.model_copy(update={"reserves": {a: (r.model_copy(update={"price_base": price_base})
                                                           if r.symbol == asset else r)
                                                       for a, r in snapshot.reserves.items()}})
    oracles: Mapping[str, Any] = {**ctx.oracles, asset: reading.model_copy(
        update={"answer": max(1, round(level_usd * 10**reading.decimals))})}
    try:
        health = shifted.health_view().health  # the protocol's exact health at the shifted price
    except Exception as exc:
        return {"error": " ".join(str(exc).split())[:200]}
    c = dataclasses.replace(ctx, oracles=oracles, health=health, depth={}, automation_key=auto.key)
    try:
        d = auto.module.decide(auto.config, shifted, c)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
    if d is None:
        return {"price_usd": level_usd, "health": _clean(health), "action": "none"}
    return {"price_usd": level_usd, "health": _clean(health), "action": d.action,
            "projected_health": _clean(d.projected_health), "notional_usd": round(d.notional_usd, 2),
            "close_min_out_wei": str(d.close_min_out_wei) if d.action == "close" else None,
            "reason": d.reason + ("; valued at the oracle less the slippage haircut (pool depth at that price is "
                                  "not known now)" if d.action != "none" else "")}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float):
        return round(value, 6)
    return value
