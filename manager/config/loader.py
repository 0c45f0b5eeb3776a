"""Load a TOML config file into ``Config``; every problem becomes a one-line, located ``ConfigError``.

The message names the file, the line (found with ``TomlLocator``: ``tomllib`` keeps no positions),
the field path, the offending value and what is allowed, e.g.::

    configs/prod.toml:41: positions[2].mode: input should be 'watch' or 'manage'; got 'wach'
    configs/prod.toml:12: chains.devnet.rpc_url: unknown key; did you mean 'rpc_urls'?

Later validators (a strategy validating ``positions.params`` against its own model) point at the
same file and line with ``cfg.error(loc, msg)`` or ``params_error(cfg, loc_prefix, exc)``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Sequence
from inspect import isclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from manager.config.locate import Loc, TomlLocator
from manager.config.report import MISSING, format_loc, located_error, where
from manager.config.schema import PROTOCOL_KINDS, Config, CrossCheckFailed, mask_url
from manager.errors import ConfigError

MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_NESTING = 32  # tables/arrays deeper than this are refused before parsing (tomllib recurses)
_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_EOF = re.compile(r"\s*\(at end of document\)\s*$")


# ------------------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------------------
def load_config(path: str | Path) -> Config:
    """Read, parse and validate the config file at ``path``.

    Relative paths inside it (sqlite file, keystores) resolve against the file's directory.
    Raises ``ConfigError`` (one line: file, line, field, value, what is allowed).
    """
    path = Path(path)
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}", file=str(path)) from None
    # NOTE: a FIFO or a device would block the read forever (or stream without end): only regular files
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device)"
        raise ConfigError(f"config file {path} is {kind}", file=str(path))
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024 // 1024} MiB", file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}", file=str(path)) from None
    return parse_config(text, source=str(path), base_dir=path.resolve().parent)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate TOML ``text`` as a config; ``source`` names it in errors (usually the file path)."""
    _check_nesting(text, source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, source) from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid TOML: nested deeper than {MAX_NESTING} levels", file=source) from None
    locator = TomlLocator(text)
    try:
        cfg = Config.model_validate(data, context={"base_dir": base_dir} if base_dir is not None else None)
    except ValidationError as exc:
        raise _validation_error(exc, source, locator, (), root=Config) from None
    cfg._source = source
    cfg._locator = locator
    return cfg


def _check_nesting(text: str, source: str) -> None:
    """Refuse inline arrays/tables nested deeper than ``MAX_NESTING`` (outside strings and comments), with the line."""
    depth, line, quote, i, n = 0, 1, "", 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif ch in "[{" and depth >= 0:
            depth += 1
            if depth > MAX_NESTING:
                raise ConfigError(f"{where(source, line)}: invalid TOML: nested deeper than {MAX_NESTING} levels",
                                  file=source, line=line)
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1


def params_error(
    cfg: Config,
    loc_prefix: Sequence[str | int],
    exc: ValidationError,
    model: type[BaseModel] | None = None,
) -> ConfigError:
    """Turn the ``ValidationError`` of a sub-model validated after loading into a located ``ConfigError``.

    Example: ``StrategyConfig.model_validate(pos.params)`` failed; ``loc_prefix`` is
    ``("positions", i, "params")``; the error names the exact params key, its line, and (with
    ``model``) suggests close key names for an unknown one.
    """
    return _validation_error(exc, cfg.source, cfg._locator, tuple(loc_prefix), root=model)


# ------------------------------------------------------------------------------------------------
# formatting
# ------------------------------------------------------------------------------------------------
def _toml_error(exc: tomllib.TOMLDecodeError, source: str) -> ConfigError:
    msg = str(exc)
    m = _TOML_POS.search(msg)
    line = int(m.group(1)) if m else None
    msg = _TOML_EOF.sub(" (at end of file)", _TOML_POS.sub("", msg))
    return ConfigError(f"{where(source, line)}: invalid TOML: {msg}", file=source, line=line)


def _clean_msg(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg[:1].lower() + msg[1:] if msg[:2] != msg[:2].upper() else msg


def _strip_tags(loc: Loc, root: Any) -> Loc:
    """Drop pydantic's union tags from a location (``protocols.0.<kind>.x`` -> ``protocols.0.x``)."""
    out: list[str | int] = []
    tp: Any = root
    for part in loc:
        tp, is_tag = _step(tp, part)
        if not is_tag:
            out.append(part)
    return tuple(out)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _step(tp: Any, part: str | int) -> tuple[Any, bool]:
    """Follow one location part through the schema. Returns (type there, part was a union tag)."""
    tp = _unwrap(tp)
    if tp is None:
        return None, False
    if isclass(tp) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(part))
        return (field.annotation if field is not None else None), False
    origin = typing.get_origin(tp)
    if origin is list and isinstance(part, int):
        return typing.get_args(tp)[0], False
    if origin is dict:
        return typing.get_args(tp)[1], False
    if origin in (typing.Union, types.UnionType):
        # a discriminated union: pydantic puts the tag value in the location
        for member in typing.get_args(tp):
            for f in getattr(member, "model_fields", {}).values():
                if typing.get_origin(f.annotation) is typing.Literal and part in typing.get_args(f.annotation):
                    return member, True
    return None, False


