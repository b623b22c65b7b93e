"""The district store: PostgreSQL through psycopg 3 (the ``postgres`` extra).

Several collectors in a shared subscription write to one database: entries are inserted in one
statement per batch (``unnest``), stream rows are locked in one global order, and a deadlock or
serialization failure retries the whole batch (the messages are not acknowledged until it commits).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from entryscan.collector.store.base import EventKey, Store, StreamKey
from entryscan.collector.store.pgbulk import apply_streams, bulk_confirmations
from entryscan.collector.store.schema import POSTGRES_MIGRATIONS
from entryscan.collector.store.validate import EntryRecord, iso
from entryscan.device.errors import EntryscanError

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - the postgres extra is not installed
    psycopg = None  # type: ignore[assignment]

log = logging.getLogger("collector")
CLOSE_WAIT_S = 2.0
MIGRATION_LOCK = 0x656E7472  # pg_advisory_xact_lock key: one collector migrates at a time

_INSERT = """
INSERT INTO entry_events(event_id, site, device, incarnation, door, seq, ts, decision, reason, credential_type,
                         subject, policy_version, clock_synced, payload, received_at)
SELECT e.*, %s::timestamptz FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[],
    %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::boolean[], %s::text[]) AS e
ON CONFLICT (site, device, event_id) DO NOTHING RETURNING site, device, event_id
"""


class PostgresStore(Store):
    lock_clause = " FOR UPDATE"
    _ts_param = "CAST(? AS TIMESTAMPTZ)"  # a VALUES list's text parameter is not compared as a timestamp

    @staticmethod
    def _seconds_between(later: str, earlier: str) -> str:
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"

    def __init__(self, url: str) -> None:
        if psycopg is None:
            raise EntryscanError("PostgreSQL needs psycopg: pip install 'entryscan[postgres]'")
        self.url = url
        self.transient_errors = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
        self.unavailable_errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self._lock = threading.RLock()
        self._db = self._connect()
        self._migrate()
        # The pages' reads on a connection of their own: a dashboard never waits for the ingest's lock.
        self._read_lock = threading.Lock()
        self._reader = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            return psycopg.connect(self.url, autocommit=True)
        except psycopg.OperationalError as exc:
            raise EntryscanError(f"cannot connect to PostgreSQL: {exc}") from None

    def _migrate(self) -> None:
        with self._transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_migrations"
                             " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            done = {v for (v,) in self._db.execute("SELECT version FROM schema_migrations")}
            for version, script in enumerate(POSTGRES_MIGRATIONS, start=1):
                if version not in done:
                    self._db.execute(script.encode())  # several statements: simple query protocol
                    self._db.execute("INSERT INTO schema_migrations(version) VALUES (%s)", (version,))

    def schema_version(self) -> int:
        return int(self._rows("SELECT MAX(version) FROM schema_migrations")[0][0])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            with self._db.transaction():
                yield
            self._changed()  # after the commit: a reader that saw the change's number sees the change

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            count = self._db.execute(_pg(sql), tuple(params)).rowcount  # type: ignore[arg-type]
            self._changed()
            return count

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            rows = self._db.execute(_pg(sql), tuple(params)).fetchall()  # type: ignore[arg-type]
        return [tuple(_plain(v) for v in row) for row in rows]

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:
            for attempt in (1, 2):  # a read is safe to repeat: once more on a fresh connection if this one was lost
                if self._reader.closed or self._reader.broken:
                    self._reader = self._connect()
                try:
                    rows = self._reader.execute(_pg(sql), tuple(params)).fetchall()  # type: ignore[arg-type]
                    break
                except psycopg.OperationalError:
                    if attempt == 2 or not (self._reader.closed or self._reader.broken):
                        raise
        return [tuple(_plain(v) for v in row) for row in rows]

    def _insert_entries(self, records: list[EntryRecord], received_at: str) -> set[EventKey]:
        columns = [[r.event_id for r in records], [r.site for r in records], [r.device for r in records],
                   [r.incarnation for r in records], [r.door for r in records], [r.seq for r in records],
                   [r.ts for r in records], [r.decision for r in records], [r.reason for r in records],
                   [r.credential_type for r in records], [r.subject for r in records],
                   [r.policy_version for r in records], [r.clock_synced for r in records],
                   [r.payload for r in records]]
        with self._lock:
            cur = self._db.execute(_INSERT, (received_at, *columns))  # type: ignore[arg-type]
            return {(row[0], row[1], row[2]) for row in cur.fetchall()}

    def recover(self) -> None:
        with self._lock:
            if not self._db.closed and not self._db.broken:
                return
            try:
                self._db = psycopg.connect(self.url, autocommit=True)
            except psycopg.OperationalError as exc:
                log.warning("collector: PostgreSQL still unreachable: %s", exc)

    def _apply_streams(self, keys: list[StreamKey], fresh: dict[StreamKey, list[EntryRecord]],
                       newest: dict[StreamKey, int], now: str) -> None:
        with self._lock:
            apply_streams(self._db, keys, fresh, newest, now, self._advance)

    def confirmations(self, devices: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        with self._lock:
            return bulk_confirmations(self._db, sorted(set(devices)))

    def close(self) -> None:
        with self._read_lock:
            self._reader.close()
        if not self._lock.acquire(timeout=CLOSE_WAIT_S):  # a batch still waiting (as in SqliteStore.close)
            log.warning("collector: a batch is still waiting for PostgreSQL; closing without it")
            return
        try:
            self._db.close()
        finally:
            self._lock.release()


def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, dt.datetime) else value
