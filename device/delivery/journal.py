"""The durable journal: one SQLite outbox row per decision or alert.

The journal is the source of truth for what the door decided. A row is written
(WAL, synchronous=FULL) in the same transaction that consumes its ``seq``, and
is deleted only once delivered: by default when the collector confirms it has
committed the event (``confirm``), in broker mode after a PUBACK. When the outbox
is full new entries are refused (never overwriting undelivered rows) and counted.

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

from entryscan.device.access.reuse_records import record_use
from entryscan.device.delivery.journal_schema import SCHEMA, prepare
from entryscan.device.errors import ConfigError, JournalError
from entryscan.device.model import PendingUse
from entryscan.device.ports import Clock
from entryscan.device.sqlitedb import BUSY_TIMEOUT_MS, open_private

log = logging.getLogger(__name__)

T = TypeVar("T")

# Alerts may go past max_rows by this many rows so that the alert saying
# "journal full" (and a few others) is never itself refused.
ALERT_RESERVE = 1000
Kind = Literal["entry", "alert"]
ENTRY_KEYS = ("decision", "reason", "credential_type", "subject", "policy_version", "clock_synced")
EAGER_POLL_S = 0.0002

@dataclass(frozen=True)
class OutboxRow:
    """One undelivered message. ``attempts`` counts broker rejections so far.

    ``legacy``: written before journals had an incarnation; no collector confirmation can name it, so it is
    deleted on a PUBACK whatever the delivery mode.
    """

    row_id: int
    kind: Kind
    event_id: str
    payload: bytes
    attempts: int = 0
    legacy: bool = False
    unheard: bool = False  # the broker answered 0x10: nobody was subscribed, the message was dropped


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
        if path.is_dir():
            raise ConfigError("journal.path", f"{path} is a directory, not a journal file")
        try:
            db = open_private(path, SCHEMA)
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):  # SQLITE_NOTADB: the path names some other file; a restart won't help
                raise ConfigError("journal.path", f"{path} is not an entryscan journal (not an SQLite database)") \
                    from None
            raise JournalError(f"journal open failed ({path}): {exc}") from exc
        except OSError as exc:
            raise JournalError(f"journal open failed ({path}): {exc}") from exc
        self._db = db
        try:
            self.incarnation = self._guard("open", lambda: prepare(self._db, path))
        except (JournalError, ConfigError):  # ConfigError: JournalTooNew, a journal of a newer entryscan
            self._db.close()
            raise

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

    def record_entry(self, fields: dict[str, object], use: PendingUse | None = None) -> dict[str, object] | None:
        """Journal one decision; return the event, or None when the outbox is full.

        ``use`` (a final accept's one-time use or passage) is written in the same transaction as the row, or
        not at all: not when the outbox is full (the caller decides whether the accept still stands, and then
        records it with :meth:`record_use`).
        """
        # Everything but the seq is built before taking the write lock, to keep the lock short.
        event: dict[str, object] = {"event_id": str(uuid.uuid4()), "seq": None,
                                    "ts": iso_ms(self._clock.now()), **self._ids}
        for key in ENTRY_KEYS:
            event[key] = fields.get(key)
        event["incarnation"] = self.incarnation
        for key, value in fields.items():
            if key not in event:
                event[key] = value
        return self._tx("record_entry", lambda db: self._record_entry(db, event, use))

    def record_use(self, use: PendingUse) -> None:
        """Record a use without a row (an accept that stands although the outbox was full)."""
        self._tx("record_use", lambda db: record_use(db, use))

    def _record_entry(self, db: sqlite3.Connection, event: dict[str, object],
                      use: PendingUse | None) -> dict[str, object] | None:
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
            "INSERT INTO outbox(kind, event_id, seq, ts, decision, reason, credential_type, payload, incarnation)"
            " VALUES ('entry', ?, ?, ?, ?, ?, ?, ?, ?)",
            (event["event_id"], seq, event["ts"], _text(event["decision"]), _text(event["reason"]),
             _text(event["credential_type"]), _dumps(event), self.incarnation),
        )
        if use is not None:
            record_use(db, use)
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
                                    "alert_id": str(uuid.uuid4()), "incarnation": self.incarnation}
        for key, value in detail.items():
            alert.setdefault(key, value)
        db.execute(
            "INSERT INTO outbox(kind, event_id, ts, reason, payload, incarnation) VALUES ('alert', ?, ?, ?, ?, ?)",
            (alert["alert_id"], alert["ts"], kind, _dumps(alert), self.incarnation),
        )

    def delete(self, row_ids: Iterable[int]) -> None:
        """Remove delivered rows in one transaction (broker mode, or legacy rows, after a successful PUBACK)."""
        ids = [(int(i),) for i in row_ids]
        if ids:
            self._tx("delete", lambda db: db.executemany("DELETE FROM outbox WHERE row_id = ?", ids), eager=True)

    def mark_sent(self, row_ids: Iterable[int], wait_s: float, max_wait_s: float) -> None:
        """The broker took these rows; keep them until the collector confirms, and send again if it does not.

        Each unconfirmed send doubles the wait (``wait_s`` .. ``max_wait_s``), so a collector that is away for a day
        does not get the whole backlog again every minute.
        """
        ids = [(int(i),) for i in row_ids]
        if not ids:
            return
        now, wall = self._clock.monotonic(), iso_ms(self._clock.now())
        sql = ("UPDATE outbox SET sends = sends + 1, first_sent_at = COALESCE(first_sent_at, :wall),"
               " retry_at = :now + min(:base * (1 << min(sends, 20)), :cap) WHERE row_id = :id")
        params = [{"now": now, "wall": wall, "base": wait_s, "cap": max_wait_s, "id": i} for (i,) in ids]
        self._tx("mark_sent", lambda db: db.executemany(sql, params), eager=True)

    def confirm(self, incarnation: str, through_seq: int, seqs: Collection[int], alert_ids: Collection[str]) -> int:
        """Delete what the collector has committed; returns the number of rows removed.

        Entries of another incarnation (a confirmation for this device before a wipe) are never touched.
        """
        def run(db: sqlite3.Connection) -> int:
            removed = 0
            if incarnation == self.incarnation:
                removed += db.execute("DELETE FROM outbox WHERE kind = 'entry' AND incarnation = ? AND seq <= ?",
                                      (incarnation, through_seq)).rowcount
                removed += sum(db.execute(
                    "DELETE FROM outbox WHERE kind = 'entry' AND incarnation = ? AND seq = ?",
                    (incarnation, int(s))).rowcount for s in seqs if int(s) > through_seq)
            removed += sum(db.execute("DELETE FROM outbox WHERE kind = 'alert' AND event_id = ?",
                                      (str(a),)).rowcount for a in alert_ids)
            return removed

        return self._tx("confirm", run, eager=True)

    def mark_rejected(self, row_id: int, reason: str, retry_after_s: float) -> None:
        """Keep a row the broker refused, count the attempt and defer its retry (on the monotonic clock)."""
        due = self._clock.monotonic() + max(retry_after_s, 0.001)
        self._tx("mark_rejected", lambda db: db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, retry_at = ? WHERE row_id = ?",
            (reason[:200], due, row_id),
        ))

    # -- reading ---------------------------------------------------------------------------

    def pending(self, limit: int, exclude: Collection[int] = ()) -> list[OutboxRow]:
        """Up to ``limit`` rows due for delivery, oldest first, skipping ``exclude``."""
        # Over-fetch by len(exclude) and filter here: simpler and cheaper than a
        # NOT IN list of up to max_inflight bound parameters. Each branch is a
        # range on outbox_ready (an OR would make SQLite scan the whole table;
        # INDEXED BY stops the planner from preferring a rowid-order scan).
        sql = (
            "SELECT row_id, kind, event_id, payload, attempts, incarnation IS NULL FROM ("
            " SELECT * FROM (SELECT * FROM outbox WHERE retry_at = 0 ORDER BY row_id LIMIT :n)"
            " UNION ALL"
            " SELECT * FROM (SELECT * FROM outbox INDEXED BY outbox_ready WHERE retry_at > 0 AND retry_at <= :now"
            "  ORDER BY row_id LIMIT :n)"
            ") ORDER BY row_id LIMIT :n"
        )
        params = {"n": limit + len(exclude), "now": self._clock.monotonic()}
        found = self._guard("pending", lambda: self._db.execute(sql, params).fetchall())
        rows = [OutboxRow(r[0], r[1], r[2], bytes(r[3]), r[4], bool(r[5])) for r in found if r[0] not in exclude]
        return rows[:limit]

    def backlog(self) -> int:
        """Undelivered rows (entries and alerts)."""
        return self._guard("backlog", lambda: self._meta(self._db, "rows"))

    def refused(self) -> int:
        """Entries refused because the outbox was full, since the journal was created."""
        return self._guard("refused", lambda: self._meta(self._db, "refused"))

    def alerts_dropped(self) -> int:
        return self._guard("alerts_dropped", lambda: self._meta(self._db, "alerts_dropped"))

    def rows(self, due_only: bool = False) -> list[dict[str, object]]:
        """Row summaries for ``entryscan journal``: no payloads, no subject. Every row here is undelivered (a
        delivered one is deleted), each with its ``state``:

        * ``not_yet_sent``: the broker has not acknowledged a send (never sent, or a send the link lost);
        * ``refused_by_broker``: refused ``attempts`` times (``last_error``), retried after a backoff;
        * ``awaiting_confirmation``: the broker took it ``sends`` times since ``sent_since`` (wall clock, UTC) and the
          collector has not confirmed it yet; it goes again when the wait runs out.

        ``due`` says whether it goes out at the next chance (else it waits out a backoff or a confirmation);
        ``due_only`` keeps only those.
        """
        where = "WHERE retry_at <= :now" if due_only else ""
        sql = (
            "SELECT row_id, kind, seq, event_id, ts, decision, reason, credential_type,"
            " CASE WHEN sends > 0 THEN 'awaiting_confirmation' WHEN attempts > 0 THEN 'refused_by_broker'"
            " ELSE 'not_yet_sent' END AS state, sends, first_sent_at AS sent_since, attempts, last_error,"
            " retry_at <= :now AS due"
            f" FROM outbox {where} ORDER BY row_id"
        )
        cur = self._guard("rows", lambda: self._db.execute(sql, {"now": self._clock.monotonic()}))
        names = [d[0] for d in cur.description]
        return [{**dict(zip(names, row, strict=True)), "due": bool(row[-1])} for row in cur.fetchall()]

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
