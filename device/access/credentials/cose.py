"""COSE_Sign1 (RFC 9052) parsing, signing and verification, with cryptography doing the maths.

Only the algorithms a caller allows are accepted, and the key type must match
the algorithm (an RSA key never verifies an "ES256" signature), so an attacker
cannot choose the algorithm. ``alg`` "none", HMAC (HS256 = 5) and anything
unknown are ``bad_signature``: the payload may be well formed, but nothing
proves who made it.

A header map that repeats a label is malformed (RFC 9052 §3; cbor_guard
refuses repeated map keys everywhere). The algorithm comes from the protected
header only. The key id is read from the protected header and only falls back to the
unprotected header when the protected one has none, as the EU DCC rules
require (an unprotected kid must never override a signed one).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from entryscan.device.access.credentials import cbor_guard
from entryscan.device.errors import CredentialError
from entryscan.device.model import Reason

ES256, EDDSA, PS256 = -7, -8, -37
ALG_NAMES = {ES256: "ES256", EDDSA: "EdDSA", PS256: "PS256"}
HDR_ALG, HDR_CRIT, HDR_KID = 1, 2, 4
COSE_SIGN1_TAG, CWT_TAG = 18, 61
MIN_RSA_BITS = 2048

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class Sign1:
    protected_raw: bytes
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    @property
    def alg(self) -> object:
        # Only the protected header is signed: an unprotected alg could be swapped (RFC 9052 §3.1).
        return self.protected.get(HDR_ALG)

    def alg_for(self, *, unprotected_if_unsigned_headers: bool) -> object:
        """The algorithm; from the unprotected bucket only if asked and nothing at all is protected."""
        if unprotected_if_unsigned_headers and not self.protected_raw and not self.protected:
            return self.unprotected.get(HDR_ALG)
        return self.alg

    @property
    def kid(self) -> bytes | None:
        kid = self.protected[HDR_KID] if HDR_KID in self.protected else self.unprotected.get(HDR_KID)
        return kid if isinstance(kid, bytes) else None

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected_raw, self.payload)


def sig_structure(protected_raw: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected_raw, b"", payload])


def decode_sign1(data: bytes) -> Sign1:
    """Parse a (tagged or untagged, optionally CWT-tagged) COSE_Sign1; malformed on any deviation."""
    item = cbor_guard.loads(data)
    if isinstance(item, cbor2.CBORTag) and item.tag == CWT_TAG:
        item = item.value
    if isinstance(item, cbor2.CBORTag) and item.tag == COSE_SIGN1_TAG:
        item = item.value
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise CredentialError(Reason.MALFORMED, "not a COSE_Sign1 structure")
    protected_raw, unprotected, payload, signature = item
    if not (isinstance(protected_raw, bytes) and isinstance(unprotected, Mapping)
            and isinstance(payload, bytes) and isinstance(signature, bytes)):
        raise CredentialError(Reason.MALFORMED, "COSE_Sign1 members have the wrong types")
    protected = cbor_guard.loads(protected_raw) if protected_raw else {}
    if not isinstance(protected, Mapping):
        raise CredentialError(Reason.MALFORMED, "COSE protected header is not a map")
    if HDR_CRIT in protected:
        # We understand no critical extensions, so RFC 9052 says reject.
        raise CredentialError(Reason.MALFORMED, "COSE header marks extensions critical")
    return Sign1(protected_raw, protected, unprotected, payload, signature)


def verify(msg: Sign1, key: PublicKey, allowed: Collection[int], *,
           unprotected_if_unsigned_headers: bool = False) -> None:
    """Raise bad_signature unless ``msg`` is signed by ``key`` with an allowed algorithm.

    ``unprotected_if_unsigned_headers`` is for formats whose issuers send an empty protected
    bucket with the alg unprotected (EU DCC conformance case CO20). It stays safe because the
    key type must match the algorithm, so no swap of the unprotected alg verifies.
    """
    alg = msg.alg_for(unprotected_if_unsigned_headers=unprotected_if_unsigned_headers)
    if not isinstance(alg, int) or isinstance(alg, bool) or alg not in allowed:
        raise CredentialError(Reason.BAD_SIGNATURE, f"COSE algorithm {alg!r} is not accepted")
    data = msg.to_be_signed()
    try:
        if alg == ES256 and isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
            key.verify(_der_from_raw(msg.signature, 32), data, ec.ECDSA(hashes.SHA256()))
        elif alg == EDDSA and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(msg.signature, data)
        elif alg == PS256 and isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
            key.verify(msg.signature, data, pss, hashes.SHA256())
        else:
            raise CredentialError(Reason.BAD_SIGNATURE, f"{ALG_NAMES.get(alg, alg)} does not fit the signer's key type")
    except InvalidSignature:
        raise CredentialError(Reason.BAD_SIGNATURE, "signature does not verify") from None


def _der_from_raw(signature: bytes, size: int) -> bytes:
    """COSE carries ECDSA signatures as fixed-size r||s; cryptography wants DER."""
    if len(signature) != 2 * size:
        raise CredentialError(Reason.BAD_SIGNATURE, "ECDSA signature has the wrong length")
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    return encode_dss_signature(r, s)


def sign(payload: bytes, key: PrivateKey, kid: bytes) -> bytes:
    """Build a tagged COSE_Sign1 over ``payload`` (EdDSA for Ed25519 keys, ES256 for P-256)."""
    alg = EDDSA if isinstance(key, ed25519.Ed25519PrivateKey) else ES256
    protected_raw = cbor2.dumps({HDR_ALG: alg, HDR_KID: kid})
    data = sig_structure(protected_raw, payload)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(data)
    else:
        if key.curve.name != "secp256r1":
            raise ValueError("only P-256 EC keys are supported (ES256)")
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected_raw, {}, payload, signature]))
