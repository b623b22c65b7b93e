"""Signed, versioned revocation and allow lists, stored on the device.

Lists arrive as retained MQTT messages on ``<prefix>/<site>/lists/<name>``
(untrusted bytes) and are handed to :meth:`ListStore.apply`, which never raises.

Document format (``LIST_FORMAT`` 1): a tagged COSE_Sign1 (RFC 9052), signed
with EdDSA (Ed25519) or ES256 (P-256) by a key in ``[lists] trusted_keys``.
The protected header carries ``alg`` and ``kid`` = the first 8 bytes of SHA-256
over the signer's DER public key (the same key id as signed passes). The
payload is a CBOR map with text keys:

    "format"   1
    "name"     list name, must equal the topic's last level ([a-z0-9][a-z0-9_-]{0,62})
    "kind"     "revoke" (listed credentials are denied ``revoked``) or
               "allow"  (only listed credentials may enter; others ``not_allowed``)
    "version"  integer >= 1; a device refuses any version lower than the one it holds
    "iat"      issue time, integer seconds since the epoch; the list's age counts from it
    "sites"    optional list of site ids the list is for (empty/absent = every site)
    "types"    optional list of credential types it applies to (empty/absent = all)
    "entries"  list of "token:<hex>" | "subject:<hex>" | "kid:<hex>" (lowercase hex, 8..128 digits)

Entries match what the policy knows about a verified credential: ``token`` is
``summary.token_id`` (a signed pass's cti in hex; for DCC/SHC the keyed
pseudonym of the certificate id / revocation id), ``subject`` is the keyed
subject pseudonym that events carry, ``kid`` an issuer key id (signed passes).

Rules: a lower version, the same version with other content, a bad signature,
an unknown signer, a wrong name or site, or an unparsable document is refused
and returned with an alert, rate-limited per list and reason and by one budget
over all names (``REFUSED_ALERTS_PER_INTERVAL``), so a hostile publisher cannot
flood the journal by inventing names; the ``suppressed`` field counts what was
held back since the previous ``list_refused`` alert, whatever its name. The same document again (a retained
message re-delivered after every reconnect) is ``unchanged`` and silent. A list
older than ``max_age_s`` (or an ``expected`` list never received) is stale:
the caller gets a ``list_stale`` alert from :meth:`ListStore.poll_alerts`, and
with ``on_stale = "closed"`` credentials of the types it covers are denied.

The store is one SQLite file (WAL, synchronous=FULL, 0600) holding the newest
accepted document per name; documents are re-verified when the store opens.
One connection serves every thread behind a lock; ``check`` reads only memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from entryscan.device.access.alertbudget import AlertBudget
from entryscan.device.access.credentials import cose
from entryscan.device.access.credentials.base import Verified
from entryscan.device.access.credentials.signed_pass import key_id
from entryscan.device.access.listdoc import (
    ENTRY,
    LIST_FORMAT,
    MAX_DOC_BYTES,
    MAX_ENTRIES,
    MAX_VERSION,
    NAME,
    Kind,
    ListDocument,
    ListError,
    encode_document,
    identifiers,
    parse_document,
    sign_document,
)
from entryscan.device.errors import JournalError
from entryscan.device.model import Reason
from entryscan.device.sqlitedb import open_private

__all__ = [
    "ENTRY", "LIST_FORMAT", "MAX_DOC_BYTES", "MAX_ENTRIES", "MAX_VERSION", "NAME", "Kind", "ListAlert",
    "ListDocument", "ListError", "ListStore", "ListUpdate", "StaleList", "encode_document", "identifiers",
    "parse_document", "sign_document",
]

log = logging.getLogger(__name__)

ALERT_INTERVAL_S = 60.0
REFUSED_ALERTS_PER_INTERVAL = 10  # list_refused alerts per ALERT_INTERVAL_S over all list names
# A stale list with on_stale = "closed" denies with this code.
STALE_REASON = Reason.LIST_STALE

Status = Literal["applied", "unchanged", "refused"]


@dataclass(frozen=True, slots=True)
class ListAlert:
    """For the caller to journal: ``journal.record_alert(alert.kind, alert.detail)``."""

    kind: str
    detail: dict[str, object]


@dataclass(frozen=True, slots=True)
class ListUpdate:
    name: str
    status: Status
    reason: str
    version: int | None = None
    alerts: tuple[ListAlert, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status != "refused"


@dataclass(frozen=True, slots=True)
class StaleList:
    name: str
    age_s: float | None  # None: an expected list that never arrived
    types: tuple[str, ...] = ()




# -- the store ----------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    received_at REAL NOT NULL,
    document BLOB NOT NULL
);
"""


