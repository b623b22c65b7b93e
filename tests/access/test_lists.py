"""Signed lists: format, signatures, versions (rollback), staleness, hostile payloads, persistence."""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entryscan.device.access import lists
from entryscan.device.access.credentials import cose
from entryscan.device.access.credentials.base import Verified
from entryscan.device.access.credentials.signed_pass import key_id
from entryscan.device.model import CredentialSummary, Reason

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
SIGNER = ed25519.Ed25519PrivateKey.generate()
P256 = ec.generate_private_key(ec.SECP256R1())
OTHER = ed25519.Ed25519PrivateKey.generate()
TOKEN = "ab" * 16


def doc(version: int = 1, *, name: str = "revoked", kind: lists.Kind = "revoke", entries: tuple[str, ...] = (),
        key: cose.PrivateKey = SIGNER, issued: dt.datetime = NOW, sites: tuple[str, ...] = (),
        types: tuple[str, ...] = ()) -> bytes:
    payload = lists.encode_document(name=name, kind=kind, version=version, issued_at=int(issued.timestamp()),
                                    entries=entries, sites=sites, types=types)
    return lists.sign_document(payload, key)


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> dt.datetime:
        return self.at


def store(tmp_path: Path, clock: Clock | None = None, **kw: object) -> lists.ListStore:
    clock = clock or Clock()
    return lists.ListStore(tmp_path / "lists.db", [SIGNER.public_key(), P256.public_key()], site="hq",
                           now=clock.now, **kw)  # type: ignore[arg-type]


def cred(kind: str = "signed_pass", token: str = TOKEN, subject: str = "cd" * 16, kid: str = "") -> Verified:
    extra: dict[str, object] = {"kid": kid} if kid else {}
    return Verified(CredentialSummary(type=kind, subject=subject, token_id=token), extra=extra)


