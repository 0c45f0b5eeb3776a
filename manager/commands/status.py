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


def check_block_arg(block: int | None) -> None:
    """``--block`` must be a block number (>= 0); one-line ``ConfigError`` otherwise (before any RPC)."""
    from manager.errors import ConfigError

    if block is not None and block < 0:
        raise ConfigError(f"--block must be a block number >= 0, got {block}", field="block", value=block)


def check_block_at_head(config: Any, reader: Any, block: int | None) -> None:
    """``--block`` must not be beyond the head of any chain the positions are on (one-line ``ConfigError``)."""
    from manager.errors import ConfigError

    if block is None:
        return
    for chain in sorted({config.protocol(p.protocol).chain for p in config.positions}):
        head = reader.client(chain).block_number()
        if block > head:
            raise ConfigError(f"--block {block} is beyond the head of chain '{chain}' (latest block {head})",
                              field="block", value=block, head=head)


def run(args: argparse.Namespace) -> int:
    from manager.config import load_config
    from manager.status import hedge_lines, render_table, status_rows
    from manager.watchers.tick import TickReader

    check_block_arg(args.block)
    config = load_config(args.config)
    from manager.runtime.strategies import bind_strategies

    bind_strategies(config)  # an unknown strategy or refused params: one located error, as for 'run'
    reader = TickReader(config)
    check_block_at_head(config, reader, args.block)
    tick = reader.read(time.time(), block_number=args.block)
    rows = status_rows(tick)
    if rows or not tick.errors:
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"block {tick.block_number} (timestamp {tick.block_timestamp})")
            print(render_table(rows))
            for line in hedge_lines(rows):
                print(line)
    for name, err in tick.errors.items():  # one line per position that could not be read
        print(f"error: position {name!r}: {err}", file=sys.stderr)
    return 1 if tick.errors else 0
