"""``posman status --config FILE [--json]``: every configured position, read at one block.

On a terminal (and without ``--json``) the table is a ``rich`` table sorted by risk (worst alert band first,
then the smallest distance to liquidation), each row coloured by its alert band (``[alerts.rules]``: liquidatable, critical, warning, ok); otherwise the
plain table in config order (what scripts read).
"""

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
    from manager.commands._render import progress, use_rich

    with progress(f"reading {len(config.positions)} position(s) at one block..."):
        tick = reader.read(time.time(), block_number=args.block)
    rows = status_rows(tick)
    add_automations(config, tick, rows)
    if rows or not tick.errors:
        if args.json:
            print(json.dumps(rows, indent=2))
        elif use_rich():
            print_rich_status(config, tick, rows)
        else:
            print(f"block {tick.block_number} (timestamp {tick.block_timestamp})")
            print(render_table(rows))
            for line in hedge_lines(rows):
                print(line)
            for line in automation_lines(rows):
                print(line)
    for name, err in tick.errors.items():  # one line per position that could not be read
        print(f"error: position {name!r}: {err}", file=sys.stderr)
    return 1 if tick.errors else 0


def print_rich_status(config: Any, tick: Any, rows: list[dict[str, Any]]) -> None:
    """The status rows as a ``rich`` table: lowest health first, coloured by the position's alert band."""
    from manager.commands._render import BAND_RANK, band, print_rich_table
    from manager.protocols.registry import adapter
    from manager.status import STATUS_HEAD, hedge_lines, status_cells

    bands = {}
    for r in rows:
        b = config.alerts.rules.health_for(r["name"], perp=adapter(r["protocol"]).family == "perp")
        bands[r["name"]] = band(r["health_factor"], b.warning_below_hf, b.critical_below_hf)

    def risk(r: dict[str, Any]) -> tuple[int, float]:
        dist = r["distance_to_liquidation_pct"]
        return BAND_RANK[bands[r["name"]][0]], float("inf") if dist is None else dist

    ranked = sorted(rows, key=risk)
    cells, styles = [], []
    for r in ranked:
        name, style = bands[r["name"]]
        cells.append([*status_cells(r), name if r["oracle_fresh"] else f"{name}, oracle"])
        styles.append(style if r["oracle_fresh"] else "magenta")
    print_rich_table(f"block {tick.block_number} (timestamp {tick.block_timestamp}); riskiest first (band, then "
                     "distance to liquidation)",
                     [*STATUS_HEAD, "band"], cells, styles, left={0, 1, 8, 10, 11})
    for line in hedge_lines(rows):
        print(line)
    for line in automation_lines(rows):
        print(line)


def add_automations(config: Any, tick: Any, rows: list[dict[str, Any]]) -> None:
    """``automations`` of each row whose position has price automations: level, price now, distance to firing
    (``manager.runtime.automation_view``); a trailing stop's peak from the database when it has one."""
    from strategies.api import AUTOMATIONS

    if not any(p.automations or p.strategy in AUTOMATIONS for p in config.positions):
        return
    from manager.runtime.automation_view import armed_rows
    from manager.runtime.loop import _snapshot_of
    from manager.runtime.strategies import bind_strategies
    from manager.sizing.caps import SizingLimits
    from strategies._price import feeds_of
    from strategies.api import StrategyContext, armed_automations

    bound = bind_strategies(config)
    states = _stored_states(config)
    by_name = {r["name"]: r for r in rows}
    for pos in config.positions:
        row = by_name.get(pos.name)
        autos = armed_automations(bound[pos.name])
        if row is None or not autos:
            continue
        hf = row.get("health_factor")
        ctx = StrategyContext(position=pos.name, mode=pos.mode, block_number=int(tick.block_number),
                              block_timestamp=int(tick.block_timestamp), now_s=time.time(),
                              health=float("inf") if hf is None else float(hf), limits=SizingLimits(),
                              oracles={**feeds_of(_snapshot_of(tick, pos.name)), **dict(tick.oracles)},
                              automation_state={a.key: states.get(f"automation:{pos.name}:{a.key}", {}) for a in autos})
        row["automations"] = armed_rows(bound[pos.name], ctx)


def _stored_states(config: Any) -> dict[str, Any]:
    """Every stored automation state (``automation:<position>:<key>``); empty before the first ``posman run``."""
    from manager.commands._common import open_history
    from manager.persistence import Repository

    try:
        db = open_history(config, dry_run=config.runtime.dry_run)
    except Exception:  # NOTE: no database yet: peaks start at the next run
        return {}
    try:
        repo = Repository(db)
        out = {}
        for pos in config.positions:
            keys = [str(a.get("id") or f"{a.get('kind')}-{j}") for j, a in enumerate(pos.automations)]
            for key in [f"automation:{pos.name}:{k}" for k in [*keys, pos.strategy]]:
                value = repo.get_state(key)
                if value is not None:
                    out[key] = value
        return out
    except Exception:
        return {}
    finally:
        db.dispose()


def automation_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per armed automation: ``alice-cdp: automation stop (close_on_price, stop): WETH ... (8.47 % away)``."""
    from manager.commands.plan import _automation_line

    return [f"{r['name']}: {_automation_line(au)}" for r in rows for au in r.get("automations", [])]
