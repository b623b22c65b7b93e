"""Hostile input: bombs and malformed structures fail fast with CredentialError(reason), nothing else.

Covers reliability-notes §7 scenarios 14-17 at the parser level: zlib bomb,
CBOR depth/size bombs, alg confusion, and fuzzing of every verifier with
arbitrary bytes and with mutations of valid payloads.
"""

from __future__ import annotations

import datetime as dt
import time
import tracemalloc
import zlib

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entryscan.device.access.credentials import cbor_guard, cose, eu_dcc, signed_pass
from entryscan.device.access.credentials.base import CredentialVerifier, VerifyContext
from entryscan.device.access.credentials.base45 import b45encode
from entryscan.device.access.credentials.cccd import CccdVerifier
from entryscan.device.access.credentials.inflate import inflate
from entryscan.device.access.credentials.shc import ShcVerifier
from entryscan.device.config.credentials import ShcConfig, ShcIssuerConfig
from entryscan.device.errors import CredentialError
from tests.paths import TESTDATA

SHC = TESTDATA / "shc"
NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
CTX = VerifyContext(now=NOW, clock_synced=True, site="hq", door="main", pseudonymize=lambda k, i: "p")
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ISSUER_KEY = ed25519.Ed25519PrivateKey.generate()
VALID_PASS = signed_pass.issue(signed_pass.PassClaims(subject="emp-1", name="Ann"), ISSUER_KEY, NOW).encode()
VALID_SHC = (SHC / "examples" / "covid-vaccination-example-00.txt").read_bytes().strip()
VALID_CCCD = "001090123456|012345678|Nguyễn Văn An|01011990|Nam|Hà Nội|15042021".encode()


def _dcc_verifier() -> eu_dcc.EuDccVerifier:
    # Any DSC will do for fuzzing; the point is that no input escapes as a non-CredentialError.
    import base64
    import json

    case = json.loads((TESTDATA / "eu-dcc" / "common" / "2DCode" / "raw" / "CO3.json").read_text())
    return eu_dcc.EuDccVerifier(eu_dcc.TrustList([eu_dcc.Dsc.from_der(base64.b64decode(case["TESTCTX"]["CERTIFICATE"]))]))


DCC_CASE = (TESTDATA / "eu-dcc" / "common" / "2DCode" / "raw" / "CO3.json")
VERIFIERS: dict[str, tuple[CredentialVerifier, bytes]] = {
    "signed_pass": (signed_pass.SignedPassVerifier([ISSUER_KEY.public_key()]), VALID_PASS),
    "eu_dcc": (_dcc_verifier(), __import__("json").loads(DCC_CASE.read_text())["PREFIX"].encode()),
    "shc": (ShcVerifier.from_config(ShcConfig((ShcIssuerConfig(
        "https://spec.smarthealth.cards/examples/issuer", SHC / "spec-issuer" / "jwks.json"),))), VALID_SHC),
    "cccd": (CccdVerifier(), VALID_CCCD),
}
PREFIXES = {"signed_pass": b"ES1:", "eu_dcc": b"HC1:", "shc": b"shc:/", "cccd": b""}


def _only_credential_errors(verifier: CredentialVerifier, payload: bytes) -> None:
    try:
        verifier.verify(payload, CTX)
    except CredentialError as exc:
        assert exc.reason in {"malformed", "too_large", "bad_signature", "unknown_key", "unknown_format",
                              "expired", "not_yet_valid", "revoked", "rule_failed"}


# --- zlib bomb (scenario 15) -------------------------------------------------------------

def test_zlib_bomb_over_10_mb_rejected_fast_and_small() -> None:
    bomb = zlib.compress(b"\x00" * (11 * 1024 * 1024), 9)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(CredentialError) as info:
        inflate(bomb, 32 * 1024)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.value.reason == "too_large"
    assert elapsed < 0.1
    assert peak < 5 * 1024 * 1024


def test_zlib_bomb_through_the_dcc_verifier_is_too_large() -> None:
    verifier, _ = VERIFIERS["eu_dcc"]
    payload = b"HC1:" + b45encode(zlib.compress(b"\x00" * (2 * 1024 * 1024), 9)).encode()
    assert len(payload) < 4300  # fits a real QR code
    start = time.perf_counter()
    with pytest.raises(CredentialError) as info:
        verifier.verify(payload, CTX)
    assert info.value.reason == "too_large" and time.perf_counter() - start < 0.1


def test_inflate_rejects_truncated_and_trailing_streams() -> None:
    stream = zlib.compress(b"hello world")
    for broken in (stream[:-3], stream + b"\x00junk", b"not zlib at all"):
        with pytest.raises(CredentialError) as info:
            inflate(broken, 1024)
        assert info.value.reason == "malformed"
    assert inflate(stream, 1024) == b"hello world"


# --- CBOR bombs (scenario 16) ------------------------------------------------------------

def test_cbor_depth_10000_rejected_without_recursion() -> None:
    with pytest.raises(CredentialError) as info:
        cbor_guard.loads(b"\x81" * 10_000 + b"\x00")
    assert info.value.reason == "too_large"


