"""The reuse records: one-time passes and anti-passback, in the journal's file, pruned only on a trusted clock."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from entryscan.device.access import reuse as reuse_module
from entryscan.device.access.reuse import ReuseStore
from entryscan.device.delivery.journal import Journal
from entryscan.device.errors import ConfigError
from entryscan.device.model import Reason
from tests.support import StepClock

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
KEY = b"s" * 32
DAY = 86400.0


class Door:
    """The policy's read side and the journal's write side on one file, as on a device."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "journal.db"
        self.store = ReuseStore(self.path, key=KEY, retention_s=30 * DAY, legacy=folder / "reuse.db")
        self.journal = Journal(self.path, device="d", site="s", door="m", max_rows=1000, clock=StepClock())

    def admit(self, *, at: dt.datetime = NOW, one_time: bool = False, direction: str = "none",
              subject: str = "subj", token: str = "tok", commit: bool = True, until: dt.datetime | None = None,
              window: float = 600.0, synced: bool = True) -> Reason | None:
        use = self.store.pending(credential_type="signed_pass", token=token, subject=subject, one_time=one_time,
                                 valid_until=until, direction=direction, window_s=window, now=at,  # type: ignore[arg-type]
                                 synced=synced)
        assert use is not None
        reason = self.store.refusal(use)
        if reason is None and commit:
            self.journal.record_entry({"decision": "accept"}, use)
        return reason

    def close(self) -> None:
        self.store.close()
        self.journal.close()


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    d = Door(tmp_path)
    yield d
    d.close()


def test_one_time_is_consumed_once_and_survives_a_restart(tmp_path: Path, door: Door) -> None:
    assert door.admit(one_time=True) is None
    assert door.admit(one_time=True) is Reason.ALREADY_USED
    door.close()
    again = Door(tmp_path)
    assert again.admit(one_time=True, at=NOW + dt.timedelta(days=1)) is Reason.ALREADY_USED
    assert again.admit(one_time=True, token="other") is None
    again.close()


def test_checking_consumes_nothing(door: Door) -> None:
    for _ in range(3):
        assert door.admit(one_time=True, direction="in", commit=False) is None
    assert door.store.counts() == (0, 0)
    assert door.admit(one_time=True, direction="in") is None
    assert door.admit(one_time=True, commit=False) is Reason.ALREADY_USED  # a dry run still reports it


def test_passback_same_direction_within_window(door: Door) -> None:
    assert door.admit(direction="in") is None
    assert door.admit(direction="in", at=NOW + dt.timedelta(seconds=60)) is Reason.PASSBACK
    assert door.admit(direction="in", subject="someone-else") is None
    assert door.admit(direction="out", at=NOW + dt.timedelta(seconds=90)) is None
    assert door.admit(direction="in", at=NOW + dt.timedelta(seconds=120)) is None  # out cleared it
    assert door.admit(direction="in", at=NOW + dt.timedelta(seconds=120 + 601)) is None  # after the window


def test_passback_survives_a_restart_and_a_clock_step_back(tmp_path: Path, door: Door) -> None:
    door.admit(direction="in")
    door.close()
    again = Door(tmp_path)
    assert again.admit(direction="in", at=NOW + dt.timedelta(seconds=10), commit=False) is Reason.PASSBACK
    assert again.admit(direction="in", at=NOW - dt.timedelta(seconds=300), commit=False) is Reason.PASSBACK
    again.close()


def test_note_passage_from_another_door_and_late_events_never_undo_newer_ones(door: Door) -> None:
    door.admit(direction="in")
    assert door.store.note_passage("signed_pass", "subj", "out", NOW + dt.timedelta(seconds=5))
    assert door.admit(direction="in", at=NOW + dt.timedelta(seconds=10)) is None
    # An older "out" delivered late (a peer's backlog) does not clear the newer "in".
    door.store.note_passage("signed_pass", "subj", "out", NOW + dt.timedelta(seconds=7))
    assert door.admit(direction="in", at=NOW + dt.timedelta(seconds=20), commit=False) is Reason.PASSBACK


