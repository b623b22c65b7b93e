"""The collector's SQLite store: entries deduplicated on event_id, alerts, device status.

Every message from the broker is untrusted input. ``ingest`` validates it,
stores it and commits in one transaction, and only then does the caller
acknowledge it to the broker; duplicates (at-least-once delivery) are counted
as receipts but stored once.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

MAX_PAYLOAD = 64 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    event_id TEXT PRIMARY KEY,
    site TEXT NOT NULL, device TEXT NOT NULL, door TEXT,
    seq INTEGER NOT NULL, ts TEXT,
    decision TEXT, reason TEXT, credential_type TEXT, subject TEXT, policy_version TEXT,
    clock_synced INTEGER,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS entries_device_seq ON entries(site, device, seq);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    site TEXT NOT NULL, device TEXT NOT NULL, kind TEXT, ts TEXT,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS status (
    site TEXT NOT NULL, device TEXT NOT NULL, status TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (site, device)
);
CREATE TABLE IF NOT EXISTS receipts (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""

Kind = Literal["entry", "alert", "status"]


@dataclass(frozen=True)
class Ingested:
    """What one message turned out to be. ``new`` is False for duplicates and garbage."""

    kind: Kind | Literal["garbage"]
    new: bool
    line: str = ""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode = WAL")
        # Acks go out after commit: the commit must be durable, or a power cut
        # would lose messages the broker already forgot.
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}\nCOMMIT;")

    def ingest(self, topic: str, payload: bytes) -> Ingested:
        """Validate and store one message, committed before returning.

        Raises ``sqlite3.Error`` only when the database itself fails (the caller
        must then not acknowledge the message).
        """
        parsed = _parse_topic(topic)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = self._store(parsed, payload) if parsed else Ingested("garbage", False)
            if result.kind == "garbage":
                log.warning("collector: ignored an invalid message on %r (%d bytes)", topic[:200], len(payload))
            self._count(result.kind)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return result

    def _store(self, parsed: tuple[str, str, Kind], payload: bytes) -> Ingested:
        site, device, kind = parsed
        if kind == "status":
            return self._status(site, device, payload)
        doc = _json_object(payload)
        # The topic is what the broker ACL authenticated; a payload claiming
        # another device is not believed.
        if doc is None or doc.get("site") != site or doc.get("device") != device:
            return Ingested("garbage", False)
        return self._entry(doc) if kind == "entry" else self._alert(doc)

    def _entry(self, e: dict[str, Any]) -> Ingested:
        seq, event_id = e.get("seq"), e.get("event_id")
        if not (isinstance(event_id, str) and 0 < len(event_id) <= 100
                and type(seq) is int and 0 <= seq < 2**63):  # SQLite INTEGER range
            return Ingested("garbage", False)
        cur = self._db.execute(
            "INSERT INTO entries(event_id, site, device, door, seq, ts, decision, reason, credential_type,"
            " subject, policy_version, clock_synced, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(event_id) DO NOTHING",
            (e["event_id"], e["site"], e["device"], _s(e.get("door")), e["seq"], _s(e.get("ts")),
             _s(e.get("decision")), _s(e.get("reason")), _s(e.get("credential_type")), _s(e.get("subject")),
             _s(e.get("policy_version")),
             None if e.get("clock_synced") is None else int(bool(e.get("clock_synced"))),
             json.dumps(e, separators=(",", ":"))),
        )
        line = (f"{e['site']}/{e['device']} #{e['seq']} {e.get('decision')} {e.get('reason')}"
                f" {e.get('credential_type')} {e.get('ts')}")
        return Ingested("entry", cur.rowcount == 1, _clean(line))

    def _alert(self, a: dict[str, Any]) -> Ingested:
        alert_id = a.get("alert_id")
        if not (isinstance(alert_id, str) and 0 < len(alert_id) <= 100):
            return Ingested("garbage", False)
        cur = self._db.execute(
            "INSERT INTO alerts(alert_id, site, device, kind, ts, payload) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(alert_id) DO NOTHING",
            (a["alert_id"], a["site"], a["device"], _s(a.get("kind")), _s(a.get("ts")),
             json.dumps(a, separators=(",", ":"))),
        )
        line = f"{a['site']}/{a['device']} ALERT {a.get('kind')} {a.get('ts')}"
        return Ingested("alert", cur.rowcount == 1, _clean(line))

    def _status(self, site: str, device: str, payload: bytes) -> Ingested:
        value = payload.decode("ascii", "replace").strip()
        if value not in ("online", "offline", "stopped"):
            return Ingested("garbage", False)
        old = self._db.execute("SELECT status FROM status WHERE site = ? AND device = ?", (site, device)).fetchone()
        if old is not None and old[0] == value:
            return Ingested("status", False)
        self._db.execute(
            "INSERT INTO status(site, device, status) VALUES (?,?,?) ON CONFLICT(site, device)"
            " DO UPDATE SET status = excluded.status, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (site, device, value),
        )
        return Ingested("status", True, f"{site}/{device} status {value}")

    def _count(self, kind: str) -> None:
        self._db.execute(
            "INSERT INTO receipts(kind, count) VALUES (?, 1) ON CONFLICT(kind) DO UPDATE SET count = count + 1",
            (kind,),
        )

    # -- reading (tests, reports) ---------------------------------------------------------------

    def receipts(self) -> dict[str, int]:
        return {k: int(c) for k, c in self._db.execute("SELECT kind, count FROM receipts")}

    def entries(self, site: str | None = None, device: str | None = None) -> list[dict[str, Any]]:
        cur = self._db.execute(
            "SELECT event_id, site, device, seq, ts, decision, reason FROM entries"
            " WHERE (?1 IS NULL OR site = ?1) AND (?2 IS NULL OR device = ?2) ORDER BY site, device, seq",
            (site, device),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(p) for (p,) in self._db.execute("SELECT payload FROM alerts ORDER BY rowid")]

    def status(self) -> dict[str, str]:
        return {f"{s}/{d}": v for s, d, v in self._db.execute("SELECT site, device, status FROM status")}

    def close(self) -> None:
        self._db.close()


def _parse_topic(topic: str) -> tuple[str, str, Kind] | None:
    parts = topic.split("/")
    if len(parts) < 4 or parts[-1] not in ("entry", "alert", "status"):
        return None
    kind: Kind = parts[-1]  # type: ignore[assignment]
    return parts[-3], parts[-2], kind


def _json_object(payload: bytes) -> dict[str, Any] | None:
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _s(value: object) -> str | None:
    return None if value is None else str(value)[:200]


def _clean(line: str) -> str:
    """Printable only: a hostile payload must not drive the operator's terminal."""
    return "".join(c if c.isprintable() else "?" for c in line)[:300]
