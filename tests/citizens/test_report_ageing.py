"""Closed citizens' reports (and their photos and history) are deleted ``--keep-closed-days`` after closing.

Before: nothing ever deleted a report; past ``max_reports`` new ones were refused (503) for ever, the
``report_storage`` alert stayed raised, and a closed report's photo was kept however old.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from entryscan.collector.citizens import ReportAgeing, age_reports
from entryscan.collector.cli import parse_args
from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.store.reports import NewReport
from entryscan.collector.store.validate import iso
from entryscan.collector.web.auth import hash_password
from tests.support import wait_for
from tests.support.citizens import jpeg_with_gps
from tests.support.mosquitto import free_port

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def _file(store: StoreBase, body: str, photo: bytes = b"") -> int:
    return store.file_report(NewReport("hq", "cho", "other", body, "", "192.0.2.1", 1, photo,
                                       "image/jpeg" if photo else ""))[0]


def _days_ago(store: StoreBase, report_id: int, days: int, column: str) -> None:
    store._exec(f"UPDATE citizen_reports SET {column} = ? WHERE id = ?",
                (iso(NOW - dt.timedelta(days=days)), report_id))


def _counts(store: StoreBase, report_id: int) -> tuple[int, int, int]:
    return tuple(int(store._rows(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (report_id,))[0][0])
                 for table, column in (("citizen_reports", "id"), ("report_photos", "report_id"),
                                       ("report_events", "report_id")))  # type: ignore[return-value]


def _reports(store: StoreBase, photo: bytes) -> dict[str, int]:
    """One report in each state, all of them filed long ago; two closed, one long ago and one recently."""
    ids = {name: _file(store, name, photo) for name in ("old_closed", "recent_closed", "received", "assigned",
                                                         "answered")}
    store.assign_report(ids["assigned"], "Phường 1", "ana")
    store.answer_report(ids["answered"], "fixed", "ana")
    for name in ("old_closed", "recent_closed"):
        store.assign_report(ids[name], "Phường 1", "ana")
        assert store.close_report(ids[name], "ana")
    for report_id in ids.values():
        _days_ago(store, report_id, 1000, "created_at")
    _days_ago(store, ids["old_closed"], 366, "closed_at")
    _days_ago(store, ids["recent_closed"], 364, "closed_at")
    return ids


def test_only_reports_closed_longer_ago_than_kept_go_with_their_photo_and_history(
        store: StoreBase, caplog: pytest.LogCaptureFixture) -> None:
    photo = jpeg_with_gps((64, 48))
    ids = _reports(store, photo)
    assert _counts(store, ids["old_closed"]) == (1, 1, 3)  # received, assigned, closed
    with caplog.at_level(logging.INFO, logger="collector"):
        assert age_reports(store, 365, NOW) == 1
    assert _counts(store, ids["old_closed"]) == (0, 0, 0)
    for name in ("recent_closed", "received", "assigned", "answered"):
        assert _counts(store, ids[name])[:2] == (1, 1), name
    assert store.report_usage() == (4, 4 * len(photo))
    lines = [r.getMessage() for r in caplog.records if "citizens' reports closed before" in r.getMessage()]
    assert lines == [("collector: deleted 1 citizens' reports closed before 2025-12-03T12:00:00.000Z "
                     "(--keep-closed-days 365)")]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="collector"):
        assert age_reports(store, 365, NOW) == 0  # nothing more to delete: no line
    assert not [r for r in caplog.records if "citizens' reports" in r.getMessage()]
    assert age_reports(store, 30, NOW) == 1  # a shorter keep takes the other closed one, never an open one
    assert store.report_usage()[0] == 3 and {r["status"] for r in store.reports()} == {"received", "assigned",
                                                                                       "answered"}


def test_a_large_backlog_is_deleted_in_bounded_transactions(store: StoreBase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("entryscan.collector.citizens.AGE_BATCH", 4)
    seen: list[int] = []
    delete = store.delete_closed_reports
    monkeypatch.setattr(store, "delete_closed_reports", lambda before, limit: seen.append(limit) or delete(before,
                                                                                                         limit))
    for i in range(10):
        report_id = _file(store, f"r{i}")
        store.close_report(report_id)
        _days_ago(store, report_id, 400, "closed_at")
    assert age_reports(store, 365, NOW) == 10 and seen == [4, 4, 4] and store.report_usage()[0] == 0


def test_the_ageing_runs_at_most_once_an_hour_and_survives_a_failing_store(
        store: StoreBase, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    calls: list[str] = []
    ageing = ReportAgeing(store, 365, clock=lambda: clock[0])
    monkeypatch.setattr(store, "delete_closed_reports", lambda before, limit: calls.append(before) or 0)
    ageing()
    clock[0] = 3599.0
    ageing()
    assert len(calls) == 1
    clock[0] = 3600.0

    def broken(before: str, limit: int) -> int:
        raise OSError("database went away")

    monkeypatch.setattr(store, "delete_closed_reports", broken)
    ageing()  # logged, never raised into the rules loop


@pytest.mark.parametrize("bad", ["0", "-1", "36501", "a year"])
def test_keep_closed_days_is_checked(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args(["--http", "127.0.0.1:0"]).keep_closed_days == 365
    with pytest.raises(SystemExit):
        parse_args(["--http", "127.0.0.1:0", "--keep-closed-days", bad])
    assert "--keep-closed-days" in capsys.readouterr().err


def test_the_collector_process_ages_its_store_as_it_starts(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    try:
        old = _file(store, "old")
        store.close_report(old)
        _days_ago(store, old, 40, "closed_at")
        kept = _file(store, "open")
    finally:
        store.close()
    (tmp_path / "users").write_text(f"op:{hash_password('a long password')}\n")
    proc = subprocess.Popen([sys.executable, "-m", "entryscan.collector", "serve", "--db", db_url, "--http",
                             f"127.0.0.1:{free_port()}", "--users", str(tmp_path / "users"), "--keep-closed-days",
                             "30", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        store = open_store(db_url)
        try:
            assert wait_for(lambda: [r["id"] for r in store.reports()] == [kept], timeout=30)
        finally:
            store.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "deleted 1 citizens' reports closed before" in err, err[-2000:]
