"""Signed entry passes: issue/verify, key and algorithm checks, claims, and the policy's use of them."""

from __future__ import annotations

import datetime as dt
import zlib

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from entryscan.device.access.credentials import cose, signed_pass
from entryscan.device.access.credentials.base import Pseudonymizer, VerifyContext
from entryscan.device.access.credentials.base45 import b45decode, b45encode
from entryscan.device.access.policy import Policy, PolicySettings
from entryscan.device.config.settings import PolicyMode
from entryscan.device.errors import CredentialError
from tests.support import StepClock

NOW = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
CTX = VerifyContext(now=NOW, clock_synced=True, site="hq", door="main", pseudonymize=Pseudonymizer(b"k" * 32))
KEYS = {"ed25519": ed25519.Ed25519PrivateKey.generate(), "es256": ec.generate_private_key(ec.SECP256R1())}


def _issue(key: cose.PrivateKey, **kw: object) -> bytes:
    claims = signed_pass.PassClaims(subject=str(kw.pop("subject", "emp-7")), **kw)  # type: ignore[arg-type]
    return signed_pass.issue(claims, key, NOW).encode()


def _reason(verifier: signed_pass.SignedPassVerifier, payload: bytes) -> str:
    with pytest.raises(CredentialError) as info:
        verifier.verify(payload, CTX)
    return info.value.reason


def _resign(payload: bytes, mutate: object) -> bytes:
    """Decode a pass, let ``mutate`` change its claims, and re-sign with the raw COSE pieces."""
    msg = cose.decode_sign1(zlib.decompress(b45decode(payload[4:].decode())))
    claims = cbor2.loads(msg.payload)
    mutate(claims)  # type: ignore[operator]
    return b"ES1:" + b45encode(zlib.compress(cbor2.dumps(cbor2.CBORTag(
        18, [msg.protected_raw, {}, cbor2.dumps(claims), msg.signature])))).encode()


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_round_trip_with_all_claims(alg: str) -> None:
    key = KEYS[alg]
    until = NOW + dt.timedelta(days=1)
    payload = _issue(key, name="Ann Lee", role="contractor", issuer="acme", sites=("hq",), doors=("main", "dock"),
                     valid_from=NOW - dt.timedelta(hours=1), valid_until=until, one_time=True)
    verified = signed_pass.SignedPassVerifier([key.public_key()]).verify(payload, CTX)
    assert verified.summary.type == "signed_pass"
    assert verified.summary.subject == Pseudonymizer(b"k" * 32)("signed_pass", "emp-7")
    assert verified.summary.role == "contractor" and verified.summary.details == {"name": "Ann Lee"}
    assert len(verified.summary.token_id) == 32
    assert verified.not_after == until.replace(microsecond=0) and verified.not_before is not None
    assert verified.sites == ("hq",) and verified.doors == ("main", "dock")
    assert verified.one_time and verified.issuer == "acme"
    assert verified.extra["kid"] == signed_pass.key_id(key.public_key()).hex()


def test_pass_without_validity_is_not_time_bound() -> None:
    key = KEYS["ed25519"]
    verified = signed_pass.SignedPassVerifier([key.public_key()]).verify(_issue(key), CTX)
    assert verified.not_before is None and verified.not_after is None and not verified.time_bound
    assert not verified.one_time and verified.sites == ()


def test_each_pass_gets_a_fresh_token_id() -> None:
    key = KEYS["ed25519"]
    verifier = signed_pass.SignedPassVerifier([key.public_key()])
    assert verifier.verify(_issue(key), CTX).summary.token_id != verifier.verify(_issue(key), CTX).summary.token_id


def test_unknown_key_and_wrong_key() -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    verifier = signed_pass.SignedPassVerifier([KEYS["ed25519"].public_key()])
    assert _reason(verifier, _issue(other)) == "unknown_key"


