"""Turn parsed TOML tables into frozen dataclasses, rejecting anything unexpected.

Kept apart from the schema itself (``entryscan.device.config.settings``) so the schema reads as a
plain list of settings. Rules, as Frigate's ``extra="forbid"``: unknown keys,
wrong types and impossible values raise ConfigError naming the dotted key.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from entryscan.device.errors import ConfigError

T = TypeVar("T")


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
            raise ConfigError(key, f"must be one of {', '.join(map(repr, choices))} (got {value!r})")
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
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in hint)
            raise ConfigError(key, f"must be one of {allowed} (got {value!r})") from None
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
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, not {_kind(value)}")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(key, "must be a non-empty path string")
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base / path)
    raise TypeError(f"config schema uses unsupported type {hint!r} at {key}")


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _kind(value: object) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
