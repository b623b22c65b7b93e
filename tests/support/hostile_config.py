"""Generated corruptions of a valid device config (reliability scenario 14).

Two families: text damage (truncation, stray or invalid bytes, duplicated lines) on the
hand-written base, and structural damage (wrong types, huge values, deep nesting, bad
unicode, unknown or missing keys) on its parsed form, written back as TOML by ``to_toml``.
Every case is reproducible from its seed.
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from collections.abc import Callable
from dataclasses import dataclass

BASE = """\
# A valid door: every section the firmware knows, with files that exist beside it.
[device]
id = "door-1"
site = "hq"
door = "main"

[camera]
source = "dir:frames"
size = [640, 480]
fps = 15
timeout_s = 2.0
autofocus = "continuous"
lens_position = 4.0

[decoder]
backend = "zxing"
debounce_s = 3.0
max_payload_bytes = 4096

[feedback]
green_pin = 17
red_pin = 27
buzzer_pin = 22
accept_s = 1.5
deny_s = 1.5

[relay]
pin = 23
active_low = false
pulse_s = 3.0

[tamper]
pin = 5
lockout = true

[policy]
mode = "allowlist"
require_synced_clock = true
direction = "in"
passback_window_s = 600

[mqtt]
url = "mqtt://127.0.0.1:1"
topic_prefix = "entryscan"
client_id = "door-1-client"
keepalive_s = 30
session_expiry_s = 3600
max_inflight = 20
state_interval_s = 60
discovery = true
discovery_prefix = "homeassistant"

[journal]
path = "state/journal.db"
max_rows = 1000
on_storage_fault = "decide"

[privacy]
share = ["name"]
retention_days = 30

[credentials.badge]
codes_file = "badges.txt"
"""


@dataclass(frozen=True)
class Raw:
    """A TOML token written as is (numbers Python cannot print, nesting, dates)."""

    text: str


@dataclass(frozen=True)
class Case:
    seed: int
    kind: str
    data: bytes


def to_toml(table: dict[str, object]) -> str:
    """Top-level keys with inline tables: valid TOML for any dict of TOML-expressible values."""
    return "".join(f"{_key(k)} = {_value(v)}\n" for k, v in table.items())


def _key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def _value(value: object) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _nested(depth: int, table: bool) -> Raw:
    return Raw("{a = " * depth + "1" + "}" * depth if table else "[" * depth + "]" * depth)


HUGE: list[Callable[[random.Random], object]] = [
    lambda r: Raw("9" * r.choice([4301, 5000, 20000])),
    lambda r: Raw("-" + "9" * 4400),
    lambda r: r.choice([10**30, -(10**30), 2**63, -1, 0, 1e308, -1e308, 5e-324]),
    lambda r: Raw(r.choice(["inf", "-inf", "nan", "+nan", "1e400"])),
    lambda r: "A" * r.choice([300, 5000, 70000]),
    lambda r: [r.randint(0, 9)] * r.choice([3, 1000, 50000]),
]
BAD_TEXT = ["\u0000", "a\u0000b", "\u202eevil", "\x1b[31mred", "caf\u00e9", "\U0001f600", "\ufeffid", "a\nb",
            "", " ", "door 1", "../../etc/passwd", "dir:", "dir:\u0000", "~nosuchuser/x", "\\\\?\\C:", "%s%n"]
TYPES: list[object] = [0, -1, 1.5, "x", "", True, False, [], [1, "a"], {}, {"a": 1}, Raw("1979-05-27T07:32:00Z"),
                       Raw("07:32:00"), Raw("1979-05-27")]
UNKNOWN_KEYS = ["colour", "", " ", "a.b", "x" * 5000, "new\nline", "\u0000", "ID", "Device", "url "]


def _pick_path(r: random.Random, table: dict[str, object]) -> tuple[dict[str, object], str]:
    """A random (container, key) in the nested tables, for replacing or deleting one value."""
    container: dict[str, object] = table
    key = r.choice(list(container))
    while isinstance(container[key], dict) and container[key] and r.random() < 0.8:
        container = container[key]  # type: ignore[assignment]
        key = r.choice(list(container))
    return container, key


def _structural(r: random.Random) -> tuple[str, bytes]:
    table: dict[str, object] = tomllib.loads(BASE)
    container, key = _pick_path(r, table)
    kind = r.choice(["flip_type", "huge", "deep", "bad_unicode", "unknown_key", "remove_key", "section_scalar"])
    if kind == "flip_type":
        container[key] = r.choice(TYPES)
    elif kind == "huge":
        container[key] = r.choice(HUGE)(r)
    elif kind == "deep":
        container[key] = _nested(r.choice([2, 40, 200, 900, 3000, 20000]), table=r.random() < 0.5)
    elif kind == "bad_unicode":
        container[key] = r.choice(BAD_TEXT) if r.random() < 0.8 else [r.choice(BAD_TEXT)]
    elif kind == "unknown_key":
        container[r.choice(UNKNOWN_KEYS)] = r.choice(TYPES)
    elif kind == "remove_key":
        del container[key]
    else:
        section = r.choice(list(table))
        table[section] = r.choice([1, "mqtt", [], [{}], True])
    return kind, to_toml(table).encode("utf-8")


def _textual(r: random.Random) -> tuple[str, bytes]:
    data = BASE.encode("utf-8")
    lines = data.splitlines(keepends=True)
    at = r.randrange(len(data) + 1)
    kind = r.choice(["truncate", "drop_line", "duplicate_line", "garbage", "flip_byte", "invalid_utf8",
                     "append_deep", "append_huge_int", "bom", "empty"])
    if kind == "truncate":
        return kind, data[:at]
    if kind in ("drop_line", "duplicate_line"):
        i = r.randrange(len(lines))
        lines[i:i + 1] = [] if kind == "drop_line" else [lines[i], lines[i]]
        return kind, b"".join(lines)
    if kind == "garbage":
        return kind, data[:at] + bytes(r.randrange(256) for _ in range(r.randint(1, 40))) + data[at:]
    if kind == "flip_byte":
        i = r.randrange(len(data))
        return kind, data[:i] + bytes([data[i] ^ (1 << r.randrange(8))]) + data[i + 1:]
    if kind == "invalid_utf8":
        return kind, data[:at] + r.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]) + data[at:]
    if kind == "append_deep":
        return kind, data + b"x = " + _nested(r.choice([500, 5000, 100000]), r.random() < 0.5).text.encode() + b"\n"
    if kind == "append_huge_int":
        return kind, data.replace(b"max_rows = 1000", b"max_rows = " + b"1" * r.choice([4300, 4301, 50000]))
    if kind == "bom":
        return kind, b"\xef\xbb\xbf" + data
    return kind, b""


def generate(count: int, first_seed: int = 0) -> list[Case]:
    cases = []
    for seed in range(first_seed, first_seed + count):
        r = random.Random(seed)
        kind, data = (_structural if r.random() < 0.65 else _textual)(r)
        cases.append(Case(seed, kind, data))
    return cases
