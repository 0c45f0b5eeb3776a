"""``posman run --config FILE [--dry-run] [--once]``: the manager's per-block loop.

Everything is checked before the first tick (strategies and their params, signers, database, alert
channels, chain); a problem stops the start with one line on stderr and a non-zero exit. Then a tick
runs on every new block until SIGINT/SIGTERM; ``--once`` runs one tick and exits (0 when it succeeded).
``--dry-run`` plans, simulates and signs but sends nothing; the log says what would have been sent
(``event=dry_run_would_send``). A dry run records into its own database (``[storage] dry_run_url``, default
``posman-dryrun.sqlite`` next to ``url``), never into the real history.
``--http HOST:PORT`` also serves the dashboard ``/``, ``/metrics`` (Prometheus) and ``/api/...`` JSON from a
thread beside the loop (``manager.web``); loopback only unless ``--http-allow-remote`` is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the manager: a tick on every new block (Ctrl-C stops it gracefully)")
    p.add_argument("--config", required=True, type=Path, help="config file (TOML)")
    p.add_argument("--dry-run", action="store_true", help="plan and simulate, never send (overrides the config)")
    p.add_argument("--once", action="store_true", help="run a single tick and exit")
    p.add_argument("--http", metavar="HOST:PORT", default=None,
                   help="serve the dashboard (/), /metrics and /api on this address, e.g. 127.0.0.1:8787 (default: off)")
    p.add_argument("--http-allow-remote", action="store_true",
                   help="allow --http on a non-loopback address (the dashboard has no authentication)")
    p.set_defaults(func=run, default_log_level="info")


def run(args: argparse.Namespace) -> int:
    from manager.config import load_config
    from manager.runtime.lifecycle import build_manager, check_environment, run_manager
    from manager.runtime.logs import setup_logging

    listen = _listen(args)
    setup_logging((getattr(args, "log_level", "") or "info").upper())
    cfg = load_config(args.config)
    check_environment(cfg)
    manager = build_manager(cfg, dry_run=True if args.dry_run else None)
    web = None
    try:
        if any(p.automations for p in cfg.positions):  # stops against the positions as they are (one read)
            from manager.runtime.automation_checks import check_automations_against_positions

            check_automations_against_positions(
                cfg, {n: mp.strategy for n, mp in manager.runtime.positions.items()}, manager.runtime.reader)
        mode = "DRY RUN (nothing is sent)" if manager.dry_run else "LIVE (transactions are sent)"
        managed = [p.name for p in cfg.positions if p.mode == "manage"]
        print(f"posman run: {len(cfg.positions)} position(s), managed: {', '.join(managed) or 'none'}; {mode}; "
              f"history: {manager.db.safe_url}", flush=True)
        paused = manager.repo.paused_positions()
        if paused:
            print(f"paused (watched and alerted, no action until 'posman resume'): {', '.join(sorted(paused))}",
                  flush=True)
        if listen is not None:
            from manager.web import start_web

            web = start_web(manager, listen)
            print(f"posman run: dashboard at {web.url} (metrics at {web.url}metrics, JSON at {web.url}api/positions)",
                  flush=True)
        return run_manager(manager, once=args.once)
    finally:
        if web is not None:
            web.close()
        manager.close()


def _listen(args: argparse.Namespace) -> Any:
    """The checked ``--http`` address (before anything is built), or ``None`` when it is off."""
    from manager.errors import ConfigError

    if args.http is None:
        if args.http_allow_remote:
            raise ConfigError("--http-allow-remote needs --http HOST:PORT", field="http_allow_remote")
        return None
    if args.once:
        raise ConfigError("--http serves a running manager; it cannot be combined with --once", field="http")
    from manager.web.server import parse_listen

    return parse_listen(args.http, allow_remote=args.http_allow_remote)
