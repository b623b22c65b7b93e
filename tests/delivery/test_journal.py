"""The durable journal, on real SQLite files."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from entryscan.device.delivery import journal_schema
from entryscan.device.delivery.journal import ALERT_RESERVE, Journal, iso_ms
from entryscan.device.errors import ConfigError, JournalError
from tests.support import StepClock
from tests.support.nobody import read_only_dir

FIELDS: dict[str, object] = {
    "decision": "accept",
    "reason": "ok",
    "credential_type": "badge",
    "subject": "p-1234",
    "policy_version": "7",
    "clock_synced": True,
}


def open_journal(path: Path, clock: StepClock, max_rows: int = 1000) -> Journal:
    return Journal(path, device="door-1", site="hq", door="main", max_rows=max_rows, clock=clock)


def test_entry_event_has_contract_fields(tmp_path: Path, clock: StepClock) -> None:
    j = open_journal(tmp_path / "j.db", clock)
    event = j.record_entry({**FIELDS, "extra_note": "x"})
    assert event is not None
    assert list(event)[:13] == ["event_id", "seq", "ts", "device", "site", "door", "decision", "reason",
                                "credential_type", "subject", "policy_version", "clock_synced", "incarnation"]
    assert isinstance(event["incarnation"], str) and len(event["incarnation"]) == 32
    assert event["seq"] == 1 and event["device"] == "door-1" and event["extra_note"] == "x"
    ts = str(event["ts"])
    assert ts.endswith("Z") and len(ts) == len("2026-11-28T18:00:00.123Z")
    [row] = j.pending(10)
    assert row.kind == "entry" and row.event_id == event["event_id"]
    assert json.loads(row.payload) == event


def test_caller_cannot_override_header(tmp_path: Path, clock: StepClock) -> None:
    j = open_journal(tmp_path / "j.db", clock)
    event = j.record_entry({**FIELDS, "seq": 99, "event_id": "forged", "device": "other"})
    assert event is not None and event["seq"] == 1 and event["event_id"] != "forged"
    assert event["device"] == "door-1"


def test_seq_gap_free_across_reopen_and_unique_ids(tmp_path: Path, clock: StepClock) -> None:
    path = tmp_path / "j.db"
    seen: list[dict[str, object]] = []
    for _ in range(3):
        j = open_journal(path, clock)
        for _ in range(5):
            event = j.record_entry(FIELDS)
            assert event is not None
            seen.append(event)
        j.delete([r.row_id for r in j.pending(2)])  # deliveries must not disturb seq
        j.close()
    assert [e["seq"] for e in seen] == list(range(1, 16))
    assert len({e["event_id"] for e in seen}) == 15


def test_two_threads_share_one_file(tmp_path: Path, clock: StepClock) -> None:
    """The scan thread and the delivery thread each hold a connection to one file."""
    path = tmp_path / "j.db"
    results: list[int] = []

    def writer() -> None:
        j = open_journal(path, clock, max_rows=10_000)
        for _ in range(100):
            event = j.record_entry(FIELDS)
            assert event is not None
            results.append(int(str(event["seq"])))
        j.close()

    def deleter() -> None:
        j = open_journal(path, clock, max_rows=10_000)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(results) < 200:
            j.delete(r.row_id for r in j.pending(50))
        j.close()

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(f) for f in (writer, writer, deleter)]
        for f in futures:
            f.result()  # re-raises any failure from the thread
    assert sorted(results) == list(range(1, 201))


def test_full_journal_refuses_counts_and_alerts_once(tmp_path: Path, clock: StepClock) -> None:
    path = tmp_path / "j.db"
    j = open_journal(path, clock, max_rows=100)
    events = [j.record_entry(FIELDS) for _ in range(100)]
    assert all(e is not None for e in events)
    assert [j.record_entry(FIELDS) for _ in range(5)] == [None] * 5
    assert j.refused() == 5
    alerts = [r for r in j.pending(1000) if r.kind == "alert"]
    assert len(alerts) == 1
    alert = json.loads(alerts[0].payload)
    assert alert["kind"] == "journal_full" and alert["device"] == "door-1" and alert["max_rows"] == 100
    entries = [json.loads(r.payload) for r in j.pending(1000) if r.kind == "entry"]
    assert [e["seq"] for e in entries] == list(range(1, 101))  # nothing overwritten
    j.close()
    j = open_journal(path, clock, max_rows=100)  # the counter is durable
    assert j.refused() == 5
    # Delivery frees room: the next entry takes seq 101 (refusals consumed no seq) and
    # a later full episode raises a fresh alert.
    j.delete([r.row_id for r in j.pending(2)])
    event = j.record_entry(FIELDS)
    assert event is not None and event["seq"] == 101
    assert j.record_entry(FIELDS) is None and j.record_entry(FIELDS) is None
    assert len([r for r in j.pending(1000) if r.kind == "alert"]) == 2
    assert j.refused() == 7


def test_alerts_use_reserve_then_are_counted(tmp_path: Path, clock: StepClock) -> None:
    j = open_journal(tmp_path / "j.db", clock, max_rows=100)
    for _ in range(100):
        j.record_entry(FIELDS)
    for i in range(ALERT_RESERVE + 3):
        j.record_alert("camera_fault", {"n": i})
    assert j.backlog() == 100 + ALERT_RESERVE
    assert j.alerts_dropped() == 3


def test_alert_payload(tmp_path: Path, clock: StepClock) -> None:
    j = open_journal(tmp_path / "j.db", clock)
    j.record_alert("tamper", {"kind": "forged", "pin": 5})
    [row] = j.pending(5)
    alert = json.loads(row.payload)
    assert alert["kind"] == "tamper" and alert["pin"] == 5 and alert["site"] == "hq"
    assert row.event_id == alert["alert_id"] and alert["ts"].endswith("Z")


def test_pending_delete_exclude_and_order(tmp_path: Path, clock: StepClock) -> None:
    j = open_journal(tmp_path / "j.db", clock)
    for _ in range(10):
        j.record_entry(FIELDS)
    rows = j.pending(4)
    assert [r.row_id for r in rows] == sorted(r.row_id for r in rows) and len(rows) == 4
    rest = j.pending(4, exclude={r.row_id for r in rows})
    assert not {r.row_id for r in rest} & {r.row_id for r in rows} and len(rest) == 4
    j.delete(r.row_id for r in rows)
    assert j.backlog() == 6
    assert j.pending(100)[0].row_id == rest[0].row_id


def test_mark_rejected_defers_and_counts(tmp_path: Path, clock: StepClock) -> None:
    j = open_journal(tmp_path / "j.db", clock)
    for _ in range(3):
        j.record_entry(FIELDS)
    first = j.pending(1)[0]
    j.mark_rejected(first.row_id, "0x87 Not authorized", 60)
    assert first.row_id not in [r.row_id for r in j.pending(10)]
    assert len(j.rows(due_only=True)) == 2 and len(j.rows()) == 3
    summary = j.rows()[0]
    assert summary["attempts"] == 1 and summary["last_error"] == "0x87 Not authorized"
    assert "payload" not in summary and "subject" not in summary
    clock.advance_monotonic(61)
    due = j.pending(10)
    assert due[0].row_id == first.row_id and due[0].attempts == 1


def test_retry_deferral_follows_the_monotonic_clock_not_wall_steps(tmp_path: Path, clock: StepClock) -> None:
    """A backward wall-clock step used to delay a deferred row's retry by the size of the step."""
    j = open_journal(tmp_path / "j.db", clock)
    j.record_entry(FIELDS)
    row = j.pending(1)[0]
    j.mark_rejected(row.row_id, "0x87 Not authorized", 60)
    clock.advance(-3600)  # the wall clock steps back an hour
    clock.advance_monotonic(61)  # while a minute passes
    assert [r.row_id for r in j.pending(10)] == [row.row_id]
    j.mark_rejected(row.row_id, "again", 60)
    clock.advance(+7200)  # a forward step does not make it due early either
    assert j.pending(10) == []