def test_revocation_by_token_subject_and_kid(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert s.check(cred()) is None
    up = s.apply("revoked", doc(1, entries=(f"token:{TOKEN}", "subject:" + "ee" * 16, "kid:0011223344556677")))
    assert up.status == "applied" and up.accepted and up.version == 1 and not up.alerts
    assert s.check(cred()) is Reason.REVOKED
    assert s.check(cred(token="ff" * 16, subject="ee" * 16)) is Reason.REVOKED
    assert s.check(cred(token="ff" * 16, kid="0011223344556677")) is Reason.REVOKED
    assert s.check(cred(token="ff" * 16)) is None
    assert s.versions() == {"revoked": 1}


def test_allow_list_restricts_subjects_of_its_types(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply("staff", doc(3, name="staff", kind="allow", entries=("subject:" + "aa" * 16,), types=("badge",)))
    assert s.check(cred("badge", token="", subject="aa" * 16)) is None
    assert s.check(cred("badge", token="", subject="bb" * 16)) is Reason.NOT_ALLOWED
    assert s.check(cred("signed_pass", subject="bb" * 16)) is None  # the list is for badges only


def test_es256_signer_is_accepted(tmp_path: Path) -> None:
    assert store(tmp_path).apply("revoked", doc(1, key=P256)).status == "applied"


def test_older_version_is_refused_with_an_alert(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert s.apply("revoked", doc(5, entries=(f"token:{TOKEN}",))).status == "applied"
    up = s.apply("revoked", doc(4))
    assert up.status == "refused" and up.reason == "rollback" and not up.accepted
    (alert,) = up.alerts
    assert alert.kind == "list_refused" and alert.detail["reason"] == "rollback"
    assert alert.detail["held_version"] == 5 and alert.detail["version"] == 4
    assert s.check(cred()) is Reason.REVOKED  # the newer list still applies


def test_rollback_is_refused_after_a_restart(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply("revoked", doc(7, entries=(f"token:{TOKEN}",)))
    s.close()
    again = store(tmp_path)
    assert again.check(cred()) is Reason.REVOKED and again.versions() == {"revoked": 7}
    assert again.apply("revoked", doc(6)).reason == "rollback"


def test_same_document_again_is_unchanged_and_silent(tmp_path: Path) -> None:
    # A retained message comes back after every reconnect.
    s = store(tmp_path)
    signed = doc(2)
    assert s.apply("revoked", signed).status == "applied"
    up = s.apply("revoked", signed)
    assert up.status == "unchanged" and up.accepted and not up.alerts


def test_same_version_with_other_content_is_refused(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply("revoked", doc(2))
    up = s.apply("revoked", doc(2, entries=(f"token:{TOKEN}",)))
    assert up.reason == "equivocation" and up.alerts


@pytest.mark.parametrize(("payload", "reason"), [
    (lambda: doc(1, key=OTHER), "unknown_key"),
    (lambda: _tamper(doc(1, entries=(f"token:{TOKEN}",))), "bad_signature"),
    (lambda: b"", "empty"),
    (lambda: b"\xa0", "malformed"),
    (lambda: b"x" * (lists.MAX_DOC_BYTES + 1), "too_large"),
    (lambda: doc(1, name="other"), "wrong_name"),
    (lambda: doc(1, sites=("annex",)), "wrong_site"),
])
def test_bad_documents_are_refused_with_an_alert(tmp_path: Path, payload: object, reason: str) -> None:
    s = store(tmp_path)
    up = s.apply("revoked", payload())  # type: ignore[operator]
    assert up.status == "refused" and up.reason == reason
    assert up.alerts and up.alerts[0].kind == "list_refused" and up.alerts[0].detail["name"] == "revoked"
    assert s.versions() == {}


def _tamper(signed: bytes) -> bytes:
    msg = cose.decode_sign1(signed)
    body = cbor2.loads(msg.payload)
    body["entries"] = []
    return cbor2.dumps(cbor2.CBORTag(18, [msg.protected_raw, {}, cbor2.dumps(body), msg.signature]))


def test_wrong_signature_with_a_trusted_kid(tmp_path: Path) -> None:
    # Signed by another key but claiming the trusted signer's kid.
    payload = lists.encode_document(name="revoked", kind="revoke", version=1, issued_at=0, entries=())
    forged = cose.sign(payload, OTHER, key_id(SIGNER.public_key()))
    assert store(tmp_path).apply("revoked", forged).reason == "bad_signature"


def test_refusal_alerts_are_rate_limited(tmp_path: Path) -> None:
    s = store(tmp_path)
    ups = [s.apply("revoked", doc(1, key=OTHER)) for _ in range(50)]
    assert sum(len(u.alerts) for u in ups) == 1 and all(u.status == "refused" for u in ups)


def test_stale_list_alerts_once_and_fails_closed(tmp_path: Path) -> None:
    clock = Clock()
    s = store(tmp_path, clock, max_age_s=3600, on_stale="closed")
    s.apply("revoked", doc(1))
    assert s.stale_lists(clock.now()) == [] and s.poll_alerts(clock.now()) == []
    clock.at = NOW + dt.timedelta(hours=2)
    (stale,) = s.stale_lists(clock.now())
    assert stale.name == "revoked" and stale.age_s == 7200
    (alert,) = s.poll_alerts(clock.now())
    assert alert.kind == "list_stale" and alert.detail["on_stale"] == "closed"
    assert alert.detail["version"] == 1  # the collector clears its alert once the door holds a newer one
    assert s.issued() == {"revoked": int(NOW.timestamp())}  # the state's lists_issued: the age the collector shows
    assert s.poll_alerts(clock.now()) == []  # once per staleness, not per poll
    assert s.check(cred()) is lists.STALE_REASON
    # A fresh version ends it.
    s.apply("revoked", doc(2, issued=clock.now()))
    assert s.check(cred()) is None and s.stale_lists(clock.now()) == []


def test_stale_list_fails_open_with_the_last_list(tmp_path: Path) -> None:
    clock = Clock()
    s = store(tmp_path, clock, max_age_s=3600, on_stale="open")
    s.apply("revoked", doc(1, entries=(f"token:{TOKEN}",)))
    clock.at = NOW + dt.timedelta(days=1)
    assert [a.kind for a in s.poll_alerts(clock.now())] == ["list_stale"]
    assert s.check(cred(token="ff" * 16)) is None  # open: others still enter
    assert s.check(cred()) is Reason.REVOKED  # the last known list still revokes


def test_expected_list_never_received_is_stale(tmp_path: Path) -> None:
    s = store(tmp_path, expected=("revoked",), on_stale="closed")
    (stale,) = s.stale_lists(NOW)
    assert stale.age_s is None
    assert s.check(cred()) is lists.STALE_REASON
    s.apply("revoked", doc(1))
    assert s.check(cred()) is None


def test_store_file_is_private(tmp_path: Path) -> None:
    store(tmp_path).apply("revoked", doc(1))
    assert stat.S_IMODE(os.stat(tmp_path / "lists.db").st_mode) == 0o600


def test_removed_signer_drops_content_but_keeps_the_version_floor(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply("revoked", doc(3, key=P256, entries=(f"token:{TOKEN}",)))
    s.close()
    only_ed = lists.ListStore(tmp_path / "lists.db", [SIGNER.public_key()], site="hq", now=Clock().now)
    assert only_ed.check(cred()) is None and only_ed.versions() == {}
    assert only_ed.apply("revoked", doc(2)).reason == "rollback"


def test_apply_and_check_from_two_threads(tmp_path: Path) -> None:
    s = store(tmp_path)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for v in range(1, 40):
                s.apply("revoked", doc(v, entries=(f"token:{TOKEN}",)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    for _ in range(400):
        s.check(cred())
    t.join()
    assert not errors and s.versions() == {"revoked": 39}


def test_issuer_side_refuses_what_devices_would_refuse() -> None:
    with pytest.raises(lists.ListError):
        lists.encode_document(name="Bad Name", kind="revoke", version=1, issued_at=0, entries=())
    with pytest.raises(lists.ListError):
        lists.encode_document(name="revoked", kind="revoke", version=1, issued_at=0, entries=("token:XYZ",))
    with pytest.raises(lists.ListError):
        lists.encode_document(name="revoked", kind="revoke", version=0, issued_at=0, entries=())


# -- property tests: the parser never raises anything but ListError, apply never raises --------

KEYS = {key_id(SIGNER.public_key()): SIGNER.public_key()}
cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8) | st.integers(), inner,
                                                               max_size=5),
    max_leaves=30,
)
bodies = st.fixed_dictionaries(
    {},
    optional={"format": cbor_values | st.just(1), "name": cbor_values | st.just("revoked"),
              "kind": cbor_values | st.sampled_from(["revoke", "allow"]),
              "version": cbor_values | st.integers(-5, 2**64), "iat": cbor_values | st.integers(-5, 2**45),
              "sites": cbor_values, "types": cbor_values,
              "entries": cbor_values | st.lists(st.text(max_size=40), max_size=5), "extra": cbor_values},
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_parse_arbitrary_bytes_only_raises_list_error(data: bytes) -> None:
    try:
        lists.parse_document(data, KEYS)
    except lists.ListError as exc:
        assert exc.reason in {"empty", "malformed", "too_large", "bad_signature", "unknown_key"}


@settings(max_examples=150, deadline=None)
@given(bodies)
def test_signed_arbitrary_bodies_parse_or_are_malformed(body: dict[str, object]) -> None:
    signed = cose.sign(cbor2.dumps(body), SIGNER, key_id(SIGNER.public_key()))
    try:
        parsed = lists.parse_document(signed, KEYS)
    except lists.ListError as exc:
        assert exc.reason in {"malformed", "too_large"}
    else:
        assert parsed.name == body["name"] and parsed.version == body["version"]
        assert parsed.kind in ("revoke", "allow")
        assert all(lists.ENTRY.fullmatch(e) for e in parsed.entries)


ENTRIES = st.builds(lambda kind, raw: f"{kind}:{raw.hex()}", st.sampled_from(["token", "subject", "kid"]),
                    st.binary(min_size=4, max_size=64))


@settings(max_examples=100, deadline=None)
@given(st.lists(ENTRIES, max_size=20), st.integers(1, 2**40))
def test_round_trip(entries: list[str], version: int) -> None:
    parsed = lists.parse_document(doc(version, entries=tuple(entries)), KEYS)
    assert parsed.entries == frozenset(entries) and parsed.version == version


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=70), data=st.binary(max_size=300))
def test_apply_never_raises(tmp_path: Path, name: str, data: bytes) -> None:
    s = store(tmp_path / "h")
    try:
        up = s.apply(name, data)
        assert up.status == "refused"
    finally:
        s.close()


def test_refusal_alerts_share_one_budget_across_list_names(tmp_path: Path) -> None:
    """Measured before: 20,000 distinct names gave 19,740 durable alerts, and a dict entry per name."""
    mono = [1000.0]
    s = store(tmp_path, monotonic=lambda: mono[0])
    garbage = b"\xa0not a list"
    ups = [s.apply(f"n{i}", garbage) for i in range(5000)]
    alerts = [a for u in ups for a in u.alerts]
    assert all(u.status == "refused" for u in ups)
    assert 1 <= len(alerts) <= lists.REFUSED_ALERTS_PER_INTERVAL
    assert len(s._refusal_alerts) <= lists.REFUSED_ALERTS_PER_INTERVAL  # memory does not grow with the names
    mono[0] += lists.ALERT_INTERVAL_S + 1
    (later,) = s.apply("n-next", garbage).alerts
    assert later.detail["suppressed"] == 5000 - len(alerts)  # what was held back is counted, not lost
    assert len(s._refusal_alerts) <= lists.REFUSED_ALERTS_PER_INTERVAL
