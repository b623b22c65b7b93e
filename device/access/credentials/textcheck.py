"""Text fields from scanned credentials end up on screens, in logs and in JSON.

C0/C1 controls (log forging, terminal escapes, NUL) and bidi overrides
(Trojan-Source style spoofing of names) are rejected rather than stripped: a
credential that carries them was not produced by an honest issuer. Accepted
text is NFC-normalised so that the same name compares equal however it was
composed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from entryscan.device.errors import CredentialError
from entryscan.device.model import Reason

# Unicode categories Cc (C0, DEL, C1) and Cs (surrogates) plus the bidi controls, as one regex:
# a per-character category lookup cost ~0.2 ms on a SMART Health Card.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean_text(value: object, field: str, max_len: int = 1024) -> str:
    """Return ``value`` NFC-normalised, or raise malformed if it is not safe plain text."""
    if not isinstance(value, str):
        raise CredentialError(Reason.MALFORMED, f"{field} is not text")
    if len(value) > max_len:
        raise CredentialError(Reason.MALFORMED, f"{field} is longer than {max_len} characters")
    if _UNSAFE.search(value):
        raise CredentialError(Reason.MALFORMED, f"{field} contains a control or bidi character")
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)


def check_tree(value: object, field: str, budget: int = 10_000) -> None:
    """Apply :func:`clean_text` to every string (keys too) inside decoded JSON/CBOR data.

    Iterative on purpose: the data came from an attacker and its depth is only
    bounded by the parser's own limits.
    """
    stack: list[object] = [value]
    while stack:
        budget -= 1
        if budget < 0:
            raise CredentialError(Reason.TOO_LARGE, f"{field} has too many items")
        item = stack.pop()
        if isinstance(item, str):
            clean_text(item, field, max_len=4096)
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
