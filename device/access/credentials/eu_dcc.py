"""EU Digital COVID Certificates (HC1): ``HC1:`` + base45 -> zlib -> COSE_Sign1 -> CWT with hcert (-260).

The pipeline is a chain of public step functions so the conformance suite can
check each step against dgc-testdata; every failure is a :class:`DccError`,
a CredentialError that also names the :class:`Step` it failed at.

Choices (documented in the module so they stay stable):
- a DSC whose extended key usage does not cover the certificate type
  (v/t/r) gives ``rule_failed``: the signature is genuine, the signer is
  just not authorised for this kind of certificate;
- a DSC outside its own validity at scan time is ``expired``/``not_yet_valid``
  like the certificate itself;
- structural (schema) problems in the hcert are ``malformed``;
- time is checked here only when the clock is trusted; otherwise iat/exp are
  handed to the policy as not_before/not_after, which then decides
  ``clock_untrusted`` with the same rules as for every other type.
A DCC alone is a static bearer credential (reliability-notes §4.2); whether it
may open a door is the policy's decision, not this module's.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from entryscan.device.access.credentials import cose, hcert
from entryscan.device.access.credentials.base import Verified, VerifyContext
from entryscan.device.access.credentials.base45 import b45decode
from entryscan.device.access.credentials.cbor_guard import DEFAULT_TAGS
from entryscan.device.access.credentials.cbor_guard import loads as cbor_loads
from entryscan.device.access.credentials.dsc import Dsc, TrustList
from entryscan.device.access.credentials.inflate import inflate
from entryscan.device.errors import CredentialError
from entryscan.device.model import CredentialSummary, Reason

log = logging.getLogger(__name__)

PREFIX = "HC1:"
MAX_TEXT = 4300  # a version-40 QR holds 4296 alphanumeric characters
MAX_INFLATED = 32 * 1024  # real certificates are 300-2000 bytes
ALLOWED_ALGS = (cose.ES256, cose.PS256)
ONE_SECOND = dt.timedelta(seconds=1)
CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_HCERT = 1, 4, 6, -260
DATE_TIME_TAG = 0

__all__ = ["DccError", "Dsc", "EuDccVerifier", "Step", "TrustList"]


class Step(enum.IntEnum):
    """Pipeline steps in order; names follow dgc-testdata's EXPECTED* keys."""

    UNPREFIX = 1
    B45DECODE = 2
    COMPRESSION = 3
    DECODE = 4
    VERIFY = 5
    SCHEMAVALIDATION = 6
    KEYUSAGE = 7
    EXPIRATIONCHECK = 8


class DccError(CredentialError):
    def __init__(self, reason: str, detail: str, step: Step) -> None:
        super().__init__(reason, detail)
        self.step = step


def _at(step: Step, exc: CredentialError) -> DccError:
    return DccError(exc.reason, exc.detail, step)


@dataclass(frozen=True, slots=True)
class Claims:
    issuer: str
    issued_at: dt.datetime | None
    expires: dt.datetime | None
    hcert: Mapping[str, Any]


def unprefix(payload: bytes) -> str:
    if len(payload) > MAX_TEXT:
        raise DccError(Reason.TOO_LARGE, f"longer than {MAX_TEXT} bytes", Step.UNPREFIX)
    if not payload.startswith(PREFIX.encode()):
        raise DccError(Reason.UNKNOWN_FORMAT, "no HC1: prefix", Step.UNPREFIX)
    try:
        return payload[len(PREFIX):].decode("ascii")
    except UnicodeDecodeError:
        raise DccError(Reason.MALFORMED, "non-ASCII after HC1:", Step.B45DECODE) from None


def debase45(text: str) -> bytes:
    try:
        return b45decode(text)
    except CredentialError as exc:
        raise _at(Step.B45DECODE, exc) from None


def decompress(data: bytes) -> bytes:
    try:
        return inflate(data, MAX_INFLATED)
    except CredentialError as exc:
        raise _at(Step.COMPRESSION, exc) from None


def decode_cose(data: bytes) -> cose.Sign1:
    try:
        return cose.decode_sign1(data)
    except CredentialError as exc:
        raise _at(Step.DECODE, exc) from None


def parse_claims(msg: cose.Sign1) -> Claims:
    """CWT claims of a verified message. Decoding them is the DECODE step (as
    dgc-testdata counts it), even though it runs after the signature check:
    nothing the payload says is read before it is authenticated."""
    try:
        # Tag 0 (a date-time string): some issuers tagged hcert date-times; hcert.untag_dates
        # accepts it only where the schema has a date-time.
        claims = cbor_loads(msg.payload, tags=DEFAULT_TAGS | {DATE_TIME_TAG})
    except CredentialError as exc:
        raise _at(Step.DECODE, exc) from None
    hc = claims.get(CLAIM_HCERT) if isinstance(claims, Mapping) else None
    cert = hc.get(1) if isinstance(hc, Mapping) else None
    if not isinstance(cert, Mapping):
        raise DccError(Reason.MALFORMED, "CWT has no hcert v1 claim", Step.DECODE)
    try:
        cert = hcert.untag_dates(cert)
    except CredentialError as exc:
        raise _at(Step.SCHEMAVALIDATION, exc) from None
    assert isinstance(claims, Mapping)
    issuer = claims.get(CLAIM_ISS, "")
    return Claims(
        issuer=issuer if isinstance(issuer, str) else "",
        issued_at=_epoch(claims.get(CLAIM_IAT), "iat"),
        expires=_epoch(claims.get(CLAIM_EXP), "exp"),
        hcert=cert,
    )


