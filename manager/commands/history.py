"""``posman history NAME --config FILE [--limit N] [--json]``: a position's health series and actions.

Read-only: the database of the config's ``[storage]`` is opened for reading and nothing is created; before
the first ``posman run`` there is no history (one-line error).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("history", help="health factor over blocks and the actions taken for one position")
    p.add_argument("name", help="position name (as in the config)")
    p.add_argument("--config", required=True, type=Path, help="config file (TOML); its [storage] is read")
    p.add_argument("--limit", type=int, default=200, help="latest N health snapshots (default 200)")
    p.add_argument("--json", action="store_true", help="print JSON {snapshots, actions}")
    p.set_defaults(func=run)


def history_data(repo: Any, name: str, limit: int) -> dict[str, list[dict[str, Any]]]:
    snaps = repo.health_series(name, limit=limit)
    plans = list(reversed(repo.actions_for(name, limit=limit)))
    return {
        "snapshots": [{"block": s.block_number, "timestamp": s.block_timestamp,
                       "health_factor": None if math.isinf(s.health_factor) or s.health_factor > 1e12
                       else round(s.health_factor, 6),
                       "collateral_usd": round(s.collateral_usd, 2), "debt_usd": round(s.debt_usd, 2)}
                      for s in snaps],
        "actions": [{"block": p.block_number, "plan_id": p.plan_id, "action": p.action, "status": p.status,
                     "steps": len(p.steps_json), "reason": p.refusal_reason or p.error or ""} for p in plans],
    }


def run(args: argparse.Namespace) -> int:
    from manager.config import load_config
    from manager.errors import ConfigError
    from manager.persistence import Database, Repository
    from manager.persistence.db import MissingDatabaseError

    cfg = load_config(args.config)
    names = [p.name for p in cfg.positions]
    if args.name not in names:
        import difflib

        close = difflib.get_close_matches(args.name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"no position named '{args.name}' in {cfg.source} (known: {', '.join(names)}){hint}")
    if args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    try:
        db = Database.open_read_only(cfg.storage.url)
    except MissingDatabaseError as exc:
        raise MissingDatabaseError(f"no history yet: {exc.path} does not exist; run 'posman run' first",
                                   path=exc.path) from None
    try:
        data = history_data(Repository(db), args.name, args.limit)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    acted = {}
    for a in data["actions"]:
        acted.setdefault(a["block"], []).append(f"{a['action']}:{a['status']}")
    print(f"{args.name}: {len(data['snapshots'])} snapshot(s), {len(data['actions'])} action(s)")
    print(f"{'block':>10}  {'health':>9}  {'collateral $':>14}  {'debt $':>14}  action")
    for s in data["snapshots"]:
        hf = "inf" if s["health_factor"] is None else f"{s['health_factor']:.4f}"
        mark = ", ".join(acted.pop(s["block"], []))
        print(f"{s['block']:>10}  {hf:>9}  {s['collateral_usd']:>14,.2f}  {s['debt_usd']:>14,.2f}  {mark}")
    for block, marks in sorted(acted.items()):  # actions whose snapshot was compacted away
        print(f"{block:>10}  {'':>9}  {'':>14}  {'':>14}  {', '.join(marks)}")
    for a in data["actions"]:
        if a["reason"]:
            print(f"  block {a['block']} {a['plan_id']}: {a['status']}: {a['reason']}")
    return 0
