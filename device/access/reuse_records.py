"""The one-time-use and passage records, kept in the journal's own SQLite file.

They live there, not in a file of their own, so that a use is written in the same transaction as the journal
row of the accept that used it (SQLite does not make a transaction over ATTACHed WAL databases atomic). The
journal's schema includes ``SCHEMA`` and calls :func:`record_use` inside its write transaction; the policy's
:class:`~entryscan.device.access.reuse.ReuseStore` only reads them (and notes peers' passages).

- ``used``: one row per consumed one-time credential, kept until ``keep_until`` (the credential's own expiry);
  NULL means "not yet dated": the first pruning with a synchronised clock sets it to that time plus the
  retention period, so a use recorded under a wrong clock is never pruned by that wrong time;
- ``passage``: the last direction ("in"/"out") and time per subject, pruned after the anti-passback window.

Records are pruned only when the decision that writes them was made on a synchronised clock.
"""

from __future__ import annotations

import sqlite3

from entryscan.device.model import PendingUse

SCHEMA = """
CREATE TABLE IF NOT EXISTS used (key BLOB PRIMARY KEY, used_at REAL NOT NULL, keep_until REAL);
CREATE INDEX IF NOT EXISTS used_expiry ON used(keep_until);
CREATE TABLE IF NOT EXISTS passage (key BLOB PRIMARY KEY, direction TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS passage_at ON passage(at);
"""

# A passage is replaced only by a later one: a peer's event delivered late must not undo a newer passage here.
UPSERT_PASSAGE = (
    "INSERT INTO passage(key, direction, at) VALUES (?, ?, ?)"
    " ON CONFLICT(key) DO UPDATE SET direction = excluded.direction, at = excluded.at"
    " WHERE excluded.at >= passage.at"
)


def record_use(db: sqlite3.Connection, use: PendingUse) -> None:
    """Write ``use`` inside the caller's open write transaction (and prune, on a synchronised clock)."""
    if use.used_key is not None:
        # OR IGNORE: a record already there keeps its (earlier) date.
        db.execute("INSERT OR IGNORE INTO used(key, used_at, keep_until) VALUES (?, ?, ?)",
                   (use.used_key, use.at, use.keep_until))
    if use.passage_key is not None and use.direction in ("in", "out"):
        db.execute(UPSERT_PASSAGE, (use.passage_key, use.direction, use.at))
    if use.synced:
        prune(db, use.at, use.window_s, use.retention_s)


def prune(db: sqlite3.Connection, now: float, window_s: float, retention_s: float) -> None:
    """Drop expired records; ``now`` must come from a synchronised clock. Every statement is an index range."""
    db.execute("DELETE FROM used WHERE keep_until < ?", (now,))  # NULL (undated) never compares
    db.execute("UPDATE used SET keep_until = ? WHERE keep_until IS NULL", (now + retention_s,))
    keep = min(window_s, retention_s)
    # A passage "from the future" was written by a clock that was ahead: it can never match again.
    db.execute("DELETE FROM passage WHERE at < ?", (now - keep,))
    db.execute("DELETE FROM passage WHERE at > ?", (now + keep,))
