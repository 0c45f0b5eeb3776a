"""``posman alerts --config FILE [--since 24h] [--position NAME] [--json] [--dry-run]``: the alerts that were raised.

Read-only, from the config's database (the dry run's own with ``--dry-run``). Each alert episode (opened once,
re-sent per the re-notify rule, resolved once) is one row: when it was first seen, severity, kind, position,
block, whether it is still open or when it resolved, how often it was sent and to which channels, and the
message. ``--since`` keeps episodes first seen, resolved or still open since then. Plain text (newest first)
when not on a terminal; on a terminal a ``rich`` table with open and critical episodes first.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from manager.commands._common import (
    add_dry_run_flag,
    check_position,
    fmt_time,
    iso_time,
    open_history,
    parse_since,
)
from manager.commands._render import SEVERITY_RANK, SEVERITY_STYLES, plain_table, print_rich_table, use_rich


def register(sub: Any) -> None:
    p = sub.add_parser("alerts", help="the alerts raised (alert episodes), newest first")
    p.add_argument("--config", required=True, type=Path, help="config file (TOML); its [storage] is read")
    p.add_argument("--since", default=None, help="only since then: 90m, 24h, 7d, an ISO date/datetime, unix seconds")
    p.add_argument("--position", default=None, help="only this position's alerts")
    p.add_argument("--limit", type=int, default=500, help="at most N episodes (default 500)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    add_dry_run_flag(p)
    p.set_defaults(func=run)


def alert_dict(a: Any) -> dict[str, Any]:
    """One alert episode as JSON (stable field names)."""
    return {
        "id": a.id, "episode_key": a.episode_key, "kind": a.kind, "severity": a.severity, "position": a.position,
        "title": a.title, "message": a.message, "block": a.block_number,
        "first_seen": iso_time(a.first_seen_s), "first_seen_s": a.first_seen_s,
        "last_sent": iso_time(a.last_sent_s), "sent_count": a.sent_count, "channels": list(a.channels_delivered),
        "open": a.resolved_at_s is None, "resolved": iso_time(a.resolved_at_s), "resolved_at_s": a.resolved_at_s,
    }


def alert_cells(a: dict[str, Any]) -> list[str]:
    state = "open" if a["open"] else f"resolved {fmt_time(a['resolved_at_s'])[11:19]}"
    message = " ".join(a["message"].split())
    text = f"{' '.join(a['title'].split())}: {message}" if a["title"] and a["title"] not in message else message
    return [fmt_time(a["first_seen_s"]), a["severity"], a["kind"], a["position"] or "-",
            "-" if a["block"] is None else str(a["block"]), state, str(a["sent_count"]),
            ",".join(a["channels"]) or "-", text[:160]]


ALERT_HEAD = ("first seen", "severity", "kind", "position", "block", "state", "sent", "channels", "message")


def run(args: argparse.Namespace) -> int:
    from manager.config import load_config
    from manager.errors import ConfigError
    from manager.persistence import Repository

    cfg = load_config(args.config)
    if args.position is not None:
        check_position(cfg, args.position)
    if args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    since_s = parse_since(args.since, time.time()) if args.since else None
    db = open_history(cfg, dry_run=args.dry_run)
    try:
        rows = [alert_dict(a) for a in Repository(db).alerts(since_s=since_s, position=args.position,
                                                             limit=args.limit)]
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    scope = (f" since {fmt_time(since_s)}" if since_s is not None else "") + \
        (f" for {args.position}" if args.position else "")
    opened = sum(r["open"] for r in rows)
    summary = f"{len(rows)} alert episode(s){scope}, {opened} open"
    if use_rich():
        ranked = sorted(rows, key=lambda r: (not r["open"], SEVERITY_RANK.get(r["severity"], 9), -r["first_seen_s"]))
        print_rich_table(summary, ALERT_HEAD, [alert_cells(r) for r in ranked],
                         [SEVERITY_STYLES.get(r["severity"]) if r["open"] else "dim" for r in ranked], left={0, 1, 2, 3, 5, 7, 8})
        return 0
    print(summary)
    if rows:
        print(plain_table(ALERT_HEAD, [alert_cells(r) for r in rows], left={0, 1, 2, 3, 5, 7, 8}))
    return 0
