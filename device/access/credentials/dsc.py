"""EU DCC trust list: Document Signer Certificates (DSC) indexed by kid.

The file is the gateway's JSON export: an array of
``{"kid": base64, "country": "XX", "certificateType": "DSC", "rawData": base64 DER}``.
Entries that are not DSCs, whose DER does not parse, or whose kid is not the
first 8 bytes of SHA-256 over the DER are skipped with a warning, so one bad
entry in a national download does not take the door offline; a file that
yields no usable DSC at all is a config error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from entryscan.device.access.credentials.cose import PublicKey
from entryscan.device.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_KEY = "credentials.eu_dcc.trust_list"
# Extended key usage OIDs that restrict a DSC to certificate types; both the
# registered arc and the variant with an extra ".0" that early issuers used.
TYPE_OIDS = {
    "t": {"1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"},
    "v": {"1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"},
    "r": {"1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"},
}
_ALL_TYPE_OIDS = set().union(*TYPE_OIDS.values())


@dataclass(frozen=True, slots=True)
class Dsc:
    kid: bytes
    country: str
    public_key: PublicKey
    not_before: dt.datetime
    not_after: dt.datetime
    type_oids: frozenset[str]

    @classmethod
    def from_der(cls, der: bytes, country: str = "") -> Dsc:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise TypeError(f"unsupported DSC key type {type(key).__name__}")
        return cls(
            kid=hashlib.sha256(der).digest()[:8],
            country=country,
            public_key=key,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            type_oids=_type_oids(cert, der),
        )

    def may_sign(self, cert_type: str) -> bool:
        """A DSC without any type OID may sign every type; otherwise only the listed ones."""
        return not self.type_oids or bool(self.type_oids & TYPE_OIDS.get(cert_type, set()))




def _type_oids(cert: x509.Certificate, der: bytes) -> frozenset[str]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return frozenset()
    except ValueError:
        # Some national DSCs violate DER elsewhere in their extensions (e.g. an
        # encoded DEFAULT in BasicConstraints), which cryptography refuses to
        # parse. Fall back to finding the type OIDs' encodings in the raw
        # certificate: that can only restrict the DSC, never widen it.
        return frozenset(oid for oid, enc in _OID_DER.items() if enc in der)
    return frozenset(o.dotted_string for o in eku) & _ALL_TYPE_OIDS


def _encode_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return bytes([0x06, len(body)]) + bytes(body)


_OID_DER = {oid: _encode_oid(oid) for oid in _ALL_TYPE_OIDS}


class TrustList:
    def __init__(self, dscs: Iterable[Dsc]) -> None:
        index: dict[bytes, list[Dsc]] = defaultdict(list)
        for dsc in dscs:
            index[dsc.kid].append(dsc)
        self._index = {kid: tuple(v) for kid, v in index.items()}

    def __len__(self) -> int:
        return sum(len(v) for v in self._index.values())

    def lookup(self, kid: bytes) -> tuple[Dsc, ...]:
        return self._index.get(kid, ())

    @classmethod
    def from_file(cls, path: Path) -> TrustList:
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(CONFIG_KEY, f"{path} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(CONFIG_KEY, f"cannot read {path}: {exc}") from None
        if not isinstance(entries, list):
            raise ConfigError(CONFIG_KEY, f"{path} must hold a JSON array")
        dscs = [d for i, e in enumerate(entries) if (d := _entry(e, i, path)) is not None]
        if not dscs:
            raise ConfigError(CONFIG_KEY, f"{path} holds no usable DSC")
        return cls(dscs)


def _entry(entry: object, index: int, path: Path) -> Dsc | None:
    where = f"{path}[{index}]"
    if not isinstance(entry, Mapping) or entry.get("certificateType", "DSC") != "DSC":
        log.warning("%s: not a DSC entry, skipped", where)
        return None
    try:
        der = base64.b64decode(str(entry["rawData"]), validate=True)
        dsc = Dsc.from_der(der, str(entry.get("country", "")))
        kid = base64.b64decode(str(entry["kid"]), validate=True) if "kid" in entry else dsc.kid
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        log.warning("%s: unusable DSC skipped (%s)", where, type(exc).__name__)
        return None
    if kid != dsc.kid:
        log.warning("%s: kid does not match SHA-256 of the certificate, skipped", where)
        return None
    return dsc
