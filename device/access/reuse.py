"""One-time passes and anti-passback, enforced on the device so they work offline.

The records live in the journal's own SQLite file (see :mod:`reuse_records`): the policy only *reads* them here
and returns, on an accept, a :class:`~entryscan.device.model.PendingUse`; the scan loop hands that to the journal,
which writes it in the same transaction as the entry row, and only if the final decision is still an accept
(tamper lockout, a storage fault with ``on_storage_fault = "deny"`` or a full journal can still turn it into a
deny). So a pass is used up exactly when an accept is recorded, and a power cut cannot split the two.

Keys are HMACs (with the device's subject key) of the credential type and its token id or subject pseudonym, so
the file links to nothing outside the device. Doors of one site share the subject key (the site key from
provisioning), so a peer door's ``subject`` gives the same passage key here: :meth:`ReuseStore.note_passage`
records a passage seen at another door of the site (see :mod:`peers`).

Firmware before this kept the records in ``reuse.db`` beside the journal; on open its rows are copied into the
journal file and the old file is removed (see ``_migrate``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

from entryscan.device.access.reuse_records import SCHEMA, UPSERT_PASSAGE, prune
from entryscan.device.errors import ConfigError, JournalError
from entryscan.device.model import PendingUse, Reason
from entryscan.device.sqlitedb import open_private

log = logging.getLogger(__name__)

Direction = Literal["none", "in", "out"]
T = TypeVar("T")
LEGACY_SIDE_FILES = ("-wal", "-shm", "-journal", "")  # the database itself last
MAX_PASSAGES = 200_000  # a hostile peer cannot grow the table past this (about 12 MB)
PASSAGE_COUNT_EVERY = 100  # notes between two COUNT(*)s of the passage table
REOPEN_S = 5.0  # a journal file that cannot be opened is tried again after this long


class ReuseStore:
    """Reads the journal file's ``used``/``passage`` tables; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path, *, key: bytes, retention_s: float, legacy: Path | None = None) -> None:
        self.path = path
        self._key = key
        self._retention_s = retention_s
        self._lock = threading.Lock()
        self._legacy = legacy
        self._passages = 0
        self._notes_since_count = PASSAGE_COUNT_EVERY
        self._db: sqlite3.Connection | None = None
        self._next_open = 0.0
        if path.is_dir():
            raise ConfigError("journal.path", f"{path} is a directory, not a journal file")
        with contextlib.suppress(JournalError), self._lock:
            self._connection()  # at start if it can; else at the first use (a storage fault meanwhile)

    def _connection(self) -> sqlite3.Connection:
        """The open connection, opened (and an old reuse.db migrated) on demand. Call holding the lock."""
        if self._db is not None:
            return self._db
        if time.monotonic() < self._next_open:
            raise JournalError(f"reuse records in {self.path} cannot be opened (retrying)")
        try:
            self._db = open_private(self.path, SCHEMA, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            self._next_open = time.monotonic() + REOPEN_S
            log.error("reuse records in %s cannot be opened: %s", self.path, exc)
            raise JournalError(f"reuse records in {self.path} cannot be opened: {exc}") from exc
        if self._legacy is not None and self._legacy.exists():
            self._migrate(self._db, self._legacy)
        return self._db

    def _hash(self, table: str, credential_type: str, ident: str) -> bytes:
        msg = f"{table}\x00{credential_type}\x00{ident}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).digest()[:16]

    def _guard(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return self._guarded(self._connection(), fn)

    def _guarded(self, db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(db)
        except sqlite3.Error as exc:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise JournalError(f"reuse records in {self.path}: {exc}") from exc

    # -- the policy's side: compute and check, never write ----------------------------------------

    def pending(self, *, credential_type: str, token: str, subject: str, one_time: bool,
                valid_until: dt.datetime | None, direction: Direction, window_s: float, now: dt.datetime,
                synced: bool) -> PendingUse | None:
        """What an accept of this credential would record; None when nothing applies."""
        used_key = self._hash("used", credential_type, token or subject) if one_time else None
        pass_key = self._hash("passage", credential_type, subject) if direction != "none" and subject else None
        if used_key is None and pass_key is None:
            return None
        at = now.timestamp()
        keep: float | None = None
        if valid_until is not None:
            keep = valid_until.timestamp()  # the pass's own expiry: right whatever this clock says
        elif synced:
            keep = at + self._retention_s
        return PendingUse(used_key=used_key, passage_key=pass_key, direction=direction, at=at, synced=synced,
                          keep_until=keep, window_s=window_s, retention_s=self._retention_s)

    def refusal(self, use: PendingUse) -> Reason | None:
        """``already_used`` / ``passback`` or None. Only reads. Raises JournalError."""
        def run(db: sqlite3.Connection) -> Reason | None:
            if use.used_key is not None and db.execute(
                    "SELECT 1 FROM used WHERE key = ?", (use.used_key,)).fetchone():
                return Reason.ALREADY_USED
            if use.passage_key is not None:
                row = db.execute("SELECT direction, at FROM passage WHERE key = ?", (use.passage_key,)).fetchone()
                # abs(): a clock stepped backwards must not turn a recent passage into an old one.
                if row is not None and row[0] == use.direction and abs(use.at - float(row[1])) < use.window_s:
                    return Reason.PASSBACK
            return None

        return self._guard(run)

    # -- passages seen at other doors of the site ------------------------------------------------

    def note_passage(self, credential_type: str, subject: str, direction: Direction, at: dt.datetime) -> bool:
        """Record a passage seen elsewhere (a peer door's entry event); False when refused (table full).

        Raises JournalError.
        """
        if direction == "none" or not subject:
            return False
        key = self._hash("passage", credential_type, subject)

        def run(db: sqlite3.Connection) -> bool:
            if self._notes_since_count >= PASSAGE_COUNT_EVERY:
                self._passages = int(db.execute("SELECT COUNT(*) FROM passage").fetchone()[0])
                self._notes_since_count = 0
            self._notes_since_count += 1
            if self._passages >= MAX_PASSAGES:
                return False
            db.execute("BEGIN IMMEDIATE")
            db.execute(UPSERT_PASSAGE, (key, direction, at.timestamp()))
            db.execute("COMMIT")
            self._passages += 1
            return True

        return self._guard(run)

    def prune(self, now: dt.datetime, window_s: float) -> None:
        """Drop expired records now; call only with a synchronised clock (decisions prune as they record)."""
        def run(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            prune(db, now.timestamp(), window_s, self._retention_s)
            db.execute("COMMIT")

        self._guard(run)

    def counts(self) -> tuple[int, int]:
        """(one-time records, passage records)."""
        def run(db: sqlite3.Connection) -> tuple[int, int]:
            used = db.execute("SELECT COUNT(*) FROM used").fetchone()[0]
            passage = db.execute("SELECT COUNT(*) FROM passage").fetchone()[0]
            return int(used), int(passage)

        return self._guard(run)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- the old separate file ---------------------------------------------------------------------

    def _migrate(self, db: sqlite3.Connection, legacy: Path) -> None:
        """Copy a ``reuse.db`` from older firmware into the journal file, then remove it.

        Its ``keep_until`` values are kept as they were written (older firmware dated them by the wall clock,
        synchronised or not). A file that cannot be read is left in place, logged, and tried at the next start.
        """
        def run(db: sqlite3.Connection) -> None:
            db.execute("ATTACH DATABASE ? AS legacy", (str(legacy),))
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT OR IGNORE INTO used(key, used_at, keep_until)"
                           " SELECT key, used_at, keep_until FROM legacy.used")
                db.execute("INSERT OR IGNORE INTO passage(key, direction, at)"
                           " SELECT key, direction, at FROM legacy.passage")
                db.execute("COMMIT")
            except sqlite3.Error:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                db.execute("DETACH DATABASE legacy")

        try:
            self._guarded(db, run)
        except JournalError as exc:
            log.error("old reuse store %s not migrated (kept for the next start): %s", legacy, exc)
            return
        for suffix in LEGACY_SIDE_FILES:
            with contextlib.suppress(FileNotFoundError):
                legacy.with_name(legacy.name + suffix).unlink()
        log.info("old reuse store %s migrated into %s and removed", legacy, self.path)
