"""The journal's SQLite schema, its migrations, and the per-file identity (incarnation, boot).

An *incarnation* is a random id made when a journal file is created (and so again after a wipe). Every event
carries it, ``seq`` counts from 1 within it, and the collector tracks gaps per incarnation. A journal written by
firmware before incarnations existed gets one on first open; its undelivered rows keep no incarnation ("legacy")
and are delivered with broker acknowledgement, as they were written; new rows count ``seq`` from 1 again.

Retry deferrals are kept on the monotonic clock (a wall-clock step must not delay them). CLOCK_MONOTONIC is
shared by all processes of one boot, so the boot id is stored beside them: after a reboot every deferral is due.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from entryscan.device.access.reuse_records import SCHEMA as REUSE_SCHEMA
from entryscan.device.errors import JournalTooNew

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
# The WAL is reset after each checkpoint and truncated to this size, so a long burst or a nearly full disk cannot
# leave a large -wal file behind (sized for the journal's small rows: a decision touches about 7 pages).
WAL_AUTOCHECKPOINT_PAGES = 128
WAL_SIZE_LIMIT_BYTES = 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES
    ('next_seq', 1), ('refused', 0), ('full_alerted', 0), ('rows', 0), ('alerts_dropped', 0);
CREATE TABLE IF NOT EXISTS identity (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
-- retry_at = 0 means "due now"; otherwise a monotonic deadline (rejection backoff, or waiting for the collector's
-- confirmation). (retry_at, row_id) serves the oldest-first scan of both.
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox(retry_at, row_id);
-- The row counter lives in the same transactions as the rows, so the full
-- check is O(1) instead of a COUNT(*) over 100k rows on every scan.
CREATE TRIGGER IF NOT EXISTS outbox_count_ins AFTER INSERT ON outbox
    BEGIN UPDATE meta SET value = value + 1 WHERE key = 'rows'; END;
CREATE TRIGGER IF NOT EXISTS outbox_count_del AFTER DELETE ON outbox
    BEGIN UPDATE meta SET value = value - 1 WHERE key = 'rows'; END;
""" + REUSE_SCHEMA  # one-time uses and passages: written in the same transaction as their entry row

# The layout's version, kept in SQLite's user_version: 0 = a file from before versions were kept (1 or 2 below,
# told apart by its columns), 1 = the first release, 2 = incarnation and sends, 3 = first_sent_at. Opening
# migrates an older file up to this one; a file of a higher version was written by a newer entryscan and is
# refused (JournalTooNew): guessing at a layout this firmware does not know could lose undelivered rows.
SCHEMA_VERSION = 3
# Columns added after the first release: (name, declaration). Old files get them on open.
ADDED_COLUMNS = (
    ("incarnation", "TEXT"),  # NULL: a legacy row, delivered with broker acknowledgement
    ("sends", "INTEGER NOT NULL DEFAULT 0"),  # PUBACKed sends still awaiting the collector's confirmation
    ("first_sent_at", "TEXT"),  # wall-clock time of the first of those sends (`entryscan journal`: "since")
)
POST_MIGRATION = "CREATE INDEX IF NOT EXISTS outbox_seq ON outbox(incarnation, seq);"


def boot_id() -> str:
    try:
        return BOOT_ID_FILE.read_text(encoding="ascii").strip()
    except OSError:
        return "unknown-" + uuid.uuid4().hex  # no boot id: treat every open as a new boot


def refuse_newer(version: int, path: Path | str) -> None:
    if version > SCHEMA_VERSION:
        raise JournalTooNew("journal.path", f"{path} has journal schema {version}, newer than this entryscan knows "
                            f"({SCHEMA_VERSION}): written by a newer version; install that one again")


def file_version(path: Path) -> int | None:
    """The schema version of the journal at ``path`` without writing to it; None when there is no file yet."""
    if not path.is_file():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def check_version(path: Path) -> None:
    """Refuse a journal written by a newer entryscan before anything else starts (``entryscan run``)."""
    try:
        version = file_version(path)
    except sqlite3.Error:
        return  # not readable as SQLite: opening it says what is wrong, as it always did
    if version is not None:
        refuse_newer(version, path)


def prepare(db: sqlite3.Connection, path: Path | str = "journal") -> str:
    """Migrate, set the WAL bounds, and return this journal's incarnation (made here if it has none)."""
    refuse_newer(int(db.execute("PRAGMA user_version").fetchone()[0]), path)
    db.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    db.execute("BEGIN IMMEDIATE")
    try:
        refuse_newer(int(db.execute("PRAGMA user_version").fetchone()[0]), path)  # a newer one may have won the race
        columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
        for name, declaration in ADDED_COLUMNS:
            if name not in columns:
                db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {declaration}")
        db.execute(POST_MIGRATION)
        identity = dict(db.execute("SELECT key, value FROM identity"))
        incarnation = identity.get("incarnation")
        if incarnation is None:
            incarnation = uuid.uuid4().hex
            db.execute("INSERT INTO identity(key, value) VALUES ('incarnation', ?)", (incarnation,))
            # seq counts from 1 in every incarnation (legacy rows keep theirs).
            db.execute("UPDATE meta SET value = 1 WHERE key = 'next_seq'")
        boot = boot_id()
        if identity.get("boot_id") != boot:
            # Monotonic deadlines from another boot mean nothing now: everything deferred is due.
            db.execute("UPDATE outbox SET retry_at = 0 WHERE retry_at != 0")
            db.execute("INSERT OR REPLACE INTO identity(key, value) VALUES ('boot_id', ?)", (boot,))
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return str(incarnation)
