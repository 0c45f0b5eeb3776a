"""``posman pause NAME`` / ``posman resume NAME`` / ``posman paused``: hold a position's actions without a restart.

The pause is stored in the database's runtime state; a running manager reads it for every position at
every tick, so it takes effect at the next block. A paused position is still read, recorded and alerted
(its decision is logged and stored); only the action is not taken. ``--dry-run`` pauses in the dry run's
own database (the one ``posman run --dry-run`` uses).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from manager.commands._common import add_dry_run_flag, check_position, fmt_time, iso_time


def register(sub: Any) -> None:
    for name, help_ in (("pause", "stop acting for a position (still watched and alerted); takes effect at the "
                                  "next block of a running manager"),
                        ("resume", "act for a paused position again (at the next block)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("name", help="position name (as in the config)")
        p.add_argument("--config", required=True, type=Path, help="config file (TOML); its [storage] is written")
        if name == "pause":
            p.add_argument("--reason", default="", help="a note kept with the pause")
        add_dry_run_flag(p)
        p.set_defaults(func=run_pause if name == "pause" else run_resume)
    p = sub.add_parser("paused", help="list the paused positions")
    p.add_argument("--config", required=True, type=Path, help="config file (TOML)")
    p.add_argument("--json", action="store_true", help="print a JSON object name -> {since, reason}")
    add_dry_run_flag(p)
    p.set_defaults(func=run_list)


def _repo(cfg: Any, dry_run: bool) -> tuple[Any, Any]:
    from manager.persistence import Database, Repository

    db = Database(cfg.storage.url_for(dry_run))  # created on first use, like 'posman run' does
    return db, Repository(db)


def run_pause(args: argparse.Namespace) -> int:
    from manager.config import load_config

    cfg = load_config(args.config)
    check_position(cfg, args.name)
    db, repo = _repo(cfg, args.dry_run)
    try:
        already = repo.is_paused(args.name)
        repo.pause_position(args.name, reason=args.reason)
    finally:
        db.dispose()
    mode = next(p.mode for p in cfg.positions if p.name == args.name)
    note = "" if mode == "manage" else " (it is watch-only: nothing to hold, alerts go on)"
    print(f"{args.name}: paused{' (was already paused)' if already else ''}; a running manager takes no action "
          f"for it from the next block on, and still watches and alerts it{note}")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    from manager.config import load_config

    cfg = load_config(args.config)
    check_position(cfg, args.name)
    db, repo = _repo(cfg, args.dry_run)
    try:
        was = repo.resume_position(args.name)
    finally:
        db.dispose()
    print(f"{args.name}: resumed; a running manager acts for it again from the next block" if was
          else f"{args.name}: was not paused")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from manager.config import load_config

    cfg = load_config(args.config)
    db, repo = _repo(cfg, args.dry_run)
    try:
        paused = repo.paused_positions()
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({k: {"since": iso_time(v.get("since_s")), "reason": v.get("reason", "")}
                          for k, v in sorted(paused.items())}, indent=2))
        return 0
    if not paused:
        print("no position is paused")
    for name, v in sorted(paused.items()):
        print(f"{name}: paused since {fmt_time(v.get('since_s'))}" + (f" ({v['reason']})" if v.get("reason") else ""))
    return 0