def _fields_at(loc: Loc, root: Any) -> list[str] | None:
    tp: Any = root
    for part in loc:
        tp, _ = _step(tp, part)
    tp = _unwrap(tp)
    if isclass(tp) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return None


def _suggest(loc: Loc, root: Any) -> str | None:
    """The schema key closest to the unknown key at ``loc``, if one is close enough."""
    allowed = _fields_at(loc[:-1], root) if root is not None else None
    close = difflib.get_close_matches(str(loc[-1]), allowed or [], n=1, cutoff=0.6)
    return close[0] if close else None


def _describe(err: ErrorDetails, loc: Loc, root: Any) -> tuple[str, Any]:
    """Message and shown value of one pydantic error."""
    kind = err["type"]
    value = err.get("input", MISSING)
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1], root) if root is not None else None
        msg = "unknown key"
        if allowed:
            close = _suggest(loc, root)
            if close:
                msg += f"; did you mean '{close}'?"
            msg += f" (allowed: {', '.join(allowed)})"
        return msg, MISSING  # NOTE: never echo an unknown key's value: it may be a pasted secret
    if loc == ("chains",) and kind in ("missing", "too_short"):
        return "at least one [chains.<name>] table is required", MISSING
    if kind == "missing":
        return "missing required key", MISSING
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        ctx = err.get("ctx", {})
        tag = str(ctx.get("discriminator", "'kind'")).strip("'")
        expected = ctx.get("expected_tags") or (", ".join(f"'{k}'" for k in PROTOCOL_KINDS) if tag == "kind" else "")
        if kind == "union_tag_not_found":
            return f"missing '{tag}'" + (f" (allowed: {expected})" if expected else ""), MISSING
        return f"unknown {tag} (allowed: {expected})", ctx.get("tag", value)
    if kind in ("dict_type", "model_type", "model_attributes_type") and isinstance(value, (str, int, float, list)):
        return "expected a table", value
    return _clean_msg(err["msg"]), value


def _validation_error(
    exc: ValidationError,
    source: str,
    locator: TomlLocator | None,
    prefix: Loc,
    root: type[BaseModel] | None,
) -> ConfigError:
    found: list[tuple[int | None, Loc, str, Any]] = []
    errors = exc.errors(include_url=False)
    # NOTE: a misspelt key is reported as "unknown key; did you mean X?" only, not also as
    # "X: missing required key".
    misspelt = {
        (*tuple(e["loc"])[:-1], hint)
        for e in errors
        if e["type"] == "extra_forbidden" and (hint := _suggest(tuple(e["loc"]), root)) is not None
    }
    for err in errors:
        if err["type"] == "missing" and tuple(err["loc"]) in misspelt:
            continue
        cross = err.get("ctx", {}).get("error")
        if isinstance(cross, CrossCheckFailed):
            for p in cross.problems:
                line = locator.line_of(p.loc) if locator else None
                found.append((line, p.loc, p.message, p.value if p.value is not None else MISSING))
            continue
        raw_loc = tuple(err["loc"])
        loc = prefix + (_strip_tags(raw_loc, root) if root is not None else raw_loc)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, str(err.get("ctx", {}).get("discriminator", "kind")).strip("'"))
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
            msg = "invalid name (letters, digits, '_', '-', '.'; at most 64)"
            found.append((locator.line_of(loc) if locator else None, loc, msg, loc[-1] if loc else MISSING))
            continue
        msg, value = _describe(err, raw_loc, root)
        if "rpc_urls" in loc and value is not MISSING:  # NOTE: RPC URLs may embed API keys
            value = [mask_url(v) if isinstance(v, str) else v for v in value] if isinstance(value, list) else (
                mask_url(value) if isinstance(value, str) else value)
        found.append((locator.line_of(loc) if locator else None, loc, msg, value))
    found.sort(key=lambda f: (f[0] is None, f[0] or 0))
    line, loc, msg, value = found[0]
    err_obj = located_error(source, line, loc, msg, value)
    if len(found) > 1:
        more = ", ".join(f"{format_loc(f[1])}" + (f" (line {f[0]})" if f[0] else "") for f in found[1:4])
        extra = len(found) - 1
        err_obj = ConfigError(
            f"{err_obj.message} [+{extra} more: {more}{', ...' if extra > 3 else ''}]",
            **err_obj.context,
        )
    err_obj.context["problems"] = [located_error(source, f[0], f[1], f[2], f[3]).message for f in found]
    err_obj.problems = err_obj.context["problems"]  # type: ignore[attr-defined]
    return err_obj
