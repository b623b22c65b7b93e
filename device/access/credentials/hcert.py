"""Structure of the EU DCC health certificate (claim -260/1), checked by hand.

A full JSON-Schema engine would be a large dependency for a few rules; this
checks what the door relies on and what the DCC schema requires of every
version since 1.0: a version string, a name with the standardised family name
(``fnt``), a birth date, and exactly one certificate entry of exactly one type
(v, t or r) with that type's required fields. All text is checked for control
and bidi characters.
"""

from __future__ import annotations

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
    if not isinstance(entries, Sequence) or isinstance(entries, str) or len(entries) != 1:
        raise _bad(f"hcert {kind} must hold exactly one entry")
    entry = entries[0]
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
    if isinstance(entries, Sequence) and entries and isinstance(entries[0], Mapping):
        ci = entries[0].get("ci")
        return ci if isinstance(ci, str) else ""
    return ""
