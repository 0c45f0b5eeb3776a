"""``posman plan --config FILE [--json] [--all] [--block N]``: what the next tick would do, nothing sent.

The positions are read at one block and decided by the tick's own decision stage (``Runtime.decide``, through
``manager.runtime.preview``): every skip and its reason, the decision (action, target and projected health,
binding constraint, steps), the path and the plan a run would send. Nothing is signed, sent or written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="what the manager would do now for each managed position (nothing is sent)")
    p.add_argument("--config", required=True, type=Path, help="config file (TOML)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--all", action="store_true", help="also watched positions")
    p.add_argument("--block", type=int, default=None, help="decide at this block instead of the head")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from manager.commands.status import check_block_arg, check_block_at_head
    from manager.config import load_config
    from manager.runtime.preview import open_run_repository, plan_contexts, preview, preview_runtime
    from manager.runtime.strategies import bind_strategies, groups_of
    from manager.watchers.tick import TickReader

    check_block_arg(args.block)
    cfg = load_config(args.config)
    bound = bind_strategies(cfg)
    now = time.time()
    reader = TickReader(cfg)
    check_block_at_head(cfg, reader, args.block)
    repo, db = open_run_repository(cfg)
    try:
        runtime = preview_runtime(cfg, reader, bound, groups_of(bound), repo=repo,
                                  contexts=plan_contexts(cfg, reader.client))
        tick = reader.read(now, block_number=args.block)
        rows = preview(runtime, tick, now_s=now, managed_only=not args.all)
    finally:
        if db is not None:
            db.dispose()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"block {tick.block_number}: {len(rows)} position(s), decided as the tick would; nothing is sent")
        for r in rows:
            hf = "-" if r.get("health") is None else f"{r['health']:.4f}"
            line = f"{r['position']:<16} {r['strategy']:<15} HF {hf:>8}  {r['action']:<10} {r['status']:<9}"
            if r.get("steps"):
                tgt = r.get("target_health")
                line += (f" -> HF {r.get('projected_health') or 0:.4f} (target {tgt}) "
                         f"${r.get('notional_usd', 0):,.0f} in {len(r['steps'])} step(s), bound by {r.get('binding')}")
            print(line)
            print(f"{'':<16} {r.get('reason', '')}")
            if r.get("skip"):
                print(f"{'':<16} not acted on: {r['skip']}")
            if r.get("plan"):
                plan = r["plan"]
                path = f"; {r['path']}" if r.get("path") else ""
                print(f"{'':<16} plan {plan['plan_id']} ({plan['kind']}, {len(plan['calls'])} call(s), "
                      f"${plan['notional_usd']:,.0f}){path}")
            for au in r.get("automations", []):
                print(f"{'':<16} {_automation_line(au)}")
                trig = au.get("at_trigger") or {}
                if trig.get("action"):
                    more = (f" -> HF {trig['projected_health']:.4f}" if trig.get("projected_health") else "")
                    print(f"{'':<18} at {au.get('asset')} {trig.get('price_usd'):,.2f}: {trig['action']}{more}"
                          f" ${trig.get('notional_usd') or 0:,.0f}; {trig.get('reason', '')}")
                elif trig.get("note") or trig.get("error"):
                    print(f"{'':<18} at the trigger: {trig.get('note') or trig.get('error')}")
    errors = [r for r in rows if r["action"] == "error"]
    for r in errors:
        print(f"error: position {r['position']!r}: {r['reason']}", file=sys.stderr)
    return 1 if errors else 0


def _automation_line(au: dict[str, Any]) -> str:
    """``automation stop (close_on_price, stop): WETH 2,950.00, fires below 2,700.00 (8.47 % away)``."""
    level, price, dist = au.get("level_usd"), au.get("price_usd"), au.get("distance_pct")
    what = f"automation {au['key']} ({au['kind']}, {au.get('role')})"
    if au.get("kind") == "collateral_switch":
        what += f" {au.get('from')} -> {au.get('to')}, floor HF {au.get('min_health')}"
    if level is None:
        return what + (": not active yet" if au.get("kind") == "trailing_stop" else ": runs now")
    now = f"{au['asset']} {price:,.2f}" if price is not None else f"{au['asset']} (no price)"
    away = "firing" if dist is not None and dist <= 0 else (f"{dist:.2f} % away" if dist is not None else "?")
    peak = f", peak {au['peak_usd']:,.2f} (round {au.get('peak_round')})" if au.get("peak_usd") else ""
    return f"{what}: {now}, fires {au.get('side')} {level:,.2f} ({away}){peak}"
