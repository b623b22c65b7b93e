"""Badge lists: the simplest credential, a code printed on a card or sticker.

Codes are kept only as keyed hashes, so a copied config or memory dump does not
reveal the list, and the comparison is constant-time per candidate hash.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path

from entryscan.device.access.credentials.base import Verified, VerifyContext, read_list_file
from entryscan.device.errors import ConfigError, CredentialError
from entryscan.device.model import CredentialSummary, Reason

MAX_BADGE_LINE = 512


class BadgeList:
    """Matches any payload; grants only codes on the list."""

    type = "badge"

    def __init__(self, key: bytes, codes: Iterable[str]) -> None:
        self._key = key
        self._hashes = frozenset(self._hash(c) for c in codes)

    @classmethod
    def from_file(cls, key: bytes, path: Path) -> BadgeList:
        lines = read_list_file(path, "credentials.badge.codes_file")
        return cls(key, parse_badge_lines(lines, str(path)))

    def __len__(self) -> int:
        return len(self._hashes)

    def _hash(self, code: str | bytes) -> bytes:
        raw = code.encode("utf-8") if isinstance(code, str) else code
        return hmac.new(self._key, b"badge\x00" + raw, hashlib.sha256).digest()

    def matches(self, payload: bytes) -> bool:
        return True

    def verify(self, payload: bytes, ctx: VerifyContext) -> Verified:
        summary = CredentialSummary(type=self.type, subject=ctx.pseudonymize("badge", payload))
        if self._hash(payload) not in self._hashes:
            raise CredentialError(Reason.NOT_ALLOWED, "code is not on the badge list")
        return Verified(summary=summary)


def parse_badge_lines(lines: Iterable[str], origin: str) -> list[str]:
    """One code per line; blank lines and ``#`` comments are skipped."""
    codes = []
    for number, line in enumerate(lines, 1):
        code = line.strip()
        if not code or code.startswith("#"):
            continue
        if len(code) > MAX_BADGE_LINE:
            raise ConfigError("credentials.badge.codes_file", f"{origin}:{number}: code longer than {MAX_BADGE_LINE}")
        codes.append(code)
    return codes
