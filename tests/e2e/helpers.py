"""Shared setup of the end-to-end tests: the demo's managed ``cdp`` position, the repository root (for
``python -m manager`` subprocesses) and a ``posman.toml`` written like the demo writes it (``write_config``)
for positions opened on the devnet first."""

from __future__ import annotations

from pathlib import Path

from manager.demo.scenario import POSITIONS, DemoPosition, open_position, write_config
from manager.devnet.net import Devnet

CDP = next(p for p in POSITIONS if p.name == "cdp")
ROOT = Path(__file__).resolve().parents[2]


def demo_config(net: Devnet, folder: Path, positions: tuple[DemoPosition, ...] = (CDP,),
                opened: tuple[DemoPosition, ...] | None = None) -> Path:
    """Open ``opened`` (default: ``positions``) on ``net``, then write ``folder/posman.toml`` managing
    ``positions`` (no webhook, no SMTP, SQLite in ``folder/db.sqlite``); returns its path."""
    for spec in positions if opened is None else opened:
        open_position(net, spec)
    path = folder / "posman.toml"
    write_config(path, net, webhook_url=None, smtp_port=None, db_url=f"sqlite:///{folder / 'db.sqlite'}",
                 positions=positions)
    return path
