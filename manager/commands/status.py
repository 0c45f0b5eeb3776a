"""``posman status --config FILE [--json]``: every configured position, read at one block."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="health of every configured position, read at one block")
    p.add_argument("--config", required=True, type=Path, help="config file (TOML)")
    p.add_argument("--json", action="store_true", help="print a JSON array (stable field names)")
    p.add_argument("--block", type=int, default=None, help="read at this block instead of the head")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from manager.config import load_config
    from manager.status import render_table, status_rows
    from manager.watchers.tick import TickReader

    config = load_config(args.config)
    tick = TickReader(config).read(time.time(), block_number=args.block)
    rows = status_rows(tick)
    if rows or not tick.errors:
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"block {tick.block_number} (timestamp {tick.block_timestamp})")
            print(render_table(rows))
    for name, err in tick.errors.items():  # one line per position that could not be read
        print(f"error: position {name!r}: {err}", file=sys.stderr)
    return 1 if tick.errors else 0
