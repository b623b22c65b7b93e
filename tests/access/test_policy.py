from __future__ import annotations

import datetime as dt

from entryscan.device.access.clock import FixedClock
from entryscan.device.access.credentials.badge import BadgeList
from entryscan.device.access.credentials.base import Pseudonymizer, Verified, VerifyContext
from entryscan.device.access.policy import Policy, PolicySettings
from entryscan.device.config.settings import PolicyMode
from entryscan.device.model import CredentialSummary, Reason, Verdict

KEY = b"k" * 32
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def policy(mode: PolicyMode, *verifiers: object, synced: bool = True, require_sync: bool = True) -> Policy:
    settings = PolicySettings(mode=mode, site="hq", door="main", max_payload_bytes=256,
                              require_synced_clock=require_sync)
    badges = BadgeList(KEY, ["STAFF-0001"])
    return Policy(settings, [*verifiers, badges], FixedClock(NOW, synced=synced), Pseudonymizer(KEY))  # type: ignore[list-item]


def test_allowlist_accepts_listed_and_denies_unknown() -> None:
    p = policy(PolicyMode.ALLOWLIST)
    ok = p.decide(b"STAFF-0001")
    assert ok.verdict is Verdict.ACCEPT and ok.reason is Reason.OK and ok.credential.type == "badge"
    no = p.decide(b"STAFF-0002")
    assert no.verdict is Verdict.DENY and no.reason is Reason.NOT_ALLOWED


def test_subject_is_a_keyed_pseudonym_not_the_code() -> None:
    p = policy(PolicyMode.ALLOWLIST)
    subject = p.decide(b"STAFF-0001").credential.subject
    assert "STAFF" not in subject and len(subject) == 32
    assert subject == p.decide(b"STAFF-0001").credential.subject
    other_site = Pseudonymizer(b"z" * 32)("badge", b"STAFF-0001")
    assert other_site != subject


def test_open_mode_accepts_every_readable_code() -> None:
    d = policy(PolicyMode.OPEN).decide("anything ✓".encode())
    assert d.verdict is Verdict.ACCEPT


def test_oversized_payload_is_denied_too_large() -> None:
    d = policy(PolicyMode.OPEN).decide(b"x" * 257)
    assert d.verdict is Verdict.DENY and d.reason is Reason.TOO_LARGE


class Exploding:
    type = "signed_pass"

    def matches(self, payload: bytes) -> bool:
        return payload.startswith(b"BOOM")

    def verify(self, payload: bytes, ctx: VerifyContext) -> Verified:
        raise IndexError("parser bug")


class TimeBound:
    type = "signed_pass"

    def __init__(self, nbf: dt.datetime | None, exp: dt.datetime | None, sites: tuple[str, ...] = ()) -> None:
        self.nbf, self.exp, self.sites = nbf, exp, sites

    def matches(self, payload: bytes) -> bool:
        return payload.startswith(b"T:")

    def verify(self, payload: bytes, ctx: VerifyContext) -> Verified:
        return Verified(CredentialSummary(type=self.type), not_before=self.nbf, not_after=self.exp, sites=self.sites)


def test_a_verifier_bug_is_a_malformed_deny_not_a_crash() -> None:
    d = policy(PolicyMode.CREDENTIALS, Exploding()).decide(b"BOOM!")
    assert d.verdict is Verdict.DENY and d.reason is Reason.MALFORMED and d.credential.type == "signed_pass"


def test_time_scope_and_clock_rules() -> None:
    hour = dt.timedelta(hours=1)
    cases = [
        (TimeBound(NOW - hour, NOW + hour), True, Reason.OK),
        (TimeBound(NOW + hour, None), True, Reason.NOT_YET_VALID),
        (TimeBound(None, NOW - hour), True, Reason.EXPIRED),
        (TimeBound(NOW - hour, NOW + hour), False, Reason.CLOCK_UNTRUSTED),
        (TimeBound(None, None), False, Reason.OK),  # not time-bound: clock does not matter
        (TimeBound(None, None, sites=("branch",)), True, Reason.WRONG_SITE),
    ]
    for verifier, synced, expected in cases:
        assert policy(PolicyMode.CREDENTIALS, verifier, synced=synced).decide(b"T:x").reason is expected


def test_require_synced_clock_false_allows_time_bound_on_unsynced_clock() -> None:
    hour = dt.timedelta(hours=1)
    p = policy(PolicyMode.CREDENTIALS, TimeBound(NOW - hour, NOW + hour), synced=False, require_sync=False)
    d = p.decide(b"T:x")
    assert d.reason is Reason.OK and d.clock_synced is False
