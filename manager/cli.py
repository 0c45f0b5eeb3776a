"""``posman`` command line.

Each sub-command lives in its own module that exposes ``register(subparsers)``; the module must stay
cheap to import (heavy imports such as web3 go inside the handler). Errors the manager raises on
purpose (``PosmanError``) print as one line on stderr with a non-zero exit and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from manager import __version__
from manager.errors import PosmanError

# Modules that contribute sub-commands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "manager.commands.init",
    "manager.devnet.cli",
    "manager.commands.status",
    "manager.commands.plan",
    "manager.commands.run",
    "manager.commands.history",
    "manager.commands.alerts",
    "manager.commands.pause",
    "manager.commands.multicall",
    "manager.commands.executor",
    "manager.commands.allowlist",
    "manager.commands.demo",
)


LOG_LEVELS = ("debug", "info", "warning", "error")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="posman", description="Self-hosted DeFi position manager.")
    parser.add_argument("--version", action="version", version=f"posman {__version__}")
    env_level = os.environ.get("POSMAN_LOG_LEVEL", "").lower() or None
    parser.add_argument("--log-level", default=env_level if env_level in LOG_LEVELS else None, choices=LOG_LEVELS,
                        help="log level on stderr (default: error, 'posman run' info; env POSMAN_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _accept_log_level_anywhere(sub)
    return parser


def _accept_log_level_anywhere(sub: argparse._SubParsersAction) -> None:
    """``posman status --log-level debug ...`` works like ``posman --log-level debug status ...``.

    NOTE: the sub-command's copy defaults to SUPPRESS so that it never overwrites a value given before
    the sub-command (or taken from POSMAN_LOG_LEVEL).
    """
    for parser in dict.fromkeys(sub.choices.values()):
        if not any("--log-level" in a.option_strings for a in parser._actions):
            parser.add_argument("--log-level", choices=LOG_LEVELS, default=argparse.SUPPRESS,
                                help="log level on stderr (also accepted before the sub-command)")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_log_level_anywhere(action)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import logging

    level = args.log_level or getattr(args, "default_log_level", "error")
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
        return int(result or 0)
    except PosmanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line unless asked for the traceback
        if os.environ.get("POSMAN_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:400]} "
            "(set POSMAN_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    raise SystemExit(main())