def test_deferrals_from_another_boot_are_due(tmp_path: Path, clock: StepClock,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    j = open_journal(tmp_path / "j.db", clock)
    j.record_entry(FIELDS)
    j.mark_rejected(j.pending(1)[0].row_id, "0x87", 3600)
    j.close()
    assert open_journal(tmp_path / "j.db", clock).pending(10) == []  # same boot: still deferred
    boot = tmp_path / "boot_id"
    boot.write_text("another-boot\n")
    monkeypatch.setattr(journal_schema, "BOOT_ID_FILE", boot)
    assert len(open_journal(tmp_path / "j.db", clock).pending(10)) == 1


def test_file_and_dir_modes(tmp_path: Path, clock: StepClock) -> None:
    path = tmp_path / "state" / "sub" / "j.db"
    j = open_journal(path, clock)
    j.record_entry(FIELDS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    wal = path.with_name("j.db-wal")
    assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) & 0o077 == 0
    assert j.integrity_ok()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_file_that_is_not_a_database_or_a_directory_is_a_config_error(tmp_path: Path, clock: StepClock) -> None:
    path = tmp_path / "j.db"
    path.write_bytes(b"this is not an sqlite database at all" * 200)
    with pytest.raises(ConfigError, match="journal.path.*not an SQLite database"):
        open_journal(path, clock)
    with pytest.raises(ConfigError, match="journal.path.*is a directory"):
        open_journal(tmp_path, clock)


def test_journal_path_that_is_a_directory_or_another_file_exits_78(tmp_path: Path) -> None:
    """Before: the daemon ran on with every decision a storage fault (a directory), or crashed (another file)."""
    for target in (tmp_path / "adir", tmp_path / "config-copy.toml"):
        if target.suffix:
            target.write_text("[device]\nid = 'x'\n" * 100)
        else:
            target.mkdir()
        cfg = tmp_path / f"{target.name}.toml"
        cfg.write_text(MINIMAL_CONFIG.format(journal=target))
        out = subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "run", "--simulate", "--config",
                              str(cfg)], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 78, out.stderr
        assert out.stderr.startswith("entryscan: config error: journal.path") and len(out.stderr.splitlines()) == 1