def _epoch(value: object, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise DccError(Reason.MALFORMED, f"{name} is not a number", Step.DECODE)
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise DccError(Reason.MALFORMED, f"{name} is out of range", Step.DECODE) from None


def check_signature(msg: cose.Sign1, trust: TrustList) -> Dsc:
    """Return the DSC that signed ``msg``; every DSC with the kid is tried, as the spec requires."""
    kid = msg.kid
    candidates = trust.lookup(kid) if kid is not None else ()
    if not candidates:
        raise DccError(Reason.UNKNOWN_KEY, "kid is not in the trust list", Step.VERIFY)
    error: CredentialError | None = None
    for dsc in candidates:
        try:
            # dgc-testdata CO20: an empty protected bucket with alg and kid unprotected verifies.
            cose.verify(msg, dsc.public_key, ALLOWED_ALGS, unprotected_if_unsigned_headers=True)
            return dsc
        except CredentialError as exc:
            error = exc
    assert error is not None
    raise _at(Step.VERIFY, error)


def check_key_usage(dsc: Dsc, cert_type: str) -> None:
    if not dsc.may_sign(cert_type):
        raise DccError(Reason.RULE_FAILED, f"DSC may not sign type {cert_type!r}", Step.KEYUSAGE)


def check_times(dsc: Dsc, claims: Claims, now: dt.datetime) -> None:
    step = Step.EXPIRATIONCHECK
    if now < dsc.not_before:
        raise DccError(Reason.NOT_YET_VALID, "signing certificate not yet valid", step)
    if now > dsc.not_after:
        raise DccError(Reason.EXPIRED, "signing certificate expired", step)
    if claims.issued_at is not None and now < claims.issued_at:
        raise DccError(Reason.NOT_YET_VALID, "issued in the future", step)
    # hcert_spec: exp is the time *after which* a verifier must reject.
    if claims.expires is not None and now > claims.expires:
        raise DccError(Reason.EXPIRED, "certificate expired", step)


def check_schema(cert: Mapping[str, Any]) -> str:
    try:
        return hcert.validate(cert)
    except CredentialError as exc:
        raise _at(Step.SCHEMAVALIDATION, exc) from None


class EuDccVerifier:
    type = "eu_dcc"

    def __init__(self, trust: TrustList, rules: str = "none") -> None:
        if rules != "none":
            raise ValueError(f"unsupported business rules {rules!r}")
        self._trust = trust

    @classmethod
    def from_file(cls, path: Path, rules: str = "none") -> EuDccVerifier:
        return cls(TrustList.from_file(path), rules)

    def matches(self, payload: bytes) -> bool:
        return payload.startswith(PREFIX.encode())

    def verify(self, payload: bytes, ctx: VerifyContext) -> Verified:
        msg = decode_cose(decompress(debase45(unprefix(payload))))
        # Authenticate before interpreting anything the payload claims.
        dsc = check_signature(msg, self._trust)
        claims = parse_claims(msg)
        # Structure before key usage: the type the DSC must be allowed for is
        # only defined once there is exactly one certificate entry.
        cert_type = check_schema(claims.hcert)
        check_key_usage(dsc, cert_type)
        if ctx.clock_synced:
            check_times(dsc, claims, ctx.now)
        return self._verified(claims, dsc, cert_type, ctx)

    def _verified(self, claims: Claims, dsc: Dsc, cert_type: str, ctx: VerifyContext) -> Verified:
        person = hcert.person(claims.hcert)
        subject = ctx.pseudonymize(self.type, json.dumps(person, sort_keys=True, ensure_ascii=False))
        uvci = hcert.certificate_id(claims.hcert)
        summary = CredentialSummary(
            type=self.type,
            subject=subject,
            role=hcert.TYPE_NAMES[cert_type],
            token_id=ctx.pseudonymize("eu_dcc_uvci", uvci) if uvci else "",
            details={"name": person["name"], "birth_date": person["birth_date"]},
        )
        # The policy denies at now >= not_after; exp itself is still a valid second.
        not_after = dsc.not_after if claims.expires is None else claims.expires + ONE_SECOND
        not_after = min(not_after, dsc.not_after + ONE_SECOND)
        return Verified(
            summary=summary,
            not_before=max(filter(None, (claims.issued_at, dsc.not_before))),
            not_after=not_after,
            issuer=claims.issuer or dsc.country,
            extra={"certificate_type": cert_type, "dsc_country": dsc.country},
        )
