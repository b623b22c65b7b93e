"""Vietnamese citizen ID card (CCCD) QR: identity capture for visitor registration, not proof.

The QR on the card is unsigned, so anyone can print one; the result is only
ever a registration of who claims to be at the door, and the policy must not
treat it as authentication (``extra["proof"]`` is False).

De facto format, no public specification: ``id|old_id|name|ddmmyyyy|sex|address|ddmmyyyy``
(7 fields), or 6 fields without the old ID; readers add a UTF-8 BOM and CRLF,
and some apps write dates as dd/mm/yyyy. The 12-digit ID is checked for its
digit count, old IDs for 9 digits, dates for existing days. Personal fields
appear only in ``summary.details``; the subject is a keyed pseudonym of the ID.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable
from pathlib import Path

from entryscan.device.access.credentials.base import Verified, VerifyContext, read_list_file
from entryscan.device.access.credentials.textcheck import clean_text
from entryscan.device.errors import ConfigError, CredentialError
from entryscan.device.model import CredentialSummary, Reason

MAX_TEXT = 1024
BOM = b"\xef\xbb\xbf"
_ID = re.compile(r"[0-9]{12}")
_OLD_ID = re.compile(r"(?:[0-9]{9})?")
_DATE = re.compile(r"([0-9]{2})/?([0-9]{2})/?([0-9]{4})")
SEXES = frozenset({"Nam", "Nữ"})


def _bad(detail: str) -> CredentialError:
    return CredentialError(Reason.MALFORMED, detail)


def _date(text: str, field: str) -> dt.date:
    match = _DATE.fullmatch(text)
    if match is None or (text.count("/") not in (0, 2)):
        raise _bad(f"{field} is not ddmmyyyy")
    day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise _bad(f"{field} is not a real date") from None


def parse(payload: bytes) -> dict[str, str]:
    """Fields of a CCCD QR payload; malformed on anything that is not one."""
    if len(payload) > MAX_TEXT:
        raise CredentialError(Reason.TOO_LARGE, f"longer than {MAX_TEXT} bytes")
    try:
        text = payload.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("not UTF-8") from None
    text = text.removesuffix("\n").removesuffix("\r")
    fields = text.split("|")
    if len(fields) == 6:
        fields.insert(1, "")
    if len(fields) != 7:
        raise _bad("a CCCD payload has 6 or 7 fields")
    id_number, old_id, name, dob, sex, address, issued = (clean_text(f, "field", 256) for f in fields)
    if not _ID.fullmatch(id_number):
        raise _bad("ID must be 12 digits")
    if not _OLD_ID.fullmatch(old_id):
        raise _bad("old ID must be 9 digits or empty")
    if not name.strip() or sex not in SEXES:
        raise _bad("name missing or sex not Nam/Nữ")
    birth, issue = _date(dob, "birth date"), _date(issued, "issue date")
    if not birth <= issue:
        raise _bad("issued before birth")
    return {"id": id_number, "old_id": old_id, "name": name.strip(), "dob": birth.isoformat(),
            "sex": sex, "address": address.strip(), "issue": issue.isoformat()}


def parse_registered_lines(lines: Iterable[str], origin: str) -> list[str]:
    """Registered visitor IDs: one 12-digit number per line; blank lines and ``#`` comments skipped."""
    ids = []
    for number, line in enumerate(lines, 1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        if not _ID.fullmatch(value):
            raise ConfigError("credentials.cccd.registered_file", f"{origin}:{number}: not a 12-digit ID number")
        ids.append(value)
    return ids


class CccdVerifier:
    """``registered``: ID numbers of registered visitors, kept only as keyed hashes (like badges).

    ``verify`` reports ``extra["registered"]`` (None when no list is configured); whether an
    unregistered visitor may enter is the policy's decision (``[policy] visitors``).
    """

    type = "cccd"

    def __init__(self, registered: Iterable[str] | None = None, key: bytes = b"") -> None:
        self._key = key
        self._registered = None if registered is None else frozenset(self._hash(i) for i in registered)

    @classmethod
    def from_file(cls, key: bytes, path: Path) -> CccdVerifier:
        lines = read_list_file(path, "credentials.cccd.registered_file")
        return cls(parse_registered_lines(lines, str(path)), key)

    def _hash(self, id_number: str) -> bytes:
        return hmac.new(self._key, b"cccd\x00" + id_number.encode("ascii"), hashlib.sha256).digest()

    def matches(self, payload: bytes) -> bool:
        # Claim anything shaped like 6-7 pipe-separated fields, so a damaged
        # card is reported as malformed instead of falling through to badges.
        return len(payload) <= MAX_TEXT and payload.count(b"|") in (5, 6)

    def verify(self, payload: bytes, ctx: VerifyContext) -> Verified:
        fields = parse(payload)
        details = {
            "name": fields["name"],
            "birth_date": fields["dob"],
            "id_number": fields["id"],
            "sex": fields["sex"],
            "address": fields["address"],
        }
        if fields["old_id"]:
            details["old_id_number"] = fields["old_id"]
        return Verified(
            summary=CredentialSummary(type=self.type, subject=ctx.pseudonymize(self.type, fields["id"]),
                                      details=details),
            extra={"proof": False, "issued": fields["issue"],
                   "registered": None if self._registered is None else self._hash(fields["id"]) in self._registered},
        )
