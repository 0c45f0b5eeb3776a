"""``posman demo [--state-dir DIR]``: the manager on a local devnet through a scripted ETH crash.

Starts its own devnet, opens a managed CDP, a managed vault of two positions and a watch-only account,
runs the manager, crashes ETH about 35% over several blocks, checks no managed position was
liquidated, and writes a report (table + PNG chart) under ``DIR/reports/``. Exit 0 when every check
passed. See ``manager.demo.scenario``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="scripted ETH crash on a local devnet with the manager running; writes a report")
    p.add_argument("--state-dir", type=Path, default=Path("demo-state"),
                   help="where the config, database, logs and reports go (default: demo-state)")
    p.add_argument("--steps", type=int, default=7, help="price steps of the crash (default 7)")
    p.add_argument("--verbose", action="store_true", help="show the manager's log lines")
    p.set_defaults(func=run, default_log_level="info")


def run(args: argparse.Namespace) -> int:
    import logging
    import time

    from manager.errors import ConfigError
    from manager.runtime.logs import setup_logging

    if not 2 <= args.steps <= 50:
        raise ConfigError(f"--steps must be between 2 and 50, got {args.steps}")
    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    log_file = state_dir / "manager.log"
    handler = logging.FileHandler(log_file, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    setup_logging("INFO")
    root = logging.getLogger()
    for h in root.handlers:  # the console shows the demo's own lines; the manager's log goes to the file
        h.setLevel(logging.INFO if args.verbose else logging.CRITICAL + 1)
    root.addHandler(handler)

    from manager.demo.scenario import run_demo

    started = time.monotonic()
    result = run_demo(state_dir, steps=args.steps, out=lambda s="": print(s, flush=True))
    print("")
    print(f"manager log:  {log_file}")
    print(f"database:     {result.state_dir / 'demo.sqlite'} (kept after the demo)")
    print(f"history:      posman history cdp --config {result.config_path}")
    print(f"alerts:       posman alerts --config {result.config_path}")
    if result.report_dir is not None:
        print(f"report:       {result.report_dir / 'summary.txt'}")
        print(f"chart:        {result.report_dir / 'health.png'}")
    print(f"demo {'passed' if result.ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return 0 if result.ok else 1
