"""Value types that travel along the scan path: frames, codes, decisions."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    GreyImage = npt.NDArray[np.uint8]
else:
    # numpy is the door's (extra `door`): the collector's simulated doors use these types on a machine without
    # it. Only type checkers read the alias; at run time it stands in where an alias is evaluated.
    GreyImage = Any


class Reason(enum.StrEnum):
    """Stable reason codes (ARCHITECTURE.md). Existing values never change meaning."""

    OK = "ok"
    UNKNOWN_FORMAT = "unknown_format"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    NOT_ALLOWED = "not_allowed"
    WRONG_SITE = "wrong_site"
    ALREADY_USED = "already_used"
    PASSBACK = "passback"
    POLICY_MODE = "policy_mode"
    CLOCK_UNTRUSTED = "clock_untrusted"
    RULE_FAILED = "rule_failed"
    TOO_LARGE = "too_large"
    # Added after the first contract: a list the site requires is older than its max age and
    # the site chose to fail closed. Distinct from rule_failed so operators see why at a glance.
    LIST_STALE = "list_stale"


class Verdict(enum.StrEnum):
    ACCEPT = "accept"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Frame:
    """One grey (Y plane) camera frame; ``image`` is a 2-D uint8 view, never copied."""

    image: GreyImage
    seq: int
    monotonic: float


@dataclass(frozen=True, slots=True)
class Code:
    """One decoded QR symbol: its segment bytes as read, and the decoder's charset-aware text."""

    raw: bytes
    text: str

    @property
    def size(self) -> int:
        return len(self.raw)


@dataclass(frozen=True, slots=True)
class CredentialSummary:
    """What the policy learnt about a credential, safe to keep on the device.

    ``subject`` is the keyed pseudonym, never the raw identifier. ``details``
    holds personal fields (name, birth date, ...) that leave the device only
    when ``[privacy]`` allows the named field.
    """

    type: str
    subject: str = ""
    role: str = ""
    token_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PendingUse:
    """What an accept uses up: written in the same transaction as its journal row, and only if the final decision
    (after tamper lockout and storage rules) is still an accept. Keys are keyed hashes, never identifiers.

    ``keep_until`` (epoch seconds) is the credential's own expiry; None means "retention_s from the first
    synchronised clock", so a record made while the clock was wrong is never pruned by that wrong time.
    """

    used_key: bytes | None  # a one-time credential's record, or None
    passage_key: bytes | None  # the subject's anti-passback record, or None
    direction: str  # "in" | "out" | "none"
    at: float  # the decision's wall-clock time, epoch seconds
    synced: bool  # whether that wall clock was synchronised (only then may records be pruned)
    keep_until: float | None = None
    window_s: float = 0.0  # anti-passback window: older passages may be pruned
    retention_s: float = 30 * 86400.0

    @property
    def one_time(self) -> bool:
        return self.used_key is not None


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: Reason
    credential: CredentialSummary
    policy_version: str = ""
    clock_synced: bool = False
    use: PendingUse | None = None  # set on accepts that use up a one-time pass or record a passage

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPT

    @classmethod
    def deny(cls, reason: Reason, credential: CredentialSummary, *, policy_version: str = "",
             clock_synced: bool = False) -> Decision:
        return cls(Verdict.DENY, reason, credential, policy_version, clock_synced)

    @classmethod
    def accept(cls, credential: CredentialSummary, *, policy_version: str = "", clock_synced: bool = False,
               use: PendingUse | None = None) -> Decision:
        return cls(Verdict.ACCEPT, Reason.OK, credential, policy_version, clock_synced, use)


class Stamp(TypedDict):
    """What every decision of one evaluation carries: ``Decision.deny(..., **stamp)``."""

    policy_version: str
    clock_synced: bool
