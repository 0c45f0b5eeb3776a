"""The daily digest (``[alerts] daily_digest = true``): what happened over the last 24 hours, as one alert.

Built from the database only (``Repository`` reads): for every configured position its latest health and the
lowest health recorded in the window, the actions (plans) by status, the alert episodes first seen in the
window by kind, the episodes still open, and the paused positions. The scheduler sends it once a day at
``[alerts] daily_digest_hour_utc``; the engine de-duplicates by UTC day, and an episode key already stored
(a restart within the hour) is not sent again.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

WINDOW_S = 86_400.0


def build_digest(repo: Any, positions: list[str], now_s: float) -> tuple[str, str, dict[str, Any]]:
    """``(title, message, fields)`` of the digest for the 24 hours before ``now_s``."""
    since = now_s - WINDOW_S
    lines: list[str] = []
    worst: tuple[float, str] | None = None
    actions: Counter[str] = Counter()
    for name in positions:
        series = [s for s in repo.health_series(name, limit=100_000) if s.created_at_s >= since]
        plans = [p for p in repo.actions_for(name, limit=1000) if p.created_at_s >= since]
        for p in plans:
            actions[p.status] += 1
        if not series:
            lines.append(f"{name}: no reading in 24 h")
            continue
        now_hf, low = series[-1].health_factor, min(s.health_factor for s in series)
        if worst is None or low < worst[0]:
            worst = (low, name)
        acted = f", {len(plans)} action(s)" if plans else ""
        lines.append(f"{name}: HF {_hf(now_hf)} (lowest {_hf(low)}){acted}")
    alerts = repo.alerts(since_s=since, limit=10_000)
    fresh = Counter(a.kind for a in alerts if a.first_seen_s >= since)
    still_open = [a for a in alerts if a.resolved_at_s is None]
    paused = sorted(repo.paused_positions())
    lines.append("actions: " + (", ".join(f"{n} {k}" for k, n in sorted(actions.items())) or "none"))
    lines.append("alerts: " + (", ".join(f"{n} {k}" for k, n in sorted(fresh.items())) or "none")
                 + f"; open now: {len(still_open)}")
    if paused:
        lines.append("paused: " + ", ".join(paused))
    day = dt.datetime.fromtimestamp(now_s, dt.UTC).strftime("%Y-%m-%d")
    title = f"posman daily digest {day}: {len(positions)} position(s)" + (
        f", lowest HF {_hf(worst[0])} ({worst[1]})" if worst else "")
    fields: dict[str, Any] = {"day": day, "positions": len(positions), "actions": sum(actions.values()),
                              "alerts": sum(fresh.values()), "open_alerts": len(still_open), "paused": len(paused),
                              "lowest_health": None if worst is None else round(worst[0], 6),
                              "lowest_health_position": None if worst is None else worst[1]}
    return title, "\n".join(lines), fields


def _hf(value: float) -> str:
    return "inf" if value > 1e12 else f"{value:.4f}"
