"""Strict, bounded JSON for scanned payloads.

Python's json module recurses once per nesting level and silently keeps the
last of duplicate keys; a scanned payload gets neither: nesting is pre-scanned
iteratively, duplicates and a UTF-8 BOM are malformed, and so are NaN and
Infinity, which are not JSON. An integer too long for Python's int() (over
4,300 digits) is malformed too, never a stray ValueError.
"""

from __future__ import annotations

import json
from typing import Any

from entryscan.device.errors import CredentialError
from entryscan.device.model import Reason

MAX_DEPTH = 32


def _depth_ok(text: str, max_depth: int) -> bool:
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise CredentialError(Reason.MALFORMED, "duplicate key in JSON")
    return out


def _no_constant(name: str) -> Any:
    raise CredentialError(Reason.MALFORMED, f"{name} is not JSON")


def loads(data: bytes, what: str, max_depth: int = MAX_DEPTH) -> Any:
    if data.startswith(b"\xef\xbb\xbf"):
        raise CredentialError(Reason.MALFORMED, f"{what} starts with a byte order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(Reason.MALFORMED, f"{what} is not UTF-8") from None
    if not _depth_ok(text, max_depth):
        raise CredentialError(Reason.TOO_LARGE, f"{what} nests deeper than {max_depth}")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and Python's refusal of integers over 4,300 digits.
        raise CredentialError(Reason.MALFORMED, f"{what} is not valid JSON") from None
