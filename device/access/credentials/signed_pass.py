"""Signed entry passes, our own format: ``ES1:`` + base45(zlib(COSE_Sign1(CWT))).

Built like HC1 so the same bounded pipeline serves both. Signed with Ed25519
(COSE EdDSA, -8) or ECDSA P-256 (ES256, -7); the algorithm must match the
trusted key's type. ``kid`` is the first 8 bytes of SHA-256 over the public
key's DER SubjectPublicKeyInfo (the ``issuer.pub`` PEM body), so it is stable
across file names and identical for the issuer CLI and the device.

CWT claims (RFC 8392 integer keys where one exists, short text keys otherwise):
    1 iss  issuer name            2 sub  subject id (required)
    4 exp  valid until (optional) 5 nbf  valid from (optional)
    6 iat  issued at              7 cti  token id, 16 random bytes (required)
    "name" display name           "role" role
    "sites", "doors" scope lists  "one_time" single-use flag
A pass without nbf/exp is not time-bound. Time, scope and one-time use are
decided by the policy from the returned ``Verified``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from entryscan.device.access.credentials import cose
from entryscan.device.access.credentials.base import Verified, VerifyContext
from entryscan.device.access.credentials.base45 import b45decode, b45encode
from entryscan.device.access.credentials.cbor_guard import loads as cbor_loads
from entryscan.device.access.credentials.inflate import inflate
from entryscan.device.access.credentials.textcheck import clean_text
from entryscan.device.errors import ConfigError, CredentialError
from entryscan.device.model import CredentialSummary, Reason

PREFIX = "ES1:"
MAX_TEXT = 2048  # our passes are ~200 characters; anything near QR capacity is not ours
MAX_INFLATED = 4096
ALLOWED_ALGS = (cose.EDDSA, cose.ES256)
ISS, SUB, EXP, NBF, IAT, CTI = 1, 2, 4, 5, 6, 7
SCOPE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # same rule as [device] site/door


def key_id(key: cose.PublicKey) -> bytes:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:8]


def load_public_key(path: Path, where: str = "credentials.signed_pass.trusted_keys") -> cose.PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(where, f"{path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(where, f"{path} is not a PEM public key: {exc}") from None
    if isinstance(key, ed25519.Ed25519PublicKey) or (
        isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    ):
        return key
    raise ConfigError(where, f"{path}: only Ed25519 and P-256 keys are accepted")


@dataclass(frozen=True, slots=True)
class PassClaims:
    subject: str
    issuer: str = ""
    name: str = ""
    role: str = ""
    sites: tuple[str, ...] = ()
    doors: tuple[str, ...] = ()
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    one_time: bool = False
    token_id: bytes = b""


def issue(claims: PassClaims, key: cose.PrivateKey, now: dt.datetime) -> str:
    """Return the QR text of a new pass signed with ``key``."""
    cwt: dict[Any, Any] = {SUB: claims.subject, IAT: int(now.timestamp()),
                           CTI: claims.token_id or secrets.token_bytes(16)}
    optional: dict[Any, Any] = {
        ISS: claims.issuer, "name": claims.name, "role": claims.role,
        "sites": list(claims.sites), "doors": list(claims.doors),
    }
    cwt.update({k: v for k, v in optional.items() if v})
    if claims.valid_from is not None:
        cwt[NBF] = int(claims.valid_from.timestamp())
    if claims.valid_until is not None:
        cwt[EXP] = int(claims.valid_until.timestamp())
    if claims.one_time:
        cwt["one_time"] = True
    signed = cose.sign(cbor2.dumps(cwt), key, key_id(key.public_key()))
    return PREFIX + b45encode(zlib.compress(signed, 9))


class SignedPassVerifier:
    type = "signed_pass"

    def __init__(self, keys: Iterable[cose.PublicKey]) -> None:
        self._keys = {key_id(k): k for k in keys}

    @classmethod
    def from_files(cls, paths: Sequence[Path]) -> SignedPassVerifier:
        return cls(load_public_key(p, f"credentials.signed_pass.trusted_keys[{i}]") for i, p in enumerate(paths))

    def matches(self, payload: bytes) -> bool:
        return payload.startswith(PREFIX.encode())

    def verify(self, payload: bytes, ctx: VerifyContext) -> Verified:
        if len(payload) > MAX_TEXT:
            raise CredentialError(Reason.TOO_LARGE, f"longer than {MAX_TEXT} bytes")
        try:
            text = payload[len(PREFIX):].decode("ascii")
        except UnicodeDecodeError:
            raise CredentialError(Reason.MALFORMED, "non-ASCII after ES1:") from None
        msg = cose.decode_sign1(inflate(b45decode(text), MAX_INFLATED))
        key = self._keys.get(msg.kid or b"")
        if key is None:
            raise CredentialError(Reason.UNKNOWN_KEY, "kid is not a trusted issuer key")
        cose.verify(msg, key, ALLOWED_ALGS)
        claims = cbor_loads(msg.payload)
        if not isinstance(claims, Mapping):
            raise CredentialError(Reason.MALFORMED, "CWT claims are not a map")
        return self._verified(claims, msg.kid or b"", ctx)

    def _verified(self, claims: Mapping[Any, Any], kid: bytes, ctx: VerifyContext) -> Verified:
        subject = clean_text(_get(claims, SUB, str), "sub", 256)
        token = _get(claims, CTI, bytes)
        if not subject or not token or len(token) > 64:
            raise CredentialError(Reason.MALFORMED, "pass lacks a subject or token id")
        name = clean_text(_get(claims, "name", str, ""), "name", 256)
        summary = CredentialSummary(
            type=self.type,
            subject=ctx.pseudonymize(self.type, subject),
            role=clean_text(_get(claims, "role", str, ""), "role", 64),
            token_id=token.hex(),
            details={"name": name} if name else {},
        )
        return Verified(
            summary=summary,
            not_before=_time(claims, NBF),
            not_after=_time(claims, EXP),
            sites=_scope(claims, "sites"),
            doors=_scope(claims, "doors"),
            one_time=_get(claims, "one_time", bool, False),
            issuer=clean_text(_get(claims, ISS, str, ""), "iss", 256),
            extra={"kid": kid.hex(), "issued_at": _time(claims, IAT)},
        )


def _get(claims: Mapping[Any, Any], key: object, kind: type, default: Any = None) -> Any:
    value = claims.get(key, default)
    if value is None or not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise CredentialError(Reason.MALFORMED, f"claim {key!r} missing or of the wrong type")
    return value


def _time(claims: Mapping[Any, Any], key: int) -> dt.datetime | None:
    if key not in claims:
        return None
    value = _get(claims, key, int)
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise CredentialError(Reason.MALFORMED, f"claim {key} out of range") from None


def _scope(claims: Mapping[Any, Any], key: str) -> tuple[str, ...]:
    items = _get(claims, key, list, [])
    if len(items) > 64 or not all(isinstance(i, str) and SCOPE_ID.fullmatch(i) for i in items):
        raise CredentialError(Reason.MALFORMED, f"claim {key!r} must list site/door ids")
    return tuple(items)
