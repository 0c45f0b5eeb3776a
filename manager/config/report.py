"""Formatting of config problems as one line: ``file:line: field.path: what is wrong; got value``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from manager.config.types import PRIVATE_KEY_LIKE
from manager.errors import ConfigError

MISSING: Any = object()
"""Sentinel: no value to show (a missing key, or an unknown key whose value is never echoed)."""


def format_loc(loc: Sequence[str | int]) -> str:
    """``("positions", 2, "mode")`` -> ``positions[2].mode``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def show_value(value: Any) -> str:
    """``repr`` of a bad value, shortened; anything that looks like a private key is redacted."""
    text = repr(value)
    if PRIVATE_KEY_LIKE.search(text):
        return "<redacted: looks like a secret>"
    return text if len(text) <= 80 else text[:77] + "..."


def where(source: str, line: int | None) -> str:
    """``file:line``, or just ``file`` when the line is not known."""
    return f"{source}:{line}" if line is not None else source


def located_error(
    source: str, line: int | None, loc: Sequence[str | int], message: str, value: Any = MISSING
) -> ConfigError:
    """The one-line ``ConfigError`` for a problem at ``loc`` (line of ``source``, if known)."""
    text = f"{where(source, line)}: {format_loc(loc)}: {message}"
    if value is not MISSING:
        text += f"; got {show_value(value)}"
    return ConfigError(text, file=source, line=line, field=format_loc(loc))
