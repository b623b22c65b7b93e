"""The reuse store: one-time passes and anti-passback, persisted, pruned, dry-run safe."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from entryscan.device.access.reuse import ReuseStore
from entryscan.device.model import Reason

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
KEY = b"s" * 32
DAY = 86400.0


def open_store(tmp_path: Path) -> ReuseStore:
    return ReuseStore(tmp_path / "reuse.db", key=KEY, retention_s=30 * DAY)


def admit(store: ReuseStore, *, at: dt.datetime = NOW, one_time: bool = False, direction: str = "none",
          subject: str = "subj", token: str = "tok", commit: bool = True, until: dt.datetime | None = None,
          window: float = 600.0) -> Reason | None:
    return store.admit(credential_type="signed_pass", token=token, subject=subject, one_time=one_time,
                       valid_until=until, direction=direction, window_s=window, now=at,  # type: ignore[arg-type]
                       commit=commit)


def test_one_time_is_consumed_once_and_survives_a_restart(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    assert admit(s, one_time=True) is None
    assert admit(s, one_time=True) is Reason.ALREADY_USED
    s.close()
    again = open_store(tmp_path)
    assert admit(again, one_time=True, at=NOW + dt.timedelta(days=1)) is Reason.ALREADY_USED
    assert admit(again, one_time=True, token="other") is None


def test_dry_run_consumes_nothing(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    for _ in range(3):
        assert admit(s, one_time=True, direction="in", commit=False) is None
    assert s.counts() == (0, 0)
    assert admit(s, one_time=True, direction="in") is None
    assert admit(s, one_time=True, commit=False) is Reason.ALREADY_USED  # a dry run still reports it


def test_passback_same_direction_within_window(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    assert admit(s, direction="in") is None
    assert admit(s, direction="in", at=NOW + dt.timedelta(seconds=60)) is Reason.PASSBACK
    assert admit(s, direction="in", subject="someone-else") is None
    assert admit(s, direction="out", at=NOW + dt.timedelta(seconds=90)) is None
    assert admit(s, direction="in", at=NOW + dt.timedelta(seconds=120)) is None  # out cleared it
    # After the window a second "in" is allowed again.
    assert admit(s, direction="in", at=NOW + dt.timedelta(seconds=120 + 601)) is None


def test_passback_survives_a_restart_and_a_clock_step_back(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    admit(s, direction="in")
    s.close()
    again = open_store(tmp_path)
    assert admit(again, direction="in", at=NOW + dt.timedelta(seconds=10)) is Reason.PASSBACK
    assert admit(again, direction="in", at=NOW - dt.timedelta(seconds=300)) is Reason.PASSBACK


def test_note_passage_from_another_door(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    admit(s, direction="in")
    s.note_passage("signed_pass", "subj", "out", NOW + dt.timedelta(seconds=5))
    assert admit(s, direction="in", at=NOW + dt.timedelta(seconds=10)) is None


def test_pruning_bounds_the_store(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    for i in range(20):
        admit(s, one_time=True, token=f"t{i}", until=NOW + dt.timedelta(hours=1))
        admit(s, direction="in", subject=f"s{i}")
    admit(s, one_time=True, token="no-expiry")
    assert s.counts() == (21, 20)
    s.prune(NOW + dt.timedelta(hours=2), window_s=600)
    assert s.counts() == (1, 0)  # expired passes and old passages gone; the unexpiring one kept
    s.prune(NOW + dt.timedelta(days=31), window_s=600)
    assert s.counts() == (0, 0)  # retention bounds it too


def test_file_is_private_and_holds_no_identifiers(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    admit(s, one_time=True, direction="in", token="TOKEN-123", subject="SUBJECT-456")
    s.close()
    assert stat.S_IMODE(os.stat(tmp_path / "reuse.db").st_mode) == 0o600
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"TOKEN-123" not in raw and b"SUBJECT-456" not in raw
