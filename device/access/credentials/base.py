"""The one interface every credential type implements.

A credential module recognises its own payloads cheaply (``matches``) and then
verifies them fully (``verify``), raising CredentialError with a stable reason
code on any failure. Verification never raises anything else: the policy
wraps each call, so a bug in a parser becomes a ``malformed`` deny, not a crash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from entryscan.device.errors import ConfigError
from entryscan.device.model import CredentialSummary


@dataclass(frozen=True, slots=True)
class Pseudonymizer:
    """Keyed, per-site pseudonyms: the same subject maps to the same value at one site only."""

    key: bytes

    def __call__(self, kind: str, identifier: str | bytes) -> str:
        raw = identifier.encode("utf-8") if isinstance(identifier, str) else identifier
        digest = hmac.new(self.key, kind.encode() + b"\x00" + raw, hashlib.sha256).digest()
        return digest[:16].hex()


@dataclass(frozen=True, slots=True)
class VerifyContext:
    """What a verifier may consult besides the payload. Built by the policy per scan."""

    now: dt.datetime
    clock_synced: bool
    site: str
    door: str
    pseudonymize: Callable[[str, str | bytes], str]


@dataclass(frozen=True, slots=True)
class Verified:
    """A credential that parsed and whose authenticity checks passed.

    The policy, not the verifier, decides time, scope, revocation and reuse, so the
    same rules apply to every type. ``not_before``/``not_after`` of ``None`` mean
    the credential is not time-bound.
    """

    summary: CredentialSummary
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    sites: tuple[str, ...] = ()
    doors: tuple[str, ...] = ()
    one_time: bool = False
    issuer: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def time_bound(self) -> bool:
        return self.not_before is not None or self.not_after is not None


class CredentialVerifier(Protocol):
    type: str

    def matches(self, payload: bytes) -> bool:
        """Cheap check (usually a prefix) whether this verifier owns the payload."""

    def verify(self, payload: bytes, ctx: VerifyContext) -> Verified:
        """Parse and authenticate; raise CredentialError(reason) on any failure."""


def read_list_file(path: Path, key: str) -> list[str]:
    """The lines of a config-named text file (BOM tolerated); a missing or unreadable file is a ConfigError."""
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise ConfigError(key, f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key, f"cannot read {path}: {exc}") from None