@dataclass
class _State:
    docs: dict[str, ListDocument] = field(default_factory=dict)
    floors: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (version, digest)


class ListStore:
    """The device's lists. Thread-safe: ``apply`` (MQTT thread), ``check`` (scan thread)."""

    def __init__(
        self,
        path: Path,
        trusted_keys: Iterable[cose.PublicKey],
        *,
        site: str,
        now: Callable[[], dt.datetime],
        max_age_s: float = 7 * 24 * 3600.0,
        on_stale: Literal["closed", "open"] = "closed",
        expected: Sequence[str] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._keys = {key_id(k): k for k in trusted_keys}
        self._site = site
        self._now = now
        self._max_age_s = max_age_s
        self._on_stale = on_stale
        self._expected = tuple(expected)
        self._lock = threading.Lock()
        self._state = _State()
        self._refusal_alerts = AlertBudget(ALERT_INTERVAL_S, REFUSED_ALERTS_PER_INTERVAL, monotonic)
        self._stale_alerted: set[str] = set()
        try:
            self._db = open_private(path, _SCHEMA, check_same_thread=False)
            self._load()
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"list store {path} cannot be opened: {exc}") from exc

    # -- reading -------------------------------------------------------------------------------

    def _load(self) -> None:
        for name, version, digest, document in self._db.execute(
                "SELECT name, version, digest, document FROM lists").fetchall():
            self._state.floors[name] = (int(version), str(digest))
            try:
                doc = parse_document(bytes(document), self._keys)
                if doc.name != name or doc.version != version:
                    raise ListError("malformed", "stored row does not match its document")
            except ListError as exc:
                # e.g. its signer was removed from the config: drop the content, keep the version floor.
                log.warning("lists: stored list %r no longer verifies (%s); ignoring it", name, exc.reason)
                continue
            self._state.docs[name] = doc

    def versions(self) -> dict[str, int]:
        """Name -> version of every list held (for the retained ``state`` document)."""
        with self._lock:
            return {name: doc.version for name, doc in sorted(self._state.docs.items())}

    def issued(self) -> dict[str, int]:
        """Name -> issue time (epoch seconds) of every list held: the collector reads the lists' age from it."""
        with self._lock:
            return {name: doc.issued_at for name, doc in sorted(self._state.docs.items())}

    def check(self, verified: Verified) -> Reason | None:
        """The lists' verdict on a verified credential: None (no objection) or a deny reason."""
        with self._lock:
            docs = list(self._state.docs.values())
        kind = verified.summary.type
        ids = identifiers(verified)
        applicable = [d for d in docs if d.applies_to(kind)]
        if any(d.kind == "revoke" and ids & d.entries for d in applicable):
            return Reason.REVOKED
        if self._on_stale == "closed":
            for stale in self.stale_lists(self._now()):
                if not stale.types or kind in stale.types:
                    return STALE_REASON
        if any(d.kind == "allow" and not ids & d.entries for d in applicable):
            return Reason.NOT_ALLOWED
        return None

    def stale_lists(self, now: dt.datetime) -> list[StaleList]:
        """Lists older than ``max_age_s``, and expected lists never received."""
        with self._lock:
            docs = dict(self._state.docs)
        stale = []
        for name in sorted(set(docs) | set(self._expected)):
            doc = docs.get(name)
            if doc is None:
                stale.append(StaleList(name, None))
                continue
            age = now.timestamp() - doc.issued_at
            if age > self._max_age_s:
                stale.append(StaleList(name, age, doc.types))
        return stale

    def poll_alerts(self, now: dt.datetime) -> list[ListAlert]:
        """``list_stale`` once per list each time it becomes stale; call periodically and journal them."""
        stale = self.stale_lists(now)
        alerts = []
        with self._lock:
            names = {s.name for s in stale}
            self._stale_alerted &= names
            for s in stale:
                if s.name not in self._stale_alerted:
                    self._stale_alerted.add(s.name)
                    held = self._state.docs.get(s.name)
                    alerts.append(ListAlert("list_stale", {
                        "name": s.name, "version": held.version if held else None,
                        "age_s": None if s.age_s is None else round(s.age_s),
                        "max_age_s": self._max_age_s, "on_stale": self._on_stale}))
        return alerts

    # -- writing -------------------------------------------------------------------------------

    def apply(self, name: str, payload: bytes) -> ListUpdate:
        """Verify and store one list document received for ``name``. Never raises."""
        try:
            return self._apply(name, payload)
        except Exception as exc:  # noqa: BLE001 - hostile input or a bug must not reach the MQTT thread
            log.error("lists: apply failed: %s", type(exc).__name__)
            return self._refused(name if isinstance(name, str) else "?", "internal", None, type(exc).__name__)

    def _apply(self, name: str, payload: bytes) -> ListUpdate:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            return self._refused("?", "bad_name", None, "list name is not an id")
        try:
            doc = parse_document(payload, self._keys)
        except ListError as exc:
            return self._refused(name, exc.reason, None, exc.detail)
        if doc.name != name:
            return self._refused(name, "wrong_name", doc.version, f"document is list {doc.name!r}")
        if doc.sites and self._site not in doc.sites:
            return self._refused(name, "wrong_site", doc.version, "list is not for this site")
        with self._lock:
            current = self._state.floors.get(name)
            if current is not None:
                version, digest = current
                if doc.version < version:
                    return self._refused_locked(name, "rollback", doc.version, f"holding version {version}")
                if doc.version == version:
                    if doc.digest == digest:
                        return ListUpdate(name, "unchanged", "same", doc.version)
                    return self._refused_locked(name, "equivocation", doc.version,
                                                "same version with different content")
            try:
                self._store(doc, bytes(payload))
            except sqlite3.Error as exc:
                log.error("lists: cannot store %r: %s", name, exc)
                return self._refused_locked(name, "storage", doc.version, type(exc).__name__)
            self._state.docs[name] = doc
            self._state.floors[name] = (doc.version, doc.digest)
            self._stale_alerted.discard(name)
        log.info("lists: %s version %d applied (%d entries)", name, doc.version, len(doc.entries))
        return ListUpdate(name, "applied", "ok", doc.version)

    def _store(self, doc: ListDocument, payload: bytes) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT OR REPLACE INTO lists(name, version, digest, received_at, document)"
                       " VALUES (?, ?, ?, ?, ?)", (doc.name, doc.version, doc.digest, time.time(), payload))
            db.execute("COMMIT")
        except sqlite3.Error:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise

    def _refused(self, name: str, reason: str, version: int | None, detail: str) -> ListUpdate:
        with self._lock:
            return self._refused_locked(name, reason, version, detail)

    def _refused_locked(self, name: str, reason: str, version: int | None, detail: str) -> ListUpdate:
        suppressed = self._refusal_alerts.take((name, reason))
        if suppressed is None:  # the log is limited like the journal: a flood must not fill the disk either
            return ListUpdate(name, "refused", reason, version)
        log.warning("lists: refused %s (%s)", name, reason)
        held = self._state.floors.get(name)
        alert = ListAlert("list_refused", {
            "name": name, "reason": reason, "version": version, "held_version": held[0] if held else None,
            "detail": detail[:200], "suppressed": suppressed})
        return ListUpdate(name, "refused", reason, version, (alert,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