def test_tampered_claims_are_bad_signature() -> None:
    key = KEYS["ed25519"]
    verifier = signed_pass.SignedPassVerifier([key.public_key()])
    forged = _resign(_issue(key, sites=("hq",)), lambda c: c.__setitem__("sites", ["hq", "vault"]))
    assert _reason(verifier, forged) == "bad_signature"


def test_es256_header_with_an_ed25519_key_is_bad_signature() -> None:
    """alg confusion: the header may not choose how the trusted key is used."""
    ed_key, ec_key = KEYS["ed25519"], KEYS["es256"]
    payload = _issue(ec_key)
    msg = cose.decode_sign1(zlib.decompress(b45decode(payload[4:].decode())))
    protected = cbor2.dumps({cose.HDR_ALG: cose.ES256, cose.HDR_KID: signed_pass.key_id(ed_key.public_key())})
    swapped = b"ES1:" + b45encode(zlib.compress(cbor2.dumps(cbor2.CBORTag(
        18, [protected, {}, msg.payload, msg.signature])))).encode()
    assert _reason(signed_pass.SignedPassVerifier([ed_key.public_key()]), swapped) == "bad_signature"


@pytest.mark.parametrize("name", ["Ann\u202eeL", "Ann\x1b[31m", "Ann\x00", "A\nB"])
def test_control_and_bidi_characters_in_text_claims_are_malformed(name: str) -> None:
    key = KEYS["ed25519"]
    verifier = signed_pass.SignedPassVerifier([key.public_key()])
    assert _reason(verifier, _issue(key, name=name)) == "malformed"


@pytest.mark.parametrize("payload", [b"ES1:", b"ES1:\xff\xfe", b"ES1:AAAA", b"ES1:" + b45encode(b"x").encode(),
                                     b"ES1:" + b45encode(zlib.compress(b"\x00")).encode()])
def test_garbage_is_malformed(payload: bytes) -> None:
    assert _reason(signed_pass.SignedPassVerifier([KEYS["ed25519"].public_key()]), payload) == "malformed"


def test_bad_scope_ids_are_malformed() -> None:
    key = KEYS["ed25519"]
    verifier = signed_pass.SignedPassVerifier([key.public_key()])
    with pytest.raises(CredentialError) as info:
        signed_pass.SignedPassVerifier([key.public_key()])._verified(
            {2: "x", 7: b"t", "sites": ["HQ/../x"]}, b"k", CTX)
    assert info.value.reason == "malformed"
    assert verifier.matches(b"ES1:x") and not verifier.matches(b"HC1:x")


def _policy(key: cose.PrivateKey, clock: StepClock) -> Policy:
    settings = PolicySettings(mode=PolicyMode.CREDENTIALS, site="hq", door="main", max_payload_bytes=4096)
    return Policy(settings, [signed_pass.SignedPassVerifier([key.public_key()])], clock, Pseudonymizer(b"k" * 32))


def test_policy_applies_validity_and_scope_from_the_pass() -> None:
    key, clock = KEYS["ed25519"], StepClock()
    now = clock.now()
    policy = _policy(key, clock)
    ok = signed_pass.issue(signed_pass.PassClaims("a", sites=("hq",), valid_until=now + dt.timedelta(hours=1)),
                           key, now).encode()
    late = signed_pass.issue(signed_pass.PassClaims("a", valid_until=now - dt.timedelta(hours=1)), key, now).encode()
    early = signed_pass.issue(signed_pass.PassClaims("a", valid_from=now + dt.timedelta(hours=1)), key, now).encode()
    elsewhere = signed_pass.issue(signed_pass.PassClaims("a", sites=("annex",)), key, now).encode()
    assert policy.decide(ok).reason == "ok"
    assert policy.decide(late).reason == "expired"
    assert policy.decide(early).reason == "not_yet_valid"
    assert policy.decide(elsewhere).reason == "wrong_site"
    assert _policy(key, StepClock(synced=False)).decide(ok).reason == "clock_untrusted"
