"""Turn parsed TOML tables into frozen dataclasses, rejecting anything unexpected.

Kept apart from the schema itself (``entryscan.device.config.settings``) so the schema reads as a
plain list of settings. Rules, as Frigate's ``extra="forbid"``: unknown keys,
wrong types and impossible values raise ConfigError naming the dotted key.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from entryscan.device.errors import ConfigError

T = TypeVar("T")
MAX_STRING_CHARS = 4096  # PATH_MAX; no setting needs more
NAME_MAX_BYTES = 255
QUOTE_CHARS = 40


def brief(value: object) -> str:
    """A short quote of an offending value for an error line (never the whole of a 2 MB string)."""
    try:
        text = repr(value) if not isinstance(value, str) else repr(value[: QUOTE_CHARS + 1])
    except (ValueError, RecursionError):  # a huge int or a deeply nested list
        return f"a {type(value).__name__}"
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def build(cls: type[T], table: object, where: str, base: Path) -> T:
    """Build dataclass ``cls`` from ``table``; ``where`` is the dotted key prefix."""
    if not isinstance(table, Mapping):
        raise ConfigError(where, f"must be a table, not {_kind(table)}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = {f.name for f in fields}
    unknown = sorted(k for k in table if k not in names)
    if unknown:
        raise ConfigError(_join(where, unknown[0]), f"unknown key (expected one of: {', '.join(sorted(names))})")
    values: dict[str, Any] = {}
    for f in fields:
        key = _join(where, f.name)
        if f.name in table:
            values[f.name] = coerce(hints[f.name], table[f.name], key, base)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(key, "is required")
    obj = cls(**values)
    check = getattr(obj, "check", None)
    if check is not None:
        check(where)
    return obj


def coerce(hint: Any, value: object, key: str, base: Path) -> Any:
    """Check ``value`` against the type ``hint`` and convert it where TOML can't express the type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return coerce(options[0], value, key, base)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(key, f"must be one of {', '.join(map(repr, choices))} (got {brief(value)})")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(key, f"must be a list, not {_kind(value)}")
        item = typing.get_args(hint)[0]
        return tuple(coerce(item, v, f"{key}[{i}]", base) for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return build(typing.cast(type, hint), value, key, base)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except (ValueError, TypeError):
            allowed = ", ".join(repr(m.value) for m in hint)
            raise ConfigError(key, f"must be one of {allowed} (got {brief(value)})") from None
    return _scalar(hint, value, key, base)


def _scalar(hint: Any, value: object, key: str, base: Path) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, not {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be an integer, not {_kind(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"must be a number, not {_kind(value)}")
        try:
            number = float(value)
        except OverflowError:
            raise ConfigError(key, "is far too large") from None
        if not math.isfinite(number):
            raise ConfigError(key, f"must be a finite number (got {brief(value)})")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, not {_kind(value)}")
        return _text(value, key)
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(key, "must be a non-empty path string")
        return resolve_path(_text(value, key), key, base)
    raise TypeError(f"config schema uses unsupported type {hint!r} at {key}")


def _text(value: str, key: str) -> str:
    if len(value) > MAX_STRING_CHARS:
        raise ConfigError(key, f"is longer than {MAX_STRING_CHARS} characters (starts {brief(value)})")
    if "\0" in value:
        raise ConfigError(key, f"must not contain a NUL character (got {brief(value)})")
    return value


def resolve_path(value: str, key: str, base: Path) -> Path:
    """``value`` relative to the config file's folder; a name the file system would refuse is a config error."""
    try:
        path = Path(value).expanduser()
        encoded = [os.fsencode(part) for part in path.parts]
    except (RuntimeError, UnicodeError):  # "~nosuchuser", a lone surrogate
        raise ConfigError(key, f"is not a usable path (got {brief(value)})") from None
    if any(len(part) > NAME_MAX_BYTES for part in encoded):
        raise ConfigError(key, f"has a path component longer than {NAME_MAX_BYTES} bytes (got {brief(value)})")
    return path if path.is_absolute() else (base / path)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _kind(value: object) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
