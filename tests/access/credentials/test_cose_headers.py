"""COSE header rules (RFC 9052 §3): no repeated labels, and the algorithm comes from the protected header."""

from __future__ import annotations

import datetime as dt
import zlib

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from entryscan.device.access.credentials import cbor_guard, cose, signed_pass
from entryscan.device.access.credentials.base import VerifyContext
from entryscan.device.access.credentials.base45 import b45encode
from entryscan.device.errors import CredentialError

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CTX = VerifyContext(now=NOW, clock_synced=True, site="hq", door="main", pseudonymize=lambda k, i: "p")
KEY = ed25519.Ed25519PrivateKey.generate()
KID = signed_pass.key_id(KEY.public_key())
CLAIMS = cbor2.dumps({signed_pass.SUB: "emp-1", signed_pass.CTI: b"\x01" * 16})
VERIFIER = signed_pass.SignedPassVerifier([KEY.public_key()])


def _pass(protected_raw: bytes, unprotected_raw: bytes = b"\xa0") -> bytes:
    """A pass whose signature is valid over ``protected_raw``; headers are spliced in as written."""
    signature = KEY.sign(cose.sig_structure(protected_raw, CLAIMS))
    sign1 = (b"\xd2\x84" + cbor2.dumps(protected_raw) + unprotected_raw + cbor2.dumps(CLAIMS)
             + cbor2.dumps(signature))
    return (signed_pass.PREFIX + b45encode(zlib.compress(sign1))).encode()


def _reason(payload: bytes) -> str:
    with pytest.raises(CredentialError) as info:
        VERIFIER.verify(payload, CTX)
    return info.value.reason


def test_the_spliced_pass_verifies_when_headers_are_honest() -> None:
    protected = b"\xa2\x01\x27\x04\x48" + KID  # {1: -8 (EdDSA), 4: kid}
    assert VERIFIER.verify(_pass(protected), CTX).summary.type == "signed_pass"


@pytest.mark.parametrize("protected", [
    b"\xa3\x01\x27\x04\x48" + KID + b"\x01\x27",  # alg twice, same value
    b"\xa3\x01\x26\x04\x48" + KID + b"\x01\x27",  # alg twice: cbor2 would keep the last (EdDSA)
    b"\xa3\x01\x27\x04\x48" + KID + b"\x18\x01\x27",  # the second 1 written in two bytes
], ids=["same-value", "different-value", "non-minimal"])
def test_protected_header_with_a_repeated_label_is_malformed(protected: bytes) -> None:
    assert _reason(_pass(protected)) == "malformed"


def test_unprotected_header_with_a_repeated_label_is_malformed() -> None:
    protected = b"\xa2\x01\x27\x04\x48" + KID
    unprotected = b"\xa2\x04\x41x\x04\x41y"  # {4: h'78', 4: h'79'}
    assert _reason(_pass(protected, unprotected)) == "malformed"


def test_alg_only_in_the_unprotected_header_is_not_taken() -> None:
    protected = b"\xa1\x04\x48" + KID  # {4: kid}, no alg
    assert _reason(_pass(protected, b"\xa1\x01\x27")) == "bad_signature"  # unprotected {1: EdDSA}


@pytest.mark.parametrize("data", [
    b"\xa2\x01\x02\x01\x03",  # {1: 2, 1: 3}
    b"\xa2\x61a\x01\x61a\x02",  # {"a": 1, "a": 2}
    b"\xa2\x20\x01\x38\x00\x02",  # {-1: 1, -1: 2}, the second -1 in two bytes
    b"\x81\xa2\x01\x02\x01\x03",  # nested in an array
    b"\xa1\x81\x01\x02",  # an array as a key
])
def test_cbor_guard_refuses_repeated_and_non_scalar_map_keys(data: bytes) -> None:
    with pytest.raises(CredentialError) as info:
        cbor_guard.loads(data)
    assert info.value.reason == "malformed"


def test_cbor_guard_keeps_distinct_keys_of_every_kind() -> None:
    # 1 and -2, text "a" and bytes h'61' are different keys.
    assert cbor_guard.loads(b"\xa4\x01\x00\x21\x00\x61a\x00\x41a\x00") == {1: 0, -2: 0, "a": 0, b"a": 0}


def test_unprotected_alg_is_taken_only_when_nothing_is_protected_and_the_caller_allows_it() -> None:
    def sign1(protected: dict[int, object]) -> cose.Sign1:
        raw = cbor2.dumps(protected) if protected else b""
        return cose.Sign1(raw, protected, {cose.HDR_ALG: cose.EDDSA}, CLAIMS,
                          KEY.sign(cose.sig_structure(raw, CLAIMS)))

    # EU DCC (dgc-testdata CO20): an empty protected bucket, alg and kid unprotected.
    cose.verify(sign1({}), KEY.public_key(), [cose.EDDSA], unprotected_if_unsigned_headers=True)
    for msg, allow in ((sign1({}), False), (sign1({cose.HDR_KID: KID}), True)):
        with pytest.raises(CredentialError) as info:
            cose.verify(msg, KEY.public_key(), [cose.EDDSA], unprotected_if_unsigned_headers=allow)
        assert info.value.reason == "bad_signature"
