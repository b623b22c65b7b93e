"""The durable journal: one SQLite outbox row per decision or alert.

The journal is the source of truth for what the door decided. A row is written
(WAL, synchronous=FULL) in the same transaction that consumes its ``seq``, and
is deleted only after the broker acknowledged it. When the outbox is full new
entries are refused (never overwriting undelivered rows) and counted.

SQLite connections are bound to the thread that opened them, so each thread
(scan loop, delivery thread) opens its own ``Journal`` on the same file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from entryscan.device.errors import JournalError
from entryscan.device.ports import Clock
from entryscan.device.sqlitedb import BUSY_TIMEOUT_MS, open_private

log = logging.getLogger(__name__)

T = TypeVar("T")

# Alerts may go past max_rows by this many rows so that the alert saying
# "journal full" (and a few others) is never itself refused.
ALERT_RESERVE = 1000
# A retry deferral further in the future than this means the wall clock jumped
# backwards since the row was deferred; such rows are treated as due.
MAX_DEFER_S = 24 * 3600.0

Kind = Literal["entry", "alert"]
ENTRY_KEYS = ("decision", "reason", "credential_type", "subject", "policy_version", "clock_synced")
EAGER_POLL_S = 0.0002

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES
    ('next_seq', 1), ('refused', 0), ('full_alerted', 0), ('rows', 0), ('alerts_dropped', 0);
CREATE TABLE IF NOT EXISTS outbox (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('entry', 'alert')),
    event_id TEXT NOT NULL UNIQUE,
    seq INTEGER,
    ts TEXT NOT NULL,
    decision TEXT,
    reason TEXT,
    credential_type TEXT,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    retry_at REAL NOT NULL DEFAULT 0
);
-- retry_at = 0 means "not deferred": (retry_at, row_id) serves both the
-- oldest-first scan of ready rows and the range scan of deferred ones.
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox(retry_at, row_id);
-- The row counter lives in the same transactions as the rows, so the full
-- check is O(1) instead of a COUNT(*) over 100k rows on every scan.
CREATE TRIGGER IF NOT EXISTS outbox_count_ins AFTER INSERT ON outbox
    BEGIN UPDATE meta SET value = value + 1 WHERE key = 'rows'; END;
CREATE TRIGGER IF NOT EXISTS outbox_count_del AFTER DELETE ON outbox
    BEGIN UPDATE meta SET value = value - 1 WHERE key = 'rows'; END;
"""


@dataclass(frozen=True)
class OutboxRow:
    """One undelivered message. ``attempts`` counts broker rejections so far."""

    row_id: int
    kind: Kind
    event_id: str
    payload: bytes
    attempts: int = 0


