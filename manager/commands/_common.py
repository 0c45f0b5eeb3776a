"""Helpers shared by the report commands (``history``, ``alerts``, ``pause``/``resume``).

Times print as UTC (``2026-12-01 17:50:03 UTC``); ``--since`` takes ``90m``/``24h``/``7d``, an ISO date or
datetime (UTC unless it carries an offset), or unix seconds. ``--dry-run`` selects the dry run's own
database (``[storage] dry_run_url``, default ``posman-dryrun.sqlite`` next to ``url``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def fmt_time(unix_s: float | None) -> str:
    """``unix_s`` as ``YYYY-MM-DD HH:MM:SS UTC`` (``-`` for None)."""
    if unix_s is None:
        return "-"
    return dt.datetime.fromtimestamp(float(unix_s), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(unix_s: float | None) -> str | None:
    """``unix_s`` as ISO 8601 UTC (``2026-12-01T17:50:03Z``) for JSON."""
    if unix_s is None:
        return None
    return dt.datetime.fromtimestamp(float(unix_s), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(text: str, now_s: float) -> float:
    """``--since`` as unix seconds (see the module docstring); one-line ``ConfigError`` otherwise."""
    from manager.errors import ConfigError

    value = text.strip()
    m = _RELATIVE.match(value.lower())
    if m:
        return now_s - float(m.group(1)) * _UNIT_S[m.group(2)]
    if re.fullmatch(r"\d{9,}(\.\d+)?", value):
        return float(value)
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {text!r}: expected a duration (90m, 24h, 7d), an ISO date or datetime "
                          "(2026-12-01, 2026-12-01T08:00), or unix seconds", field="since", value=text) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def check_position(cfg: Any, name: str) -> None:
    """``ConfigError`` (with "did you mean") unless ``name`` is a position of ``cfg``."""
    import difflib

    from manager.errors import ConfigError

    names = [p.name for p in cfg.positions]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"no position named '{name}' in {cfg.source} (known: {', '.join(names)}){hint}")


def open_history(cfg: Any, *, dry_run: bool = False) -> Any:
    """The config's database (the dry run's with ``dry_run``) opened read-only; a one-line error before the
    first ``posman run``."""
    from manager.persistence import Database
    from manager.persistence.db import MissingDatabaseError

    url = cfg.storage.url_for(dry_run)
    try:
        return Database.open_read_only(url)
    except MissingDatabaseError as exc:
        what = "posman run --dry-run" if dry_run else "posman run"
        raise MissingDatabaseError(f"no history yet: {exc.path} does not exist; run '{what}' first",
                                   path=exc.path) from None


def add_dry_run_flag(p: Any) -> None:
    p.add_argument("--dry-run", action="store_true",
                   help="use the dry run's own database ([storage] dry_run_url, default posman-dryrun.sqlite)")
