"""The store interface and the ingest logic both stores share (dialect-neutral SQL, ``?`` parameters).

``ingest_batch`` stores a batch of broker messages in one transaction: entries once per
(site, device, ``event_id``), alerts once per (site, device, ``alert_id``), status and state documents, and anything invalid in the
quarantine table with the reason. Only after it returns may the caller acknowledge the messages.
Per (site, device, incarnation) a stream row tracks the gap-free prefix (``through_seq``, what the
door is told it may delete), counters and since when a gap has been open.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from entryscan.collector.store.queries import Queries
from entryscan.collector.store.validate import (
    AlertRecord,
    EntryRecord,
    Record,
    Rejected,
    StateRecord,
    StatusRecord,
    Topic,
    clean,
    held_versions,
    now_iso,
    parse_message,
    parse_topic,
    printable,
)

log = logging.getLogger(__name__)

QUARANTINE_SAMPLE = 4096
CONFIRM_MAX_BYTES = 16 * 1024
CONFIRM_MAX_SEQS = 1000
CONFIRM_MAX_ALERTS = 100
ADVANCE_STEP = 2000
StreamKey = tuple[str, str, str]
EventKey = tuple[str, str, str]  # (site, device, event_id or alert_id): an id is unique per door only


def event_key(rec: EntryRecord) -> EventKey:
    return rec.site, rec.device, rec.event_id


@dataclass(frozen=True)
class Ingested:
    """What one message turned out to be. ``new`` is False for duplicates and quarantined messages."""

    kind: Literal["entry", "alert", "status", "state", "quarantine"]
    new: bool
    line: str = ""
    reason: str = ""
    ts: str | None = None  # an entry's door timestamp (ISO 8601 UTC): the ingest lag is measured from it


@dataclass
class Batch:
    results: list[Ingested] = field(default_factory=list)
    # (prefix, site, device) of every door with entries or alerts in the batch: each gets a confirm.
    touched: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class _Parsed:
    raw_topic: str
    payload: bytes
    topic: Topic | None
    record: Record | None
    reason: str = ""


class Store(Queries, ABC):
    """One collector database. Methods are thread-safe; every write is one transaction."""

    transient_errors: tuple[type[BaseException], ...] = ()
    # The database itself failed (not one message): the ingest never quarantines a message for these.
    unavailable_errors: tuple[type[BaseException], ...] = ()

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[None]: ...

    @abstractmethod
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    @abstractmethod
    def _insert_entries(self, records: list[EntryRecord], received_at: str) -> set[EventKey]:
        """Insert, skipping known (site, device, event_id); return the keys that were new."""

    @abstractmethod
    def close(self) -> None: ...

    def recover(self) -> None:
        """After a failure: reopen what must be reopened (a lost database connection)."""

    lock_clause = ""  # " FOR UPDATE" where the database has row locks

    # -- ingest ---------------------------------------------------------------------------------

    def ingest(self, topic: str, payload: bytes) -> Ingested:
        return self.ingest_batch([(topic, payload)]).results[0]

    def ingest_batch(self, messages: Sequence[tuple[str, bytes]]) -> Batch:
        """Store a batch in one transaction (retried on a transient conflict with another collector)."""
        parsed = [_parse(t, p) for t, p in messages]
        for attempt in range(5):
            try:
                with self._transaction():
                    return self._store_batch(parsed)
            except self.transient_errors as exc:
                log.warning("collector: batch conflicted with another writer (%s), retrying", exc)
                time.sleep(0.05 * (attempt + 1))
        with self._transaction():
            return self._store_batch(parsed)

    def _store_batch(self, parsed: list[_Parsed]) -> Batch:
        now, ns0 = now_iso(), time.time_ns()
        entries = {event_key(p.record): p.record for p in parsed if isinstance(p.record, EntryRecord)}
        # Inserted in key order: two collectors inserting the same events take their locks in one order.
        new_ids = self._insert_entries([entries[k] for k in sorted(entries)], now) if entries else set()
        new_alerts = self._store_alerts([p.record for p in parsed if isinstance(p.record, AlertRecord)], ns0)
        batch, seen_ids = Batch(), set[tuple[str, EventKey]]()
        for p in parsed:
            batch.results.append(self._result(p, now, new_ids, new_alerts, seen_ids))
        self._update_streams(parsed, new_ids, now, ns0)
        touched = {(p.topic.prefix, p.topic.site, p.topic.device): None for p in parsed
                   if p.topic is not None and isinstance(p.record, EntryRecord | AlertRecord)}
        batch.touched = list(touched)
        self._count_receipts(batch.results)
        return batch

    def _result(self, p: _Parsed, now: str, new_ids: set[EventKey], new_alerts: set[EventKey],
                seen: set[tuple[str, EventKey]]) -> Ingested:
        rec = p.record
        if rec is None:
            self._quarantine(now, p.raw_topic, p.payload, p.reason)
            return Ingested("quarantine", False, reason=p.reason)
        if isinstance(rec, EntryRecord):
            key = event_key(rec)
            new = key in new_ids and ("entry", key) not in seen
            seen.add(("entry", key))
            line = f"{rec.site}/{rec.device} #{rec.seq} {rec.decision} {rec.reason} {rec.credential_type} {rec.ts}"
            return Ingested("entry", new, clean(line), ts=rec.ts)
        if isinstance(rec, AlertRecord):
            key = (rec.site, rec.device, rec.alert_id)
            new = key in new_alerts and ("alert", key) not in seen
            seen.add(("alert", key))
            return Ingested("alert", new, clean(f"{rec.site}/{rec.device} ALERT {rec.kind} {rec.ts}"))
        if isinstance(rec, StatusRecord):
            return Ingested("status", self._store_status(rec, now), f"{rec.site}/{rec.device} status {rec.status}")
        self._exec("INSERT INTO device_status(site, device, status, updated_at, state, state_at)"
                   " VALUES (?,?,'unknown',?,?,?) ON CONFLICT(site, device)"
                   " DO UPDATE SET state = excluded.state, state_at = excluded.state_at",
                   (rec.site, rec.device, now, rec.doc, now))
        self._store_versions(rec, now)
        return Ingested("state", True, f"{rec.site}/{rec.device} state")

    def _quarantine(self, now: str, topic: str, payload: bytes, reason: str) -> None:
        # The topic is stored cleaned: a control character in it must not fail the quarantine itself.
        self._exec("INSERT INTO quarantine(received_at, topic, reason, size, sample) VALUES (?,?,?,?,?)",
                   (now, printable(topic[:512]), reason, len(payload), payload[:QUARANTINE_SAMPLE]))
        log.warning("collector: quarantined a message on %r: %s (%d bytes)", clean(topic)[:200], reason,
                    len(payload))

    def quarantine_message(self, topic: str, payload: bytes, reason: str) -> Ingested:
        """Quarantine one message the store refused to take (the ingest's last resort after retries)."""
        result = Ingested("quarantine", False, reason=reason)
        with self._transaction():
            self._quarantine(now_iso(), topic, payload, reason)
            self._count_receipts([result])
        return result

    def _store_versions(self, rec: StateRecord, now: str) -> None:
        """Keep each held version and since when the door holds it (a changed version restarts its age)."""
        kinds, held = held_versions(json.loads(rec.doc))
        key = (rec.site, rec.device)
        old = {(k, n): v for k, n, v in self._rows(
            "SELECT kind, name, version FROM held_versions WHERE site = ? AND device = ?", key)}
        for kind, name in sorted(old.keys() - held.keys()):
            if kind in kinds:  # no longer held
                self._exec("DELETE FROM held_versions WHERE site = ? AND device = ? AND kind = ? AND name = ?",
                           (*key, kind, name))
        for (kind, name), (version, issued_at) in sorted(held.items()):
            self._exec("INSERT INTO held_versions(site, device, kind, name, version, since, issued_at)"
                       " VALUES (?,?,?,?,?,?,?) ON CONFLICT(site, device, kind, name) DO UPDATE SET"
                       " since = CASE WHEN held_versions.version = excluded.version THEN held_versions.since"
                       " ELSE excluded.since END, version = excluded.version, issued_at = excluded.issued_at",
                       (*key, kind, name, version, now, issued_at))

    def _store_alerts(self, alerts: list[AlertRecord], ns0: int) -> set[EventKey]:
        """Store new alerts (unique per door and alert_id); return the keys that were new."""
        if not alerts:
            return set()
        keys = sorted({(a.site, a.device, a.alert_id) for a in alerts})
        known: set[EventKey] = set()
        for site, device in sorted({(s, d) for s, d, _ in keys}):
            ids = [i for s, d, i in keys if (s, d) == (site, device)]
            known |= {(site, device, r[0]) for r in self._rows(
                "SELECT alert_id FROM alert_events WHERE site = ? AND device = ? AND alert_id IN"
                f" ({','.join('?' * len(ids))})", (site, device, *ids))}
        for i, a in enumerate(sorted(alerts, key=lambda a: (a.site, a.device, a.alert_id))):
            # A re-sent alert is stored once but moves to the front of the confirm list again.
            self._exec("INSERT INTO alert_events(alert_id, site, device, incarnation, kind, ts, payload,"
                       " received_at, last_ns) VALUES (?,?,?,?,?,?,?,?,?)"
                       " ON CONFLICT(site, device, alert_id) DO UPDATE SET last_ns = excluded.last_ns",
                       (a.alert_id, a.site, a.device, a.incarnation, a.kind, a.ts, a.payload, now_iso(), ns0 + i))
        return set(keys) - known

    def _store_status(self, rec: StatusRecord, now: str) -> bool:
        old = self._rows("SELECT status FROM device_status WHERE site = ? AND device = ?", (rec.site, rec.device))
        if old and old[0][0] == rec.status:
            return False
        offline_since = None if rec.status == "online" else now
        self._exec("INSERT INTO device_status(site, device, status, updated_at, offline_since) VALUES (?,?,?,?,?)"
                   " ON CONFLICT(site, device) DO UPDATE SET status = excluded.status,"
                   " updated_at = excluded.updated_at, offline_since = excluded.offline_since",
                   (rec.site, rec.device, rec.status, now, offline_since))
        return True

    def _update_streams(self, parsed: list[_Parsed], new_ids: set[EventKey], now: str, ns0: int) -> None:
        newest: dict[StreamKey, int] = {}
        fresh: dict[StreamKey, list[EntryRecord]] = {}
        pending = set(new_ids)  # a batch may carry one event twice: count it once
        for i, p in enumerate(parsed):
            rec = p.record
            if isinstance(rec, EntryRecord | AlertRecord):
                key = (rec.site, rec.device, rec.incarnation)
                newest[key] = ns0 + i
                if isinstance(rec, EntryRecord) and event_key(rec) in pending:
                    pending.discard(event_key(rec))
                    fresh.setdefault(key, []).append(rec)
        self._apply_streams(sorted(newest), fresh, newest, now)  # one lock order for every collector

    def _apply_streams(self, keys: list[StreamKey], fresh: dict[StreamKey, list[EntryRecord]],
                       newest: dict[StreamKey, int], now: str) -> None:
        """Per stream: lock its row, advance the gap-free prefix, add the batch's counts."""
        for key in keys:
            self._exec("INSERT INTO streams(site, device, incarnation) VALUES (?,?,?)"
                       " ON CONFLICT(site, device, incarnation) DO NOTHING", key)
            (through, lo, hi, stored, gap_since), = self._rows(
                "SELECT through_seq, min_seq, max_seq, stored, gap_since FROM streams"
                " WHERE site = ? AND device = ? AND incarnation = ?" + self.lock_clause, key)
            update = stream_update(StreamRow(through, lo, hi, stored, gap_since), fresh.get(key, []),
                                   self._advance(key, through), newest[key], now)
            self._exec(_UPDATE_STREAM, (*update, *key))

    def _advance(self, key: StreamKey, through: int) -> int:
        """Move the gap-free prefix past every consecutive committed seq."""
        while True:
            rows = self._rows("SELECT DISTINCT seq FROM entry_events WHERE site = ? AND device = ?"
                              " AND incarnation = ? AND seq > ? ORDER BY seq LIMIT ?", (*key, through, ADVANCE_STEP))
            through, more = advance(through, [int(r[0]) for r in rows])
            if not more:
                return through

    def _count_receipts(self, results: list[Ingested]) -> None:
        counts: dict[str, int] = {}
        for r in results:
            kind: str = "garbage" if r.kind == "quarantine" else r.kind
            counts[kind] = counts.get(kind, 0) + 1
        for kind in sorted(counts):
            self._exec("INSERT INTO receipts(kind, count) VALUES (?, ?)"
                       " ON CONFLICT(kind) DO UPDATE SET count = receipts.count + excluded.count",
                       (kind, counts[kind]))

    # -- confirmations (CONFIRM.md) -------------------------------------------------------------

    def confirmations(self, devices: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Confirm documents for several doors (one batch's), keyed by (site, device)."""
        docs = {}
        for site, device in devices:
            doc = self.confirmation(site, device)
            if doc is not None:
                docs[(site, device)] = doc
        return docs

    def confirmation(self, site: str, device: str) -> dict[str, Any] | None:
        """The confirm document for the device's newest incarnation, at most 16 KiB."""
        rows = self._rows("SELECT incarnation, through_seq FROM streams WHERE site = ? AND device = ?"
                          " ORDER BY last_ns DESC LIMIT 1", (site, device))
        if not rows:
            return None
        incarnation, through = rows[0]
        seqs = [int(s) for (s,) in self._rows(
            "SELECT DISTINCT seq FROM entry_events WHERE site = ? AND device = ? AND incarnation = ? AND seq > ?"
            " ORDER BY seq LIMIT ?", (site, device, incarnation, through, CONFIRM_MAX_SEQS))]
        alert_ids = [a for (a,) in self._rows(
            "SELECT alert_id FROM alert_events WHERE site = ? AND device = ? ORDER BY last_ns DESC LIMIT ?",
            (site, device, CONFIRM_MAX_ALERTS))]
        return confirm_doc(incarnation, int(through), seqs, alert_ids)


_UPDATE_STREAM = (
    "UPDATE streams SET through_seq = ?, min_seq = ?, max_seq = ?, stored = ?, gap_since = ?,"
    " accepts = accepts + ?, denies = denies + ?, unsynced = unsynced + ?,"
    " door = COALESCE(?, door), last_entry_ts = CASE WHEN last_entry_ts IS NULL OR last_entry_ts < ?"
    " THEN ? ELSE last_entry_ts END, last_ns = CASE WHEN last_ns < ? THEN ? ELSE last_ns END"
    " WHERE site = ? AND device = ? AND incarnation = ?")


@dataclass(frozen=True)
class StreamRow:
    through: int
    lo: int | None
    hi: int | None
    stored: int
    gap_since: str | None


def advance(through: int, seqs: list[int]) -> tuple[int, bool]:
    """The prefix moved over consecutive ``seqs`` (ascending, > through); True when all were used up
    and the list was a full page (the caller must look further)."""
    for seq in seqs:
        if seq != through + 1:
            return through, False
        through = seq
    return through, len(seqs) >= ADVANCE_STEP


def stream_update(old: StreamRow, fresh: list[EntryRecord], through: int, last_ns: int,
                  now: str) -> tuple[Any, ...]:
    """The parameters of ``_UPDATE_STREAM`` (without the key) for one stream after a batch."""
    lo, hi = old.lo, old.hi
    seqs = [r.seq for r in fresh]
    if seqs:
        lo = min(seqs) if lo is None else min(lo, *seqs)
        hi = max(seqs) if hi is None else max(hi, *seqs)
    stored = old.stored + len(fresh)
    missing = 0 if lo is None or hi is None else hi - lo + 1 - stored
    gap_since = (old.gap_since or now) if missing > 0 else None
    last_ts = max((r.ts for r in fresh if r.ts), default=None)
    return (through, lo, hi, stored, gap_since, sum(r.decision == "accept" for r in fresh),
            sum(r.decision == "deny" for r in fresh), sum(r.clock_synced is False for r in fresh),
            next((r.door for r in reversed(fresh) if r.door), None), last_ts, last_ts, last_ns, last_ns)


def confirm_doc(incarnation: str, through: int, seqs: list[int], alert_ids: list[str]) -> dict[str, Any]:
    """The CONFIRM.md document, cut to 16 KiB by dropping the highest seqs."""
    kept = seqs[:CONFIRM_MAX_SEQS]
    doc = {"incarnation": incarnation, "through_seq": through, "seqs": kept, "alert_ids": alert_ids[:CONFIRM_MAX_ALERTS]}
    while len(json.dumps(doc, separators=(",", ":"))) > CONFIRM_MAX_BYTES and kept:
        del kept[len(kept) // 2:]  # keep the lowest ones
    return doc


def _parse(topic: str, payload: bytes) -> _Parsed:
    try:
        parsed_topic = parse_topic(topic)
    except Rejected as exc:
        return _Parsed(topic, payload, None, None, exc.reason)
    try:
        return _Parsed(topic, payload, parsed_topic, parse_message(parsed_topic, payload))
    except Rejected as exc:
        return _Parsed(topic, payload, parsed_topic, None, exc.reason)
    except Exception as exc:  # noqa: BLE001 - a parser bug quarantines one message, never wedges the batch
        return _Parsed(topic, payload, parsed_topic, None, f"parse_error:{type(exc).__name__}")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
