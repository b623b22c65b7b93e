"""The journal's schema version (issue 17, scenario 7: upgrade in place): an older file is migrated on open with
its undelivered rows kept; a file written by a newer entryscan is refused with one clear line and exit 78 (which
systemd does not restart), never opened and half understood."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from entryscan.device.access.clock import SystemClock
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.journal_schema import ADDED_COLUMNS, SCHEMA, SCHEMA_VERSION, file_version
from entryscan.device.errors import JournalTooNew
from tests.cli.test_cli import door_config


def old_journal(path: Path, columns: int, rows: int = 3) -> None:
    """A journal as an earlier release left it: the base layout plus its first ``columns`` added columns, no
    user_version, ``rows`` undelivered entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA)
    for name, declaration in ADDED_COLUMNS[:columns]:
        db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {declaration}")
    for seq in range(1, rows + 1):
        payload = json.dumps({"event_id": f"e{seq}", "seq": seq, "decision": "accept"})
        db.execute("INSERT INTO outbox(kind, event_id, seq, ts, decision, payload) VALUES ('entry', ?, ?, ?, ?, ?)",
                   (f"e{seq}", seq, "2026-12-01T08:00:00.000Z", "accept", payload.encode()))
    db.close()


def open_journal(path: Path) -> Journal:
    return Journal(path, device="door-1", site="hq", door="main", max_rows=100, clock=SystemClock())


@pytest.mark.parametrize("columns", [0, 2])  # the first release; the one with incarnation and sends
def test_an_older_journal_is_migrated_with_every_undelivered_row_kept(tmp_path: Path, columns: int) -> None:
    path = tmp_path / "j.db"
    old_journal(path, columns)
    assert file_version(path) == 0
    journal = open_journal(path)
    try:
        assert [r["event_id"] for r in journal.rows()] == ["e1", "e2", "e3"]
        assert {r["state"] for r in journal.rows()} == {"not_yet_sent"}
        assert journal.backlog() in (0, 3)  # the old row counter is what it was; the rows are what matter
        journal.mark_sent([journal.pending(1)[0].row_id], 60, 600)  # the new column is written
        assert journal.rows()[0]["sent_since"]
    finally:
        journal.close()
    assert file_version(path) == SCHEMA_VERSION


def test_a_journal_of_a_newer_entryscan_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    open_journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalTooNew, match=f"journal schema {SCHEMA_VERSION + 1}, newer than this entryscan"):
        open_journal(path)
    assert path.read_bytes() == before and file_version(path) == SCHEMA_VERSION + 1


def test_run_and_journal_refuse_it_with_exit_78_in_one_line(tmp_path: Path) -> None:
    config = door_config(tmp_path)
    path = tmp_path / "state" / "journal.db"
    open_journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    for command in (["run", "--simulate"], ["journal"]):
        done = subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", *command, "--config", str(config)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 78, (command, done.stderr)
        [line] = [x for x in done.stderr.splitlines() if "journal schema" in x]
        assert line.startswith("entryscan: config error: journal.path:") and "install that one again" in line
        assert "Traceback" not in done.stderr
    assert file_version(path) == SCHEMA_VERSION + 1