def test_cbor_depth_limit_is_exact() -> None:
    assert cbor_guard.loads(b"\x81" * 16 + b"\x00") is not None
    with pytest.raises(CredentialError):
        cbor_guard.loads(b"\x81" * 17 + b"\x00")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x9f\x01\x02\xff", "malformed"),  # indefinite-length array
        (b"\x5f\x41\x00\xff", "malformed"),  # indefinite-length byte string
        (b"\xbf\x01\x02\xff", "malformed"),  # indefinite-length map
        (b"\x5a\xff\xff\xff\xff\x00", "malformed"),  # bstr declaring 2^32-1 bytes
        (b"\x9b\x00\x00\x00\x01\x00\x00\x00\x00\x00", "malformed"),  # array declaring 2^32 items
        (b"\xbb\xff\xff\xff\xff\xff\xff\xff\xff", "malformed"),  # map declaring 2^64-1 pairs
        (b"\xd9\x01\x02\x80", "malformed"),  # unknown tag 258 (would become a Python set)
        (b"\xd8\x1c\x80", "malformed"),  # shareable tag 28 (reference cycles)
        (b"\x01\x02", "malformed"),  # trailing bytes
        (b"\x82\x01", "malformed"),  # truncated
        (b"\x1c", "malformed"),  # reserved additional info
        (b"\xff", "malformed"),  # stray break
        (b"\x62\xff\xfe", "malformed"),  # invalid UTF-8 text
        (b"", "malformed"),
    ],
)
def test_cbor_guard_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(CredentialError) as info:
        cbor_guard.loads(data)
    assert info.value.reason == reason


def test_cbor_item_count_limit() -> None:
    wide = b"\x99\x27\x10" + b"\x00" * 10_000  # array of 10000 zeros = 10001 items
    with pytest.raises(CredentialError) as info:
        cbor_guard.loads(wide)
    assert info.value.reason == "too_large"
    assert len(cbor_guard.loads(b"\x99\x27\x0f" + b"\x00" * 9_999)) == 9_999


@FUZZ
@given(st.binary(max_size=400))
def test_cbor_guard_never_raises_anything_else(data: bytes) -> None:
    try:
        cbor_guard.loads(data)
    except CredentialError as exc:
        assert exc.reason in {"malformed", "too_large"}


@FUZZ
@given(st.recursive(st.integers(-(2**64), 2**64 - 1) | st.text(max_size=5) | st.binary(max_size=5),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                    max_leaves=30))
def test_cbor_guard_accepts_what_cbor2_round_trips(value: object) -> None:
    data = cbor2.dumps(value)
    try:
        cbor_guard.scan(data)
    except CredentialError as exc:
        assert exc.reason == "too_large"  # only the depth limit may refuse honest data
        return
    # Integers beyond 64 bits would need bignum tags, which no format we read uses.
    assert cbor2.loads(data) == value


# --- algorithm confusion (scenario 17) ---------------------------------------------------

@pytest.mark.parametrize("alg", [None, 0, 5, -257, "ES256", -37])
def test_cose_alg_none_hmac_and_unexpected_algorithms_are_bad_signature(alg: object) -> None:
    kid = signed_pass.key_id(ISSUER_KEY.public_key())
    header = {cose.HDR_KID: kid} if alg is None else {cose.HDR_ALG: alg, cose.HDR_KID: kid}
    msg = cose.Sign1(cbor2.dumps(header), header, {}, cbor2.dumps({2: "x", 7: b"t"}), b"")
    with pytest.raises(CredentialError) as info:
        cose.verify(msg, ISSUER_KEY.public_key(), signed_pass.ALLOWED_ALGS)
    assert info.value.reason == "bad_signature"


def test_unprotected_alg_cannot_replace_a_missing_protected_one_for_hmac() -> None:
    payload = cbor2.dumps({2: "x", 7: b"t"})
    kid = signed_pass.key_id(ISSUER_KEY.public_key())
    raw = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({cose.HDR_KID: kid}), {1: 5}, payload, b"\x00" * 32]))
    text = b"ES1:" + b45encode(zlib.compress(raw)).encode()
    with pytest.raises(CredentialError) as info:
        VERIFIERS["signed_pass"][0].verify(text, CTX)
    assert info.value.reason == "bad_signature"


# --- fuzzing every verifier (scenario 14) ------------------------------------------------

@pytest.mark.parametrize("name", sorted(VERIFIERS))
@FUZZ
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_only_raise_credential_error(name: str, data: bytes) -> None:
    verifier, _ = VERIFIERS[name]
    _only_credential_errors(verifier, PREFIXES[name] + data)


@pytest.mark.parametrize("name", sorted(VERIFIERS))
@FUZZ
@given(data=st.data())
def test_mutated_valid_payloads_only_raise_credential_error(name: str, data: st.DataObject) -> None:
    verifier, valid = VERIFIERS[name]
    payload = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(payload) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if action == "flip":
            payload[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "delete":
            del payload[pos]
        elif action == "insert":
            payload.insert(pos, data.draw(st.sampled_from(b"\x00\x1b\n\r|0Z:%\xff\xe2")))
        else:
            del payload[pos:]
        if not payload:
            payload = bytearray(b"x")
    _only_credential_errors(verifier, bytes(payload))


@pytest.mark.parametrize("name", sorted(VERIFIERS))
def test_valid_payloads_verify(name: str) -> None:
    verifier, valid = VERIFIERS[name]
    assert verifier.matches(valid)
    if name == "eu_dcc":  # the DCC is judged at its own clock in the conformance suite
        ctx = VerifyContext(now=dt.datetime(2021, 5, 3, 18, tzinfo=dt.UTC), clock_synced=True,
                            site="hq", door="main", pseudonymize=lambda k, i: "p")
        assert verifier.verify(valid, ctx).summary.type == name
    else:
        assert verifier.verify(valid, CTX).summary.type == name


@pytest.mark.parametrize("name", sorted(VERIFIERS))
def test_oversize_payloads_are_too_large(name: str) -> None:
    verifier, _ = VERIFIERS[name]
    with pytest.raises(CredentialError) as info:
        verifier.verify(PREFIXES[name] + b"0" * 9000, CTX)
    assert info.value.reason == "too_large"
