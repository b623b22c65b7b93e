"""SMART Health Cards: ``shc:/`` + digit pairs -> JWS compact (ES256) -> raw DEFLATE JSON.

Checks, in order: bounded size; one chunk only (chunked cards are deprecated);
digit pairs 00..77; exactly three base64url JWS parts; header
``{"alg": "ES256", "zip": "DEF", "kid": ...}`` (another alg is bad_signature,
a missing or other zip is malformed); kid among the configured issuers' keys
(unknown_key); the signature; then the payload: bounded raw DEFLATE with no
trailing bytes, strict JSON (no BOM, no duplicate keys), ``iss`` equal to the
issuer the key was configured for (bad_signature otherwise: a trusted key
signing for another issuer's URL is not that issuer's card), and the CRL.

Times: ``nbf`` is the issuance time and becomes not_before; ``exp`` is
optional (cards from 2021 have none).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from entryscan.device.access.credentials import jsonguard
from entryscan.device.access.credentials.base import Verified, VerifyContext
from entryscan.device.access.credentials.inflate import RAW_DEFLATE_WBITS, inflate
from entryscan.device.access.credentials.textcheck import check_tree, clean_text
from entryscan.device.config.credentials import ShcConfig
from entryscan.device.errors import ConfigError, CredentialError
from entryscan.device.model import CredentialSummary, Reason

log = logging.getLogger(__name__)

PREFIX = "shc:/"
MAX_TEXT = 4400
MAX_INFLATED = 32 * 1024
_DIGITS = re.compile(rb"(?:[0-9]{2})+")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class IssuerKey:
    iss: str
    key: ec.EllipticCurvePublicKey
    revoked: Mapping[str, int | None]  # rid -> revoked for nbf before this time (None = always)


def b64url(text: str, what: str) -> bytes:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise CredentialError(Reason.MALFORMED, f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CredentialError(Reason.MALFORMED, f"{what} is not base64url") from None


def jws_from_numeric(payload: bytes) -> str:
    if len(payload) > MAX_TEXT:
        raise CredentialError(Reason.TOO_LARGE, f"longer than {MAX_TEXT} bytes")
    digits = payload[len(PREFIX):]
    if b"/" in digits:
        raise CredentialError(Reason.MALFORMED, "chunked health cards are not supported")
    if not _DIGITS.fullmatch(digits):
        raise CredentialError(Reason.MALFORMED, "shc:/ must be followed by digit pairs")
    pairs = np.frombuffer(digits, dtype=np.uint8).reshape(-1, 2).astype(np.int16) - ord("0")
    values = pairs[:, 0] * 10 + pairs[:, 1]
    if values.size and int(values.max()) > ord("z") - 45:
        raise CredentialError(Reason.MALFORMED, "digit pair outside 00..77")
    return (values + 45).astype(np.uint8).tobytes().decode("ascii")


class ShcVerifier:
    type = "shc"

    def __init__(self, keys: Mapping[str, IssuerKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_config(cls, cfg: ShcConfig) -> ShcVerifier:
        keys: dict[str, IssuerKey] = {}
        for i, issuer in enumerate(cfg.issuers):
            where = f"credentials.shc.issuers[{i}]"
            crl = load_crl(issuer.crl, f"{where}.crl") if issuer.crl else None
            for kid, key in load_jwks(issuer.jwks, f"{where}.jwks").items():
                revoked = crl[1] if crl and crl[0] == kid else {}
                previous = keys.get(kid)
                if previous is not None and previous.iss != issuer.iss:
                    raise ConfigError(f"{where}.jwks", f"kid {kid} is already trusted for {previous.iss}")
                if previous is None or revoked:
                    keys[kid] = IssuerKey(issuer.iss, key, revoked)
        return cls(keys)

    def matches(self, payload: bytes) -> bool:
        return payload.startswith(PREFIX.encode())

    def verify(self, payload: bytes, ctx: VerifyContext) -> Verified:
        parts = jws_from_numeric(payload).split(".")
        if len(parts) != 3:
            raise CredentialError(Reason.MALFORMED, "not a compact JWS")
        header = jsonguard.loads(b64url(parts[0], "JWS header"), "JWS header")
        if not isinstance(header, dict):
            raise CredentialError(Reason.MALFORMED, "JWS header is not an object")
        if header.get("alg") != "ES256":
            raise CredentialError(Reason.BAD_SIGNATURE, "JWS alg must be ES256")
        if header.get("zip") != "DEF":
            raise CredentialError(Reason.MALFORMED, "JWS payload is not marked deflated")
        kid = header.get("kid")
        issuer = self._keys.get(kid) if isinstance(kid, str) else None
        if issuer is None:
            raise CredentialError(Reason.UNKNOWN_KEY, "kid is not a trusted issuer key")
        _check_signature(issuer.key, f"{parts[0]}.{parts[1]}".encode(), b64url(parts[2], "JWS signature"))
        body = inflate(b64url(parts[1], "JWS payload"), MAX_INFLATED, RAW_DEFLATE_WBITS)
        claims = jsonguard.loads(body, "JWS payload")
        return self._verified(claims, issuer, str(kid), ctx)

    def _verified(self, claims: Any, issuer: IssuerKey, kid: str, ctx: VerifyContext) -> Verified:
        if not isinstance(claims, dict) or not isinstance(claims.get("vc"), dict):
            raise CredentialError(Reason.MALFORMED, "payload lacks vc")
        check_tree(claims, "payload")
        if claims.get("iss") != issuer.iss:
            raise CredentialError(Reason.BAD_SIGNATURE, "iss is not the issuer of the signing key")
        nbf = _time(claims.get("nbf"), "nbf", required=True)
        assert nbf is not None
        rid = claims["vc"].get("rid")
        if isinstance(rid, str) and rid in issuer.revoked:
            cutoff = issuer.revoked[rid]
            if cutoff is None or nbf.timestamp() < cutoff:
                raise CredentialError(Reason.REVOKED, "revocation id is on the issuer's CRL")
        patient = _patient(claims["vc"])
        person = {"name": patient[0], "birth_date": patient[1]}
        types = claims["vc"].get("type")
        return Verified(
            summary=CredentialSummary(
                type=self.type,
                subject=ctx.pseudonymize(self.type, json.dumps(person, sort_keys=True, ensure_ascii=False)),
                token_id=ctx.pseudonymize("shc_rid", rid) if isinstance(rid, str) else "",
                details=person,
            ),
            not_before=nbf,
            not_after=_time(claims.get("exp"), "exp", required=False),
            issuer=issuer.iss,
            extra={"kid": kid, "types": [t for t in types if isinstance(t, str)] if isinstance(types, list) else []},
        )


def _check_signature(key: ec.EllipticCurvePublicKey, signed: bytes, signature: bytes) -> None:
    if len(signature) != 64:
        raise CredentialError(Reason.BAD_SIGNATURE, "ES256 signature must be 64 bytes")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CredentialError(Reason.BAD_SIGNATURE, "signature does not verify") from None


def _time(value: object, name: str, required: bool) -> dt.datetime | None:
    if value is None and not required:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise CredentialError(Reason.MALFORMED, f"{name} missing or not a number")
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise CredentialError(Reason.MALFORMED, f"{name} out of range") from None


def _patient(vc: Mapping[str, Any]) -> tuple[str, str]:
    subject = vc.get("credentialSubject")
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            names = resource.get("name")
            first = names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}
            given = first.get("given")
            parts = [g for g in given if isinstance(g, str)] if isinstance(given, list) else []
            parts.append(first.get("family", ""))
            name = " ".join(p for p in parts if isinstance(p, str) and p)
            return clean_text(name, "name", 256), clean_text(resource.get("birthDate", ""), "birthDate", 32)
    raise CredentialError(Reason.MALFORMED, "FHIR bundle has no Patient")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint, which SMART Health Cards use as the kid."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def load_jwks(path: Path, where: str) -> dict[str, ec.EllipticCurvePublicKey]:
    """ES256 signing keys from a JWKS file; other keys (e.g. ECDH-ES) are skipped."""
    doc = _read_json(path, where)
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    listed = doc.get("keys") if isinstance(doc, dict) else None
    for jwk in listed if isinstance(listed, list) else []:
        if not isinstance(jwk, dict) or jwk.get("alg") != "ES256" or jwk.get("crv") != "P-256":
            continue
        try:
            x, y = (int.from_bytes(b64url(jwk[c], "jwk"), "big") for c in ("x", "y"))
            key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            kid = jwk_thumbprint(jwk)
        except (KeyError, TypeError, ValueError, CredentialError):
            log.warning("%s: unusable key skipped", where)
            continue
        if jwk.get("kid") != kid:
            log.warning("%s: kid %s is not the key's thumbprint, skipped", where, jwk.get("kid"))
            continue
        keys[kid] = key
    if not keys:
        raise ConfigError(where, f"{path} holds no ES256 signing key")
    return keys


def load_crl(path: Path, where: str) -> tuple[str, dict[str, int | None]]:
    """``{"kid", "method": "rid", "ctr", "rids": ["rid" | "rid.timestamp"]}`` -> (kid, rid -> cutoff)."""
    doc = _read_json(path, where)
    if not isinstance(doc, dict) or doc.get("method") != "rid" or not isinstance(doc.get("kid"), str) \
            or not isinstance(doc.get("rids"), list):
        raise ConfigError(where, f"{path} is not a rid CRL")
    revoked: dict[str, int | None] = {}
    for entry in doc["rids"]:
        rid, _, stamp = str(entry).partition(".")
        if not rid or (stamp and not stamp.isdigit()):
            raise ConfigError(where, f"{path}: bad rid entry {entry!r}")
        revoked[rid] = int(stamp) if stamp else None
    return doc["kid"], revoked


def _read_json(path: Path, where: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(where, f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(where, f"cannot read {path}: {exc}") from None