def test_peer_passages_are_capped(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reuse_module, "MAX_PASSAGES", 50)
    monkeypatch.setattr(reuse_module, "PASSAGE_COUNT_EVERY", 10)
    noted = sum(door.store.note_passage("signed_pass", f"s{i}", "in", NOW) for i in range(500))
    assert noted <= 60 and door.store.counts()[1] <= 60


def test_pruning_bounds_the_store_on_a_synchronised_clock(door: Door) -> None:
    for i in range(20):
        door.admit(one_time=True, token=f"t{i}", until=NOW + dt.timedelta(hours=1))
        door.admit(direction="in", subject=f"s{i}")
    door.admit(one_time=True, token="no-expiry")
    assert door.store.counts() == (21, 20)
    door.store.prune(NOW + dt.timedelta(hours=2), window_s=600)
    assert door.store.counts() == (1, 0)  # expired passes and old passages gone; the unexpiring one kept
    door.store.prune(NOW + dt.timedelta(days=31), window_s=600)
    assert door.store.counts() == (0, 0)  # retention bounds it too


def test_uses_on_an_unsynchronised_clock_prune_nothing_and_stay_undated(door: Door) -> None:
    door.admit(one_time=True, token="today", until=NOW + dt.timedelta(hours=1))
    far = NOW + dt.timedelta(days=3650)
    door.admit(one_time=True, token="untimed", at=far, synced=False)  # a clock ten years ahead
    assert door.store.counts()[0] == 2  # before: the wrong clock pruned "today"
    door.store.prune(NOW, window_s=600)  # synchronised again: "untimed" gets its retention from now
    assert door.admit(one_time=True, token="untimed", commit=False) is Reason.ALREADY_USED
    door.store.prune(NOW + dt.timedelta(days=29), window_s=600)
    assert door.admit(one_time=True, token="untimed", commit=False) is Reason.ALREADY_USED
    door.store.prune(NOW + dt.timedelta(days=31), window_s=600)
    assert door.store.counts()[0] == 0


def test_old_reuse_db_is_migrated_into_the_journal_and_removed(tmp_path: Path) -> None:
    first = Door(tmp_path)
    use = first.store.pending(credential_type="signed_pass", token="old", subject="subj", one_time=True,
                              valid_until=None, direction="in", window_s=600, now=NOW, synced=True)
    first.close()
    assert use is not None and use.used_key is not None and use.passage_key is not None
    legacy = sqlite3.connect(tmp_path / "reuse.db")  # what older firmware wrote
    legacy.executescript("""
        CREATE TABLE used (key BLOB PRIMARY KEY, used_at REAL NOT NULL, keep_until REAL NOT NULL);
        CREATE TABLE passage (key BLOB PRIMARY KEY, direction TEXT NOT NULL, at REAL NOT NULL);""")
    legacy.execute("INSERT INTO used VALUES (?, ?, ?)", (use.used_key, use.at, use.at + 30 * DAY))
    legacy.execute("INSERT INTO passage VALUES (?, 'in', ?)", (use.passage_key, use.at))
    legacy.commit()
    legacy.close()
    again = Door(tmp_path)
    assert not (tmp_path / "reuse.db").exists()
    assert again.admit(one_time=True, token="old", commit=False) is Reason.ALREADY_USED
    assert again.admit(direction="in", at=NOW + dt.timedelta(seconds=5), commit=False) is Reason.PASSBACK
    again.close()


def test_a_journal_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "journal.db").mkdir()
    with pytest.raises(ConfigError, match="journal.path"):
        ReuseStore(tmp_path / "journal.db", key=KEY, retention_s=DAY)


def test_file_is_private_and_holds_no_identifiers(tmp_path: Path, door: Door) -> None:
    door.admit(one_time=True, direction="in", token="TOKEN-123", subject="SUBJECT-456")
    door.close()
    assert stat.S_IMODE(os.stat(tmp_path / "journal.db").st_mode) == 0o600
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"TOKEN-123" not in raw and b"SUBJECT-456" not in raw
