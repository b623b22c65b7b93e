"""One-time passes and anti-passback, enforced on the device so they work offline.

Two tables in one SQLite file next to the journal (WAL, synchronous=FULL, 0600):

- ``used``: one row per consumed one-time credential, kept until the credential
  expires (its ``not_after``), or for the retention period if it has none;
- ``passage``: the last direction ("in"/"out") and time per subject, kept for
  the anti-passback window (at most the retention period).

Keys are HMACs (with the device's subject key) of the credential type and its
token id or subject pseudonym, so the file links to nothing outside the device.
The check and the write happen in one write transaction (``admit``); with
``commit=False`` (``entryscan check``) nothing is written.

Anti-passback is per device: the same direction twice within the window is a
``passback``. A door with direction "out" clears the "in" only when both
directions share this store (one device, or a future feed of peer events via
:meth:`ReuseStore.note_passage`).
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
from pathlib import Path
from typing import Literal

from entryscan.device.errors import JournalError
from entryscan.device.model import Reason
from entryscan.device.sqlitedb import open_private

log = logging.getLogger(__name__)

Direction = Literal["none", "in", "out"]
PRUNE_EVERY_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS used (key BLOB PRIMARY KEY, used_at REAL NOT NULL, keep_until REAL NOT NULL);
CREATE INDEX IF NOT EXISTS used_expiry ON used(keep_until);
CREATE TABLE IF NOT EXISTS passage (key BLOB PRIMARY KEY, direction TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS passage_at ON passage(at);
"""


class ReuseStore:
    """Thread-safe (one connection behind a lock); normally only the scan thread calls it."""

    def __init__(self, path: Path, *, key: bytes, retention_s: float) -> None:
        self.path = path
        self._key = key
        self._retention_s = retention_s
        self._lock = threading.Lock()
        self._next_prune = 0.0
        try:
            self._db = open_private(path, _SCHEMA, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"reuse store {path} cannot be opened: {exc}") from exc

    def _hash(self, table: str, credential_type: str, ident: str) -> bytes:
        msg = f"{table}\x00{credential_type}\x00{ident}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).digest()[:16]

    def admit(
        self,
        *,
        credential_type: str,
        token: str,
        subject: str,
        one_time: bool,
        valid_until: dt.datetime | None,
        direction: Direction,
        window_s: float,
        now: dt.datetime,
        commit: bool,
    ) -> Reason | None:
        """``already_used`` / ``passback``, or None; on None and ``commit`` the use is recorded.

        Raises JournalError when the store cannot be read or written.
        """
        at = now.timestamp()
        used_key = self._hash("used", credential_type, token or subject) if one_time else None
        pass_key = self._hash("passage", credential_type, subject) if direction != "none" and subject else None
        with self._lock:
            try:
                return self._admit(used_key, pass_key, direction, at, window_s, valid_until, commit)
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise JournalError(f"reuse store {self.path}: {exc}") from exc

    def _admit(self, used_key: bytes | None, pass_key: bytes | None, direction: str, at: float,
               window_s: float, valid_until: dt.datetime | None, commit: bool) -> Reason | None:
        db = self._db
        db.execute("BEGIN IMMEDIATE" if commit else "BEGIN")
        if used_key is not None and db.execute("SELECT 1 FROM used WHERE key = ?", (used_key,)).fetchone():
            db.execute("ROLLBACK")
            return Reason.ALREADY_USED
        if pass_key is not None:
            row = db.execute("SELECT direction, at FROM passage WHERE key = ?", (pass_key,)).fetchone()
            # abs(): a clock stepped backwards must not turn a recent passage into an old one.
            if row is not None and row[0] == direction and abs(at - float(row[1])) < window_s:
                db.execute("ROLLBACK")
                return Reason.PASSBACK
        if not commit:
            db.execute("ROLLBACK")
            return None
        if used_key is not None:
            keep = valid_until.timestamp() if valid_until is not None else at + self._retention_s
            db.execute("INSERT OR REPLACE INTO used(key, used_at, keep_until) VALUES (?, ?, ?)",
                       (used_key, at, max(keep, at)))
        if pass_key is not None:
            db.execute("INSERT OR REPLACE INTO passage(key, direction, at) VALUES (?, ?, ?)",
                       (pass_key, direction, at))
        self._prune_due(db, at, window_s)
        db.execute("COMMIT")
        return None

    def note_passage(self, credential_type: str, subject: str, direction: Direction, now: dt.datetime) -> None:
        """Record a passage seen elsewhere (e.g. the exit door's event) so the next "in" is allowed."""
        if direction == "none" or not subject:
            return
        key = self._hash("passage", credential_type, subject)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("INSERT OR REPLACE INTO passage(key, direction, at) VALUES (?, ?, ?)",
                                 (key, direction, now.timestamp()))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise JournalError(f"reuse store {self.path}: {exc}") from exc

    def _prune_due(self, db: sqlite3.Connection, at: float, window_s: float) -> None:
        mono = time.monotonic()
        if mono < self._next_prune:
            return
        self._next_prune = mono + PRUNE_EVERY_S
        self._prune(db, at, window_s)

    def _prune(self, db: sqlite3.Connection, at: float, window_s: float) -> None:
        db.execute("DELETE FROM used WHERE keep_until < ?", (at,))
        db.execute("DELETE FROM passage WHERE at < ?", (at - min(window_s, self._retention_s),))

    def prune(self, now: dt.datetime, window_s: float) -> None:
        """Drop expired records now (also done at most once a minute by ``admit``)."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                self._prune(db, now.timestamp(), window_s)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise JournalError(f"reuse store {self.path}: {exc}") from exc

    def counts(self) -> tuple[int, int]:
        """(one-time records, passage records)."""
        with self._lock:
            used = self._db.execute("SELECT COUNT(*) FROM used").fetchone()[0]
            passage = self._db.execute("SELECT COUNT(*) FROM passage").fetchone()[0]
        return int(used), int(passage)

    def close(self) -> None:
        with self._lock:
            self._db.close()