def iso_ms(moment: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds and 'Z' (naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(obj: dict[str, object]) -> bytes:
    # default=str: an odd extra field must never make record_* raise.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


class Journal:
    """The SQLite outbox for one device. Not thread-safe: one instance per thread."""

    def __init__(
        self, path: Path, *, device: str, site: str, door: str, max_rows: int, clock: Clock
    ) -> None:
        self.path = path
        self._ids = {"device": device, "site": site, "door": door}
        self._max_rows = max_rows
        self._clock = clock
        self._db = self._guard("open", lambda: open_private(path, _SCHEMA))

    # -- opening ---------------------------------------------------------------------------

    def _guard(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; map every SQLite/OS failure to JournalError, rolling back."""
        try:
            return fn()
        except (sqlite3.Error, OSError) as exc:
            db = getattr(self, "_db", None)
            if db is not None and db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise JournalError(f"journal {what} failed ({self.path}): {exc}") from exc

    def _tx(self, what: str, fn: Callable[[sqlite3.Connection], T], *, eager: bool = False) -> T:
        """One write transaction (BEGIN IMMEDIATE: take the write lock up front).

        ``eager`` polls for the write lock every 0.2 ms instead of SQLite's busy handler,
        whose sleeps grow 1, 2, 5, 10 ms...: under a burst of decisions the lock is free
        only between commits, and the delivery thread's deletes missed those gaps.
        """

        def run() -> T:
            if eager:
                self._begin_eagerly()
            else:
                self._db.execute("BEGIN IMMEDIATE")
            result = fn(self._db)
            self._db.execute("COMMIT")
            return result

        return self._guard(what, run)

    def _begin_eagerly(self) -> None:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        self._db.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(EAGER_POLL_S)
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def _meta(self, db: sqlite3.Connection, key: str) -> int:
        return int(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    def _bump(self, db: sqlite3.Connection, key: str, value: int | None = None) -> None:
        if value is None:
            db.execute("UPDATE meta SET value = value + 1 WHERE key = ?", (key,))
        else:
            db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))

    # -- writing ---------------------------------------------------------------------------

    def record_entry(self, fields: dict[str, object]) -> dict[str, object] | None:
        """Journal one decision; return the event, or None when the outbox is full."""
        # Everything but the seq is built before taking the write lock, to keep the lock short.
        event: dict[str, object] = {"event_id": str(uuid.uuid4()), "seq": None,
                                    "ts": iso_ms(self._clock.now()), **self._ids}
        for key in ENTRY_KEYS:
            event[key] = fields.get(key)
        for key, value in fields.items():
            if key not in event:
                event[key] = value
        return self._tx("record_entry", lambda db: self._record_entry(db, event))

    def _record_entry(self, db: sqlite3.Connection, event: dict[str, object]) -> dict[str, object] | None:
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('rows', 'next_seq', 'full_alerted')"))
        rows = int(meta["rows"])
        if rows >= self._max_rows:
            self._bump(db, "refused")
            if not meta["full_alerted"]:
                self._bump(db, "full_alerted", 1)
                detail: dict[str, object] = {"max_rows": self._max_rows, "backlog": rows, "refused": self._meta(db, "refused")}
                self._insert_alert(db, "journal_full", detail)
            return None
        seq = int(meta["next_seq"])
        self._bump(db, "next_seq")
        if meta["full_alerted"]:
            self._bump(db, "full_alerted", 0)
        event["seq"] = seq
        db.execute(
            "INSERT INTO outbox(kind, event_id, seq, ts, decision, reason, credential_type, payload)"
            " VALUES ('entry', ?, ?, ?, ?, ?, ?, ?)",
            (event["event_id"], seq, event["ts"], _text(event["decision"]), _text(event["reason"]),
             _text(event["credential_type"]), _dumps(event)),
        )
        return event

    def record_alert(self, kind: str, detail: dict[str, object]) -> None:
        """Journal one alert (tamper, camera fault, publish_rejected, ...)."""
        self._tx("record_alert", lambda db: self._insert_alert(db, kind, detail))

    def _insert_alert(self, db: sqlite3.Connection, kind: str, detail: dict[str, object]) -> None:
        if self._meta(db, "rows") >= self._max_rows + ALERT_RESERVE:
            # Even the reserve is used up: count the loss rather than grow without bound.
            self._bump(db, "alerts_dropped")
            log.warning("journal full: alert %r dropped", kind)
            return
        alert: dict[str, object] = {"kind": kind, "ts": iso_ms(self._clock.now()), **self._ids,
                                    "alert_id": str(uuid.uuid4())}
        for key, value in detail.items():
            alert.setdefault(key, value)
        db.execute(
            "INSERT INTO outbox(kind, event_id, ts, reason, payload) VALUES ('alert', ?, ?, ?, ?)",
            (alert["alert_id"], alert["ts"], kind, _dumps(alert)),
        )

    def delete(self, row_ids: Iterable[int]) -> None:
        """Remove delivered rows (after a successful PUBACK), in one transaction."""
        ids = [(int(i),) for i in row_ids]
        if ids:
            self._tx("delete", lambda db: db.executemany("DELETE FROM outbox WHERE row_id = ?", ids), eager=True)

    def mark_rejected(self, row_id: int, reason: str, retry_after_s: float) -> None:
        """Keep a row the broker refused, count the attempt and defer its retry."""
        due = self._clock.now().timestamp() + max(retry_after_s, 0.001)
        self._tx("mark_rejected", lambda db: db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, retry_at = ? WHERE row_id = ?",
            (reason[:200], due, row_id),
        ))

    # -- reading ---------------------------------------------------------------------------

    def pending(self, limit: int, exclude: Collection[int] = ()) -> list[OutboxRow]:
        """Up to ``limit`` rows due for delivery, oldest first, skipping ``exclude``."""
        now = self._clock.now().timestamp()
        # Over-fetch by len(exclude) and filter here: simpler and cheaper than a
        # NOT IN list of up to max_inflight bound parameters. Each branch is a
        # range on outbox_ready (an OR would make SQLite scan the whole table;
        # INDEXED BY stops the planner from preferring a rowid-order scan).
        fetch = limit + len(exclude)
        sql = (
            "SELECT row_id, kind, event_id, payload, attempts FROM ("
            " SELECT * FROM (SELECT * FROM outbox WHERE retry_at = 0 ORDER BY row_id LIMIT :n)"
            " UNION ALL"
            " SELECT * FROM (SELECT * FROM outbox INDEXED BY outbox_ready WHERE retry_at > 0 AND retry_at <= :now"
            "  ORDER BY row_id LIMIT :n)"
            " UNION ALL"
            " SELECT * FROM (SELECT * FROM outbox INDEXED BY outbox_ready WHERE retry_at > :late"
            "  ORDER BY row_id LIMIT :n)"
            ") ORDER BY row_id LIMIT :n"
        )
        params = {"n": fetch, "now": now, "late": now + MAX_DEFER_S}
        found = self._guard("pending", lambda: self._db.execute(sql, params).fetchall())
        rows = [OutboxRow(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in found if r[0] not in exclude]
        return rows[:limit]

    def backlog(self) -> int:
        """Undelivered rows (entries and alerts)."""
        return self._guard("backlog", lambda: self._meta(self._db, "rows"))

    def refused(self) -> int:
        """Entries refused because the outbox was full, since the journal was created."""
        return self._guard("refused", lambda: self._meta(self._db, "refused"))

    def alerts_dropped(self) -> int:
        return self._guard("alerts_dropped", lambda: self._meta(self._db, "alerts_dropped"))

    def rows(self, pending_only: bool = False) -> list[dict[str, object]]:
        """Row summaries for ``entryscan journal``: no payloads, no subject.

        ``pending_only`` keeps only the rows due for delivery now (not waiting
        out a broker-rejection backoff).
        """
        where = "WHERE retry_at <= :now OR retry_at > :late" if pending_only else ""
        now = self._clock.now().timestamp()
        sql = (
            "SELECT row_id, kind, seq, event_id, ts, decision, reason, credential_type, attempts, last_error"
            f" FROM outbox {where} ORDER BY row_id"
        )
        cur = self._guard("rows", lambda: self._db.execute(sql, {"now": now, "late": now + MAX_DEFER_S}))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def integrity_ok(self) -> bool:
        try:
            result = self._db.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.Error as exc:
            log.error("journal integrity check failed to run: %s", exc)
            return False
        return result == [("ok",)]

    def checkpoint(self) -> None:
        """Fold the WAL back into the database (call when idle to cap WAL growth)."""
        self._guard("checkpoint", lambda: self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error as exc:
            log.warning("journal close: %s", exc)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