def test_read_only_dir_raises_journal_error(tmp_path: Path, clock: StepClock) -> None:
    with read_only_dir(tmp_path) as ro:  # as root too: this was CI's one skip ("root ignores file permissions")
        assert not os.access(ro, os.W_OK, effective_ids=True)
        with pytest.raises(JournalError):
            open_journal(ro / "j.db", clock)


def test_read_only_database_write_raises_journal_error(tmp_path: Path, clock: StepClock) -> None:
    path = tmp_path / "j.db"
    j = open_journal(path, clock)
    j.record_entry(FIELDS)
    j.close()
    j = open_journal(path, clock)
    # query_only makes every write fail inside SQLite, even for root: the closest
    # portable stand-in for a read-only or failing medium.
    j._db.execute("PRAGMA query_only = ON")
    with pytest.raises(JournalError, match="record_entry"):
        j.record_entry(FIELDS)
    with pytest.raises(JournalError, match="record_alert"):
        j.record_alert("x", {})
    j._db.execute("PRAGMA query_only = OFF")
    event = j.record_entry(FIELDS)  # the failed transaction was rolled back cleanly
    assert event is not None and event["seq"] == 2


def test_disk_full_raises_journal_error(tmp_path: Path, clock: StepClock) -> None:
    j = open_journal(tmp_path / "j.db", clock)
    j.record_entry(FIELDS)
    # max_page_count caps the file like a full disk: SQLite reports SQLITE_FULL.
    pages = j._db.execute("PRAGMA page_count").fetchone()[0]
    j._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(JournalError, match="full"):
        for _ in range(1000):
            j.record_entry({**FIELDS, "pad": "x" * 2000})
    assert j.integrity_ok()


def test_pending_is_cheap_with_large_backlog(tmp_path: Path, clock: StepClock) -> None:
    j = open_journal(tmp_path / "j.db", clock, max_rows=200_000)
    payload = json.dumps({**FIELDS, "event_id": "x"}).encode()
    j._db.execute("BEGIN")  # bulk-load directly: the per-row fsync path is tested elsewhere
    j._db.executemany(
        "INSERT INTO outbox(kind, event_id, seq, ts, payload) VALUES ('entry', ?, ?, ?, ?)",
        ((f"e{i}", i, iso_ms(clock.now()), payload) for i in range(120_000)),
    )
    j._db.execute("COMMIT")
    assert j.backlog() == 120_000
    for r in j.pending(20):  # many deferred rows in front must not slow the ready scan
        j.mark_rejected(r.row_id, "x", 3600)
    start = time.perf_counter()
    for _ in range(50):
        rows = j.pending(20, exclude=range(21, 41))
    per_call = (time.perf_counter() - start) / 50
    assert [r.row_id for r in rows] == list(range(41, 61))
    assert per_call < 0.01, f"pending() took {per_call * 1000:.1f} ms with 120k rows"


def test_unwritable_location_raises_journal_error(tmp_path: Path, clock: StepClock) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="open"):
        open_journal(blocker / "state" / "j.db", clock)


