"""The embedded store: one SQLite file (WAL, synchronous FULL: an ack follows a durable commit)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from entryscan.collector.store.base import EventKey, Store, event_key
from entryscan.collector.store.schema import SQLITE_MIGRATIONS
from entryscan.collector.store.validate import EntryRecord, now_iso

log = logging.getLogger("collector")
CLOSE_WAIT_S = 2.0  # how long close() waits for a batch in progress


class SqliteStore(Store):
    unavailable_errors = (sqlite3.OperationalError,)  # locked, disk full, I/O error

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        # Acks go out after commit: the commit must be durable, or a power cut
        # would lose messages the broker already forgot.
        self._db.execute("PRAGMA synchronous = FULL")
        self._migrate()
        # The pages' reads: a second connection (WAL lets it read the last commit while a batch is being
        # written), so an open dashboard never waits for the ingest's lock nor holds it.
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self._reader.execute("PRAGMA query_only = ON")

    def _migrate(self) -> None:
        with self._transaction():
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_migrations"
                             " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {v for (v,) in self._db.execute("SELECT version FROM schema_migrations")}
            for version, script in enumerate(SQLITE_MIGRATIONS, start=1):
                if version in done:
                    continue
                for statement in script.split(";\n"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, now_iso()))

    def schema_version(self) -> int:
        return int(self._rows("SELECT MAX(version) FROM schema_migrations")[0][0])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._changed()

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            count = self._db.execute(sql, tuple(params)).rowcount
            self._changed()
            return count

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:
            return self._reader.execute(sql, tuple(params)).fetchall()

    def _insert_entries(self, records: list[EntryRecord], received_at: str) -> set[EventKey]:
        new: set[EventKey] = set()
        for r in records:
            cur = self._db.execute(
                "INSERT INTO entry_events(event_id, site, device, incarnation, door, seq, ts, decision, reason,"
                " credential_type, subject, policy_version, clock_synced, payload, received_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(site, device, event_id) DO NOTHING",
                (r.event_id, r.site, r.device, r.incarnation, r.door, r.seq, r.ts, r.decision, r.reason,
                 r.credential_type, r.subject, r.policy_version,
                 None if r.clock_synced is None else int(r.clock_synced), r.payload, received_at))
            if cur.rowcount == 1:
                new.add(event_key(r))
        return new

    def close(self) -> None:
        with self._read_lock:
            self._reader.close()
        # A batch stuck in SQLite's busy wait (up to the 30 s timeout: another process holds the write lock)
        # holds the lock; a stopping collector does not wait for it. Its transaction was never committed,
        # nor its messages acknowledged: the process's exit rolls it back and the broker redelivers.
        if not self._lock.acquire(timeout=CLOSE_WAIT_S):
            log.warning("collector: a batch is still waiting for the database; closing without it")
            return
        try:
            self._db.close()
        finally:
            self._lock.release()
