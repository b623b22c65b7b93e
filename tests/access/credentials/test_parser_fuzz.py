"""Scenario 12, parser by parser: hypothesis fuzzing of the layers test_cred_hostile.py does not reach alone.

test_cred_hostile.py fuzzes the CBOR guard and every verifier end to end; here each inner parser gets its own
fuzzing (base45, zlib inflate, COSE_Sign1, the JSON guard, badges, signed list documents), with inputs that are
well formed one layer down so the fuzzing reaches deep, not just the first check. Each may only raise its own
error type with a known reason, and what it accepts must round-trip.
"""

from __future__ import annotations

import datetime as dt
import zlib

import cbor2
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entryscan.device.access.credentials import cose, jsonguard
from entryscan.device.access.credentials.badge import BadgeList
from entryscan.device.access.credentials.base import VerifyContext
from entryscan.device.access.credentials.base45 import ALPHABET, b45decode, b45encode
from entryscan.device.access.credentials.inflate import RAW_DEFLATE_WBITS, inflate
from entryscan.device.access.credentials.signed_pass import key_id
from entryscan.device.access.listdoc import ListError, encode_document, parse_document, sign_document
from entryscan.device.errors import CredentialError

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REASONS = {"malformed", "too_large", "bad_signature", "unknown_key", "not_allowed"}
CTX = VerifyContext(now=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), clock_synced=True, site="hq", door="main",
                    pseudonymize=lambda k, i: "p")
LIST_REASONS = {"empty", "too_large", "unknown_key", "bad_signature", "malformed"}
LIST_KEY = ed25519.Ed25519PrivateKey.generate()
LIST_KEYS = {key_id(LIST_KEY.public_key()): LIST_KEY.public_key()}


def _refused(exc: CredentialError) -> None:
    assert exc.reason in REASONS, exc.reason


@FUZZ
@given(st.text(alphabet=ALPHABET + "a\x00é ", max_size=300))
def test_base45_decodes_or_refuses_and_round_trips(text: str) -> None:
    try:
        data = b45decode(text)
    except CredentialError as exc:
        _refused(exc)
        return
    assert b45encode(data) == text


@FUZZ
@given(st.binary(max_size=400), st.booleans())
def test_inflate_of_mutated_streams_is_exact_or_refused(data: bytes, raw: bool) -> None:
    compressor = zlib.compressobj(wbits=RAW_DEFLATE_WBITS) if raw else zlib.compressobj()
    stream = bytearray(compressor.compress(data) + compressor.flush())
    if stream:
        stream[len(data) % len(stream)] ^= 0x5A  # one damaged byte somewhere in the stream
    for candidate in (bytes(stream), data):
        try:
            out = inflate(candidate, 256, RAW_DEFLATE_WBITS) if raw else inflate(candidate, 256)
        except CredentialError as exc:
            _refused(exc)
            continue
        assert len(out) <= 256


@FUZZ
@given(st.lists(st.one_of(st.binary(max_size=30), st.integers(-5, 5), st.none(),
                          st.dictionaries(st.integers(-300, 300), st.integers() | st.binary(max_size=8), max_size=3)),
                min_size=0, max_size=5), st.booleans())
def test_cose_sign1_shapes_are_parsed_or_malformed(members: list[object], tagged: bool) -> None:
    value: object = cbor2.CBORTag(18, members) if tagged else members
    try:
        msg = cose.decode_sign1(cbor2.dumps(value))
    except CredentialError as exc:
        _refused(exc)
        return
    try:
        cose.verify(msg, LIST_KEY.public_key(), (cose.EDDSA,))
    except CredentialError as exc:
        assert exc.reason == "bad_signature"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=4),
                           max_leaves=40)


@FUZZ
@given(json_values, st.binary(max_size=4), st.integers(0, 60))
def test_json_guard_round_trips_or_refuses_mutations(value: object, noise: bytes, cut: int) -> None:
    import json

    text = json.dumps(value).encode()
    assert jsonguard.loads(text, "fuzz") == value
    for damaged in (text[:cut] + noise + text[cut:], text[: max(cut, 1) * -1], b"[" * cut * 3 + text):
        try:
            jsonguard.loads(damaged, "fuzz")
        except CredentialError as exc:
            _refused(exc)


@FUZZ
@given(st.binary(max_size=200))
def test_badges_match_only_listed_codes(data: bytes) -> None:
    badges = BadgeList(b"k" * 32, ["STAFF-0001", "VISITOR-7"])
    try:
        verified = badges.verify(data, CTX)
    except CredentialError as exc:
        assert exc.reason == "not_allowed"
        return
    assert data in (b"STAFF-0001", b"VISITOR-7") and verified.summary.type == "badge"


@FUZZ
@given(st.data())
def test_signed_list_documents_parse_or_raise_list_error(data: st.DataObject) -> None:
    doc = sign_document(encode_document(name="revoked", kind="revoke", version=3, issued_at=1_700_000_000,
                                        entries=["token:" + "ab" * 8, "subject:" + "cd" * 8]), LIST_KEY)
    damaged = bytearray(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(damaged) - 1))
        damaged[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del damaged[data.draw(st.integers(1, len(damaged))):]
    try:
        parsed = parse_document(bytes(damaged), LIST_KEYS)
    except ListError as exc:
        assert exc.reason in LIST_REASONS
        return
    assert parsed.version == 3  # only an undamaged signature verifies


@FUZZ
@given(st.recursive(st.integers(-1000, 1000) | st.text(max_size=6) | st.binary(max_size=6),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                    max_leaves=30))
def test_signed_list_bodies_with_any_shape_are_refused_by_reason(body: object) -> None:
    doc = cose.sign(cbor2.dumps(body), LIST_KEY, key_id(LIST_KEY.public_key()))
    try:
        parse_document(doc, LIST_KEYS)
    except ListError as exc:
        assert exc.reason in LIST_REASONS and len(str(exc)) < 400
