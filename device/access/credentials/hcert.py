"""Structure of the EU DCC health certificate (claim -260/1), checked by hand.

A full JSON-Schema engine would be a large dependency for a few rules; this
checks what the door relies on and what the DCC schema requires of every
version since 1.0: a version string, a name with the standardised family name
(``fnt``), a birth date, and certificate entries of exactly one type (v, t or r)
with that type's required fields. All text is checked for control and bidi
characters.

As issued, not as the latest schema would have it:
- schema 1.0.x set no ``maxItems`` on v, t and r, and issuers of that time put
  each dose in its own vaccination entry: under 1.0.x a type may hold up to
  nine entries (dose numbers run 1..9); from 1.1 on, exactly one;
- the CWT is CBOR, and some issuers tagged date-time strings with CBOR tag 0
  (RFC 8949 §3.4.1). ``untag_dates`` accepts the tag on the fields that are
  date-time in the certificate's schema version (``sc`` and ``dr`` always; ``dt``,
  ``df`` and ``du`` under 1.0.x) and gives them back as RFC 3339 text; a tag 0
  anywhere else is malformed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from entryscan.device.access.credentials.textcheck import check_tree, clean_text
from entryscan.device.errors import CredentialError
from entryscan.device.model import Reason

TYPE_NAMES = {"v": "vaccination", "t": "test", "r": "recovery"}
REQUIRED = {
    "v": ("tg", "vp", "mp", "ma", "dn", "sd", "dt", "co", "is", "ci"),
    "t": ("tg", "tt", "sc", "tr", "co", "is", "ci"),
    "r": ("tg", "fr", "co", "is", "df", "du", "ci"),
}
_VERSION = re.compile(r"\d{1,2}\.\d{1,2}\.\d{1,2}")
_SCHEMA_1_0 = re.compile(r"1\.0\.\d{1,2}")
MAX_ENTRIES_1_0 = 9
DATE_TIME_FIELDS = {"t": ("sc", "dr")}
DATE_TIME_FIELDS_1_0 = {"v": ("dt",), "t": ("sc", "dr"), "r": ("df", "du")}


def _schema_1_0(cert: Mapping[str, Any]) -> bool:
    ver = cert.get("ver")
    return isinstance(ver, str) and bool(_SCHEMA_1_0.fullmatch(ver))


def untag_dates(cert: Mapping[str, Any]) -> dict[str, Any]:
    """``cert`` with tag-0 date-times (decoded by cbor2 as datetime) turned back into text where allowed."""
    fields = DATE_TIME_FIELDS_1_0 if _schema_1_0(cert) else DATE_TIME_FIELDS
    out = dict(cert)
    for kind, names in fields.items():
        entries = out.get(kind)
        if isinstance(entries, list):
            out[kind] = [_untag_entry(e, names) if isinstance(e, Mapping) else e for e in entries]
    _refuse_datetimes(out)
    return out


def _untag_entry(entry: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    out = dict(entry)
    for name in names:
        value = out.get(name)
        if isinstance(value, dt.datetime):
            out[name] = value.isoformat().replace("+00:00", "Z")
    return out


def _refuse_datetimes(value: object) -> None:
    stack = [value]
    while stack:  # bounded: cbor_guard already limited the item count
        item = stack.pop()
        if isinstance(item, dt.datetime | dt.date):
            raise _bad("CBOR tag 0 on a field that is not a date-time")
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _bad(detail: str) -> CredentialError:
    return CredentialError(Reason.MALFORMED, detail)


def certificate_type(cert: Mapping[str, Any]) -> str:
    """The one type key present (v/t/r), or "" when there is none or more than one."""
    # Early issuers (BG "old version") wrote the absent types as null.
    present = [t for t in TYPE_NAMES if cert.get(t) is not None]
    return present[0] if len(present) == 1 else ""


def validate(cert: Mapping[str, Any]) -> str:
    """Raise malformed unless ``cert`` is a well-formed hcert; return its type."""
    check_tree(cert, "hcert")
    if not isinstance(cert.get("ver"), str) or not _VERSION.fullmatch(cert["ver"]):
        raise _bad("hcert version missing or invalid")
    name = cert.get("nam")
    if not isinstance(name, Mapping) or not isinstance(name.get("fnt"), str) or not name["fnt"]:
        raise _bad("hcert name lacks the standardised family name")
    if not isinstance(cert.get("dob"), str):
        raise _bad("hcert birth date missing")
    kind = certificate_type(cert)
    if not kind:
        raise _bad("hcert must hold exactly one of v, t, r")
    entries = cert[kind]
    most = MAX_ENTRIES_1_0 if _schema_1_0(cert) else 1
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not 1 <= len(entries) <= most:
        raise _bad(f"hcert {kind} must hold {'1 to 9 entries' if most > 1 else 'exactly one entry'}")
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise _bad(f"hcert {kind} entry is not an object")
        missing = [f for f in REQUIRED[kind] if f not in entry]
        if missing:
            raise _bad(f"hcert {kind} entry lacks {', '.join(missing)}")
    return kind


def person(cert: Mapping[str, Any]) -> dict[str, str]:
    name = cert.get("nam") if isinstance(cert.get("nam"), Mapping) else {}
    assert isinstance(name, Mapping)
    parts = [name.get(k) for k in ("gn", "fn")]
    display = " ".join(clean_text(p, "name") for p in parts if isinstance(p, str) and p)
    return {
        "name": display or clean_text(name.get("fnt", ""), "name"),
        "standardised": clean_text(f"{name.get('fnt', '')}<<{name.get('gnt', '')}", "name"),
        "birth_date": clean_text(cert.get("dob", ""), "dob"),
    }


def certificate_id(cert: Mapping[str, Any]) -> str:
    kind = certificate_type(cert)
    entries = cert.get(kind) if kind else None
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        return ""
    # Several entries (schema 1.0.x): the certificate is that of the last dose given.
    entry = max(enumerate(entries), key=lambda pair: (_dose(pair[1]), pair[0]))[1]
    ci = entry.get("ci") if isinstance(entry, Mapping) else None
    return ci if isinstance(ci, str) else ""


def _dose(entry: object) -> int:
    dn = entry.get("dn") if isinstance(entry, Mapping) else None
    return dn if isinstance(dn, int) and not isinstance(dn, bool) else 0
