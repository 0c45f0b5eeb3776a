"""Logging for the long-running commands: one line per event, ``key=value`` fields, on stderr."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def setup_logging(level: str = "INFO", *, stream=None) -> None:  # type: ignore[no-untyped-def]
    """Configure the root logger once (idempotent); noisy libraries stay at WARNING."""
    root = logging.getLogger()
    if not root.handlers:  # the CLI configures the root handler; only add one when nobody did
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._posman = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("urllib3", "web3", "apscheduler", "mail.log", "asyncio", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
