"""Map a config field path to the line of the TOML file that set it.

``tomllib`` returns plain dicts without positions, so this module scans the raw text once and records
the line of every table header and every key, under the same path shape pydantic uses in its error
locations: ``("positions", 2, "mode")`` is the ``mode`` key inside the third ``[[positions]]`` table,
``("chains", "devnet", "rpc_urls")`` is the ``rpc_urls`` key in ``[chains.devnet]``.

It is a line scanner, not a TOML parser: the file has already been parsed by ``tomllib`` (so it is
valid TOML) and the scanner only has to follow headers, dotted/quoted keys, and skip the inside of
multi-line strings and arrays. Values inside arrays and inline tables map to their key's line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Loc = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _split_key(text: str) -> tuple[list[str], str] | None:
    """Split a (possibly dotted, possibly quoted) TOML key at the start of ``text``.

    Returns the key parts and the rest of the text after the key, or None if ``text`` does not start
    with a key.
    """
    parts: list[str] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        ch = text[i]
        if ch in "\"'":
            end = i + 1
            buf = []
            while end < n and text[end] != ch:
                if ch == '"' and text[end] == "\\" and end + 1 < n:
                    buf.append(text[end + 1])
                    end += 2
                    continue
                buf.append(text[end])
                end += 1
            if end >= n:
                return None
            parts.append("".join(buf))
            i = end + 1
        else:
            m = _BARE_KEY.match(text, i)
            if not m:
                return None
            parts.append(m.group(0))
            i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == ".":
            i += 1
            continue
        return parts, text[i:]


def _value_state(value: str) -> tuple[int, str | None]:
    """Net bracket depth opened by ``value`` and an unterminated multi-line string delimiter, if any.

    Strings are skipped so that brackets inside them do not count; comments end the scan.
    """
    depth = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if value.startswith('"""', i) or value.startswith("'''", i):
            delim = value[i : i + 3]
            end = value.find(delim, i + 3)
            if end < 0:
                return depth, delim
            i = end + 3
            continue
        if ch in "\"'":
            end = i + 1
            while end < n and value[end] != ch:
                end += 2 if (ch == '"' and value[end] == "\\") else 1
            i = end + 1
            continue
        if ch == "#":
            break
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        i += 1
    return depth, None


class TomlLocator:
    """Line numbers (1-based) of the tables and keys of one TOML document."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Loc, int] = {}
        self._scan(text)

    def _record(self, path: Loc, line: int) -> None:
        self.lines.setdefault(path, line)

    def _resolve(self, parts: Sequence[str], arrays: dict[Loc, int]) -> Loc:
        """Insert the current element index after every array-of-tables prefix."""
        resolved: Loc = ()
        for part in parts:
            resolved = (*resolved, part)
            if resolved in arrays:
                resolved = (*resolved, arrays[resolved])
        return resolved

    def _scan(self, text: str) -> None:
        arrays: dict[Loc, int] = {}
        table: Loc = ()
        depth = 0  # open brackets of a multi-line array / inline table value
        in_string: str | None = None  # delimiter of an open multi-line string
        for lineno, raw in enumerate(text.splitlines(), start=1):
            if in_string is not None:
                if in_string in raw:
                    rest = raw.split(in_string, 1)[1]
                    in_string = None
                    if depth > 0:  # the string was an element of a multi-line array
                        d, in_string = _value_state(rest)
                        depth += d
                continue
            if depth > 0:
                d, in_string = _value_state(raw)
                depth += d
                continue
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[["):
                split = _split_key(line[2:])
                if split is None:
                    continue
                parts, _ = split
                prefix = self._resolve(parts[:-1], arrays)
                full = (*prefix, parts[-1])
                arrays[full] = arrays.get(full, -1) + 1
                table = (*full, arrays[full])
                self._record(full, lineno)
                self._record(table, lineno)
                continue
            if line.startswith("["):
                split = _split_key(line[1:])
                if split is None:
                    continue
                table = self._resolve(split[0], arrays)
                for k in range(1, len(table) + 1):
                    self._record(table[:k], lineno)
                continue
            split = _split_key(line)
            if split is None:
                continue
            parts, rest = split
            if not rest.startswith("="):
                continue
            path = (*table, *parts)
            for k in range(len(table) + 1, len(path) + 1):
                self._record(path[:k], lineno)
            depth, in_string = _value_state(rest[1:])

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Line of the deepest part of ``loc`` that appears in the file.

        Parts that are not in the file (a pydantic union tag (a protocol entry's ``kind``), a missing key, an
        index into an array value) are skipped, so a missing key maps to its table's header line and
        ``("chains", "devnet", "rpc_urls", 1)`` maps to the ``rpc_urls`` line.
        """
        best: int | None = None
        path: Loc = ()
        for part in loc:
            candidate = (*path, part)
            if candidate in self.lines:
                path = candidate
                best = self.lines[candidate]
        return best
