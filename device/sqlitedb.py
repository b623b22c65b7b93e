"""Opening the device's SQLite files: private (0600), WAL, synchronous=FULL.

Shared by the journal, the list store and the reuse store so that all three get
the same durability and the same protection against the open race below.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

BUSY_TIMEOUT_MS = 5000
OPEN_ATTEMPTS = 10


def open_private(path: Path, schema: str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) a database only its owner can read, in WAL mode with full sync."""
    # exist_ok: two threads may create the directory at once.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Create the file ourselves so it is never briefly world-readable; SQLite gives the -wal/-shm files the same
    # mode as the database. Only a missing file is opened here: closing any descriptor of a file drops all of this
    # process's POSIX locks on it (sqlite.org/howtocorrupt.html 2.2), and without them the next other process to
    # close the database takes itself for the last user and deletes the -wal our open connections still write.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    for attempt in range(OPEN_ATTEMPTS):
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                             check_same_thread=check_same_thread)
        try:
            _setup(db, schema)
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            # Two connections opening a brand-new file race on the switch to WAL,
            # which SQLite reports as "locked" without waiting on busy_timeout.
            if "locked" not in str(exc) or attempt == OPEN_ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
        except BaseException:
            db.close()
            raise
    raise AssertionError("unreachable")


def _setup(db: sqlite3.Connection, schema: str) -> None:
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":  # WAL is persistent: only a new file needs the switch
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL (journal_mode={mode})")
    db.execute("PRAGMA synchronous = FULL")
    # Several connections may create the schema at once: one write transaction.
    db.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")
