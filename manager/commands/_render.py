"""Terminal output: ``rich`` tables (colour by risk band) on a terminal, plain text otherwise.

A command prints the plain table (stable, what scripts and the tests read) unless stdout is a terminal
(or ``POSMAN_RICH=1``, e.g. for ``| less -R``), ``--json`` is not given and ``POSMAN_PLAIN`` is unset; then it
prints the same rows as a ``rich`` table, coloured by band. ``progress(...)`` shows a spinner on a terminal (stderr) and nothing otherwise.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

# health factor bands -> style (the alert rules' defaults: warning below 1.5, critical below 1.2)
BAND_STYLES = (("liquidatable", 1.0, "bold white on red"), ("critical", 1.2, "bold red"),
               ("warning", 1.5, "yellow"), ("ok", float("inf"), "green"))
SEVERITY_STYLES = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
BAND_RANK = {"liquidatable": 0, "critical": 1, "warning": 2, "ok": 3}


def use_rich(json_out: bool = False, stream: Any = None) -> bool:
    """Whether to print ``rich`` tables: a terminal, no ``--json``, no ``POSMAN_PLAIN``."""
    stream = stream or sys.stdout
    if json_out or os.environ.get("POSMAN_PLAIN"):
        return False
    return bool(os.environ.get("POSMAN_RICH")) or bool(getattr(stream, "isatty", lambda: False)())


def band(health: float | None, warning: float = 1.5, critical: float = 1.2) -> tuple[str, str]:
    """(band name, rich style) of a health factor (None = no debt: ok)."""
    if health is None:
        return "ok", "green"
    if health < 1.0:
        return "liquidatable", BAND_STYLES[0][2]
    if health < critical:
        return "critical", BAND_STYLES[1][2]
    if health < warning:
        return "warning", BAND_STYLES[2][2]
    return "ok", "green"


def plain_table(head: Sequence[str], rows: Sequence[Sequence[str]], left: set[int] | None = None) -> str:
    """Aligned columns, a dashed rule under the head; columns in ``left`` are left-aligned, others right."""
    left = {0} if left is None else left
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i in left else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*r) for r in rows]
    return "\n".join(line.rstrip() for line in out)


def print_rich_table(title: str | None, head: Sequence[str], rows: Sequence[Sequence[str]],
                     styles: Sequence[str | None], left: set[int] | None = None, caption: str | None = None) -> None:
    """The rows as a ``rich`` table on stdout, row ``i`` in ``styles[i]``."""
    from rich.console import Console
    from rich.table import Table

    left = {0} if left is None else left
    table = Table(title=title, caption=caption, header_style="bold", show_lines=False)
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i in left else "right", overflow="fold")
    for row, style in zip(rows, styles, strict=True):
        table.add_row(*row, style=style)
    Console().print(table)


@contextlib.contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner with ``message`` on stderr while the block runs (only on a terminal)."""
    if not use_rich(stream=sys.stderr):
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield
