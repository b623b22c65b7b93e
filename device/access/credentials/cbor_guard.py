"""Pre-scan CBOR bytes before cbor2 sees them.

cbor2 decodes recursively (a deep enough nesting exhausts the C or Python
stack), allocates containers as large as a header declares, and turns tags
into arbitrary Python objects. This walker reads only item headers, iteratively,
and enforces: one complete item with no trailing bytes, nesting depth and item
count limits, declared lengths that fit in the remaining bytes, definite
lengths only (the credential formats we read all use deterministic encoding),
an allow-list of tags, and map keys that are unique integers or strings. Only
bytes that pass are handed to ``cbor2.loads``.

Reasons: exceeding depth or item count is ``too_large`` (a resource limit);
any other violation is ``malformed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cbor2

from entryscan.device.errors import CredentialError
from entryscan.device.model import Reason

MAX_DEPTH = 16
MAX_ITEMS = 10_000
# 18 = COSE_Sign1, 61 = CWT. Date tags are not used by any format we read.
DEFAULT_TAGS = frozenset({18, 61})


def _header(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """Return (major type, additional info, argument, new position) of the item at ``pos``."""
    if pos >= len(data):
        raise CredentialError(Reason.MALFORMED, "CBOR ends inside an item")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        return major, info, info, pos
    if info in (24, 25, 26, 27):
        size = 1 << (info - 24)
        if pos + size > len(data):
            raise CredentialError(Reason.MALFORMED, "CBOR ends inside a header")
        return major, info, int.from_bytes(data[pos : pos + size], "big"), pos + size
    if info == 31:
        raise CredentialError(Reason.MALFORMED, "indefinite-length CBOR is not accepted")
    raise CredentialError(Reason.MALFORMED, "reserved CBOR additional information")


def scan(data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS,
         tags: Iterable[int] = DEFAULT_TAGS) -> None:
    """Raise CredentialError unless ``data`` is exactly one bounded, definite-length CBOR item."""
    allowed = frozenset(tags)
    levels = [_Level(1)]  # items still expected at each open nesting level
    pos = items = 0
    while levels:
        level = levels[-1]
        if level.left == 0:
            levels.pop()
            continue
        is_key = level.keys is not None and level.left % 2 == 0
        level.left -= 1
        items += 1
        if items > max_items:
            raise CredentialError(Reason.TOO_LARGE, f"CBOR has more than {max_items} items")
        start = pos
        major, info, arg, pos = _header(data, pos)
        remaining = len(data) - pos
        if major in (2, 3):
            if arg > remaining:
                raise CredentialError(Reason.MALFORMED, "CBOR string longer than the data")
            pos += arg
        if is_key:
            assert level.keys is not None
            _note_key(level.keys, major, arg, data[start:pos])
        if major in (4, 5, 6):
            count = arg * 2 if major == 5 else (1 if major == 6 else arg)
            if major == 6 and arg not in allowed:
                raise CredentialError(Reason.MALFORMED, f"CBOR tag {arg} is not accepted")
            # Every item takes at least one byte, so a larger count cannot be honest.
            if count > remaining:
                raise CredentialError(Reason.MALFORMED, "CBOR container larger than the data")
            levels.append(_Level(count, set() if major == 5 else None))
            if len(levels) - 1 > max_depth:
                raise CredentialError(Reason.TOO_LARGE, f"CBOR nested deeper than {max_depth}")
        elif major == 7 and info == 24 and arg < 32:
            raise CredentialError(Reason.MALFORMED, "invalid two-byte CBOR simple value")
    if pos != len(data):
        raise CredentialError(Reason.MALFORMED, "trailing bytes after the CBOR item")


class _Level:
    """One open array, map or tag: items still expected and, for a map, the keys seen so far."""

    __slots__ = ("keys", "left")

    def __init__(self, left: int, keys: set[tuple[int, object]] | None = None) -> None:
        self.left = left
        self.keys = keys


def _note_key(seen: set[tuple[int, object]], major: int, arg: int, encoded: bytes) -> None:
    """Map keys must be unique (RFC 8949 §5.6; COSE header labels, RFC 9052 §3): cbor2 keeps the last.

    Keys are compared by value, so 1 written in one byte and in two still collide. Every format we
    read keys its maps with integers or strings; any other key is malformed.
    """
    if major in (0, 1):
        key: tuple[int, object] = (major, arg)
    elif major in (2, 3):
        key = (major, encoded[len(encoded) - arg :] if arg else b"")
    else:
        raise CredentialError(Reason.MALFORMED, "CBOR map key is not an integer or a string")
    if key in seen:
        raise CredentialError(Reason.MALFORMED, "CBOR map repeats a key")
    seen.add(key)


def loads(data: bytes, *, max_depth: int = MAX_DEPTH, tags: Iterable[int] = DEFAULT_TAGS) -> Any:
    """Scan, then decode with cbor2; every decoding failure becomes malformed."""
    scan(data, max_depth=max_depth, tags=tags)
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CredentialError(Reason.MALFORMED, f"CBOR does not decode: {type(exc).__name__}") from None