def test_threads_opening_a_new_journal_at_once(tmp_path: Path, clock: StepClock) -> None:
    """The scan and delivery threads start together on a fresh device: no open may fail."""
    for attempt in range(40):
        path = tmp_path / str(attempt) / "state" / "j.db"

        def open_and_write(path: Path = path) -> None:
            j = open_journal(path, clock)
            j.record_entry(FIELDS)
            j.close()

        with ThreadPoolExecutor(3) as pool:
            for f in [pool.submit(open_and_write) for _ in range(3)]:
                f.result()
        j = open_journal(path, clock)
        assert [r["seq"] for r in j.rows()] == [1, 2, 3]
        j.close()


MINIMAL_CONFIG = """\
[device]
id = "door-1"
site = "hq"
door = "main"
[camera]
source = "dir:."
[mqtt]
url = "mqtt://127.0.0.1:9"
[journal]
path = "{journal}"
[policy]
mode = "open"
"""


def test_wal_is_bounded_by_checkpoint_size_and_a_size_limit(tmp_path: Path, clock: StepClock) -> None:
    """A long burst or a nearly full disk must not leave a large -wal file that never shrinks."""
    j = open_journal(tmp_path / "j.db", clock)
    db = sqlite3.connect(tmp_path / "j.db")
    for _ in range(600):
        j.record_entry(FIELDS)
    wal = tmp_path / "j.db-wal"
    # The autocheckpoint (128 pages) resets the WAL and journal_size_limit truncates it: without them it grew by
    # to the default 1,000-page checkpoint (measured: 4.1 MB for these 600 decisions).
    assert wal.stat().st_size <= journal_schema.WAL_SIZE_LIMIT_BYTES + 64 * 1024
    assert j._db.execute("PRAGMA journal_size_limit").fetchone()[0] == journal_schema.WAL_SIZE_LIMIT_BYTES
    db.close()


def test_a_confirmation_the_journal_cannot_take_is_kept_for_the_next_try(tmp_path: Path, clock: StepClock) -> None:
    """Before: the delivery thread took the confirmation off its slot before writing, so a full disk lost it and
    the confirmed rows were sent again after confirm_timeout_s instead of leaving the journal when space came back."""
    from entryscan.device.delivery.confirm import Confirmation, PendingConfirmation

    class FullOnce(Journal):
        refused = 0

        def confirm(self, *args: object, **kw: object) -> int:
            if not FullOnce.refused:
                FullOnce.refused += 1
                raise JournalError("database or disk is full")
            return super().confirm(*args, **kw)  # type: ignore[arg-type]

    journal = FullOnce(tmp_path / "j.db", device="d", site="s", door="main", max_rows=100, clock=clock)
    for _ in range(3):
        journal.record_entry({"decision": "accept", "reason": "ok"})
    pending = PendingConfirmation()
    pending.offer(Confirmation(journal.incarnation, 3, (), ()))
    with pytest.raises(JournalError):
        pending.apply(journal)
    assert journal.backlog() == 3
    assert pending.apply(journal) == 3 and journal.backlog() == 0
    assert pending.apply(journal) == 0  # applied once


def test_another_process_closing_the_journal_never_cuts_the_daemon_off(tmp_path: Path, clock: StepClock) -> None:
    """Before: every open made sure of the file's mode with os.close(os.open(path)), and closing any descriptor
    of a file drops all of the process's POSIX locks on it (https://www.sqlite.org/howtocorrupt.html, 2.2). Once
    the daemon's second connection (the delivery thread's) had opened, any other process that opened and closed
    the journal (a CLI, a technician's sqlite3) believed it was the last user, checkpointed and deleted the -wal
    and -shm files; everything the daemon wrote after that went into the deleted WAL and was lost."""
    path = tmp_path / "j.db"
    scan = open_journal(path, clock)  # the daemon: the scan thread's connection ...
    delivery = open_journal(path, clock)  # ... and the delivery thread's, opened later
    scan.record_entry(FIELDS)
    visitor = ("import sys; from entryscan.device.delivery.journal import Journal;"
               "from tests.support import StepClock;"
               "Journal(__import__('pathlib').Path(sys.argv[1]), device='door-1', site='hq', door='main',"
               " max_rows=1000, clock=StepClock()).close()")
    subprocess.run([sys.executable, "-c", visitor, str(path)], check=True, cwd=Path(__file__).parents[2])
    assert path.with_name("j.db-wal").exists(), "the WAL the daemon still writes was deleted under it"
    scan.record_entry(FIELDS)
    delivery.close()
    fresh = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert fresh.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'entry'").fetchone()[0] == 2
    finally:
        fresh.close()
        scan.close()
