"""The signed list document: encoding, signing and strict parsing (format 1).

See device/lists.py for the format and the rules the store applies. Parsing is
bounded (size, entries, CBOR structure) and raises ListError with a short
stable reason; it never raises anything else on hostile bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cbor2

from entryscan.device.access.credentials import cose
from entryscan.device.access.credentials.base import Verified
from entryscan.device.access.credentials.cbor_guard import scan as cbor_scan
from entryscan.device.access.credentials.signed_pass import key_id
from entryscan.device.errors import CredentialError
from entryscan.device.model import Reason

LIST_FORMAT = 1
MAX_DOC_BYTES = 3 * 1024 * 1024
MAX_ENTRIES = 50_000
MAX_VERSION = 2**62
ALLOWED_ALGS = (cose.EDDSA, cose.ES256)
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
ENTRY = re.compile(r"(token|subject|kid):[0-9a-f]{8,128}")

Kind = Literal["revoke", "allow"]


class ListError(Exception):
    """A list document was refused; ``reason`` is a short stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ListDocument:
    name: str
    kind: Kind
    version: int
    issued_at: int
    entries: frozenset[str]
    sites: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    kid: str = ""
    digest: str = ""

    def applies_to(self, credential_type: str) -> bool:
        return not self.types or credential_type in self.types


# -- the document --------------------------------------------------------------------------------


def encode_document(
    *, name: str, kind: Kind, version: int, issued_at: int, entries: Iterable[str],
    sites: Sequence[str] = (), types: Sequence[str] = (),
) -> bytes:
    """The CBOR payload (unsigned); validated with the same rules the device applies."""
    body: dict[str, Any] = {"format": LIST_FORMAT, "name": name, "kind": kind, "version": version,
                            "iat": issued_at, "entries": sorted(set(entries))}
    if sites:
        body["sites"] = list(sites)
    if types:
        body["types"] = list(types)
    payload = cbor2.dumps(body, canonical=True)
    _parse_body(payload)  # raises ListError on anything a device would refuse
    return payload


def sign_document(payload: bytes, key: cose.PrivateKey) -> bytes:
    """Wrap a payload from :func:`encode_document` in a COSE_Sign1 signed by ``key``."""
    signed = cose.sign(payload, key, key_id(key.public_key()))
    if len(signed) > MAX_DOC_BYTES:
        raise ListError("too_large", f"signed list is {len(signed)} bytes; devices accept {MAX_DOC_BYTES}")
    return signed


def parse_document(data: bytes, keys: Mapping[bytes, cose.PublicKey]) -> ListDocument:
    """Authenticate and parse one signed list; raises ListError only."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise ListError("empty", "no document")
    if len(data) > MAX_DOC_BYTES:
        raise ListError("too_large", f"{len(data)} bytes > {MAX_DOC_BYTES}")
    data = bytes(data)
    try:
        msg = cose.decode_sign1(data)
        key = keys.get(msg.kid or b"")
        if key is None:
            raise ListError("unknown_key", "kid is not a trusted list signer")
        cose.verify(msg, key, ALLOWED_ALGS)
    except CredentialError as exc:
        raise ListError("bad_signature" if exc.reason == Reason.BAD_SIGNATURE else "malformed", exc.detail) from None
    doc = _parse_body(msg.payload)
    return ListDocument(doc.name, doc.kind, doc.version, doc.issued_at, doc.entries, doc.sites, doc.types,
                        kid=(msg.kid or b"").hex(), digest=hashlib.sha256(data).hexdigest())


def _parse_body(payload: bytes) -> ListDocument:
    try:
        cbor_scan(payload, max_depth=4, max_items=MAX_ENTRIES + 64, tags=())
        body = cbor2.loads(payload)
    except CredentialError as exc:
        raise ListError("too_large" if exc.reason == Reason.TOO_LARGE else "malformed", exc.detail) from None
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ListError("malformed", f"CBOR does not decode: {type(exc).__name__}") from None
    if not isinstance(body, dict):
        raise ListError("malformed", "payload is not a map")
    known = {"format", "name", "kind", "version", "iat", "sites", "types", "entries"}
    if any(k not in known for k in body):
        raise ListError("malformed", "payload has unknown keys")
    if _int(body.get("format")) != LIST_FORMAT:
        raise ListError("malformed", f"format must be {LIST_FORMAT}")
    name = body.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ListError("malformed", "name must match [a-z0-9][a-z0-9_-]{0,62}")
    kind = body.get("kind")
    if kind not in ("revoke", "allow"):
        raise ListError("malformed", "kind must be 'revoke' or 'allow'")
    version = _int(body.get("version"))
    if version is None or not 1 <= version < MAX_VERSION:
        raise ListError("malformed", "version must be an integer >= 1")
    issued = _int(body.get("iat"))
    if issued is None or not 0 <= issued < 2**40:
        raise ListError("malformed", "iat must be epoch seconds")
    entries = body.get("entries")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise ListError("malformed" if not isinstance(entries, list) else "too_large", "entries")
    if not all(isinstance(e, str) and ENTRY.fullmatch(e) for e in entries):
        raise ListError("malformed", "entries must be token:/subject:/kid: followed by lowercase hex")
    return ListDocument(name, kind, version, issued, frozenset(entries),
                        _ids(body.get("sites", []), "sites"), _ids(body.get("types", []), "types"))


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ids(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 256 or not all(
            isinstance(v, str) and NAME.fullmatch(v) for v in value):
        raise ListError("malformed", f"{what} must be a list of ids")
    return tuple(value)


def identifiers(verified: Verified) -> frozenset[str]:
    """The list entries that would match this credential."""
    ids = set()
    summary = verified.summary
    if summary.token_id:
        ids.add(f"token:{summary.token_id.lower()}")
    if summary.subject:
        ids.add(f"subject:{summary.subject.lower()}")
    kid = verified.extra.get("kid")
    if isinstance(kid, str) and kid:
        ids.add(f"kid:{kid.lower()}")
    return frozenset(ids)
