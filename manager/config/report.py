"""Formatting of config problems as one line: ``file:line: field.path: what is wrong; got value``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from manager.errors import ConfigError

MISSING: Any = object()
"""Sentinel: no value to show (a missing key, or an unknown key whose value is never echoed)."""

_SECRET_LIKE = re.compile(r"(0x)?[0-9a-fA-F]{64}")


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
    if _SECRET_LIKE.search(text):
        return "<redacted: looks like a secret>"
    return text if len(text) <= 80 else text[:77] + "..."


def located_error(
    source: str, line: int | None, loc: Sequence[str | int], message: str, value: Any = MISSING
) -> ConfigError:
    """The one-line ``ConfigError`` for a problem at ``loc`` (line of ``source``, if known)."""
    where = f"{source}:{line}" if line is not None else source
    text = f"{where}: {format_loc(loc)}: {message}"
    if value is not MISSING:
        text += f"; got {show_value(value)}"
    return ConfigError(text, file=source, line=line, field=format_loc(loc))
