"""The whole daemon as a process: frames in, decisions journaled, entries delivered to a real broker."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import MosquittoFactory
from tests.support import wait_for
from tests.support.door import Door, Subscriber, frames_dir
from tests.support.mosquitto import free_port

FIRST_VISIT = ["000-empty.png", "002-staff-0001.png", "003-staff-0001-still.png", "004-staff-0001-still.png",
               "005-empty.png", "006-visitor-unknown.png", "008-staff-0002.png", "009-empty.png",
               "010-contractor-unknown.png"]
FIRST_EXPECTED = [("accept", "ok"), ("deny", "not_allowed"), ("accept", "ok"), ("deny", "not_allowed")]
SECOND_VISIT = ["012-staff-0003.png", "013-empty.png", "006-visitor-unknown.png"]
SECOND_EXPECTED = [("accept", "ok"), ("deny", "not_allowed")]


def outcomes(events: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(e["decision"], e["reason"]) for e in sorted(events, key=lambda e: int(e["seq"]))]  # type: ignore[call-overload]


def test_frames_produce_exactly_the_expected_events(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory()
    sub = Subscriber(broker.url)
    door = Door(tmp_path / "door", broker.url, frames_dir(tmp_path / "frames", FIRST_VISIT)).start()
    try:
        assert wait_for(lambda: len(sub.entries()) >= 4, timeout=30), door.output
        assert wait_for(lambda: door.journal_rows() == [], timeout=10)
    finally:
        assert door.stop() == 0
        sub.close()
    assert any("starting: hq/door-1 (door main)" in line for line in door.output)
    events = sub.entries()
    assert outcomes(events) == FIRST_EXPECTED  # STAFF-0001 held in view 3 frames: one scan
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    for e in events:
        assert {"event_id", "seq", "ts", "device", "site", "door", "decision", "reason", "credential_type",
                "subject", "policy_version", "clock_synced"} <= e.keys()
        assert (e["device"], e["site"], e["door"], e["credential_type"]) == ("door-1", "hq", "main", "badge")
        assert "STAFF" not in str(e) and "VISITOR" not in str(e)  # raw payloads never leave the device


def test_nothing_decided_is_lost_across_broker_outage_and_sigkill(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    door = Door(tmp_path / "door", url, frames_dir(tmp_path / "f1", FIRST_VISIT)).start()
    assert wait_for(lambda: len(door.journal_rows()) == 4, timeout=30), door.output
    decided_offline = door.journal_rows()
    door.kill()  # SIGKILL while the broker is still down

    broker = mosquitto_factory(port=port)
    sub = Subscriber(broker.url)
    door.write_config(url, frames_dir(tmp_path / "f2", SECOND_VISIT))
    door.start()
    try:
        assert wait_for(lambda: len(sub.unique_by_event_id()) >= 6, timeout=40), door.output
        assert wait_for(lambda: door.journal_rows() == [], timeout=10)
    finally:
        door.stop()
        sub.close()
    delivered = sub.unique_by_event_id()
    assert {e["event_id"] for e in decided_offline} <= delivered.keys()
    assert sorted(int(e["seq"]) for e in delivered.values()) == [1, 2, 3, 4, 5, 6]
    assert outcomes(list(delivered.values())) == FIRST_EXPECTED + SECOND_EXPECTED
    for before in decided_offline:  # re-delivery carries the identical event
        assert delivered[str(before["event_id"])] == before


def test_broker_rejection_keeps_the_row(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    acl = "topic readwrite entryscan/hq/door-1/status\ntopic readwrite entryscan/hq/door-1/state\n" \
          "topic readwrite entryscan/hq/door-1/alert\n"
    broker = mosquitto_factory(acl=acl)
    alerts = Subscriber(broker.url, topic="entryscan/hq/door-1/alert", client_id="alert-watch")
    door = Door(tmp_path / "door", broker.url, frames_dir(tmp_path / "f", ["002-staff-0001.png"])).start()
    try:
        assert wait_for(lambda: any(r.get("attempts", 0) for r in rejected_rows(door)), timeout=30), door.output
        assert wait_for(lambda: any(b"publish_rejected" in raw for _, raw, _ in alerts.raw), timeout=10)
    finally:
        door.stop()
        alerts.close()
    rows = door.journal_rows()
    assert len(rows) == 1 and rows[0]["decision"] == "accept"  # kept, not dropped


def rejected_rows(door: Door) -> list[dict[str, object]]:
    import sqlite3

    path = door.workdir / "journal.db"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM outbox WHERE kind = 'entry'")]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def test_clean_stop_says_offline_with_a_stopped_state_and_exits_zero(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    """Home Assistant knows only online/offline: a clean stop says offline (it said 'stopped', which HA ignored,
    leaving the door available forever); the retained state says stopped: true, telling it from a crash."""
    broker = mosquitto_factory()
    sub = Subscriber(broker.url, topic="entryscan/hq/door-1/+", client_id="status-watch")
    door = Door(tmp_path / "door", broker.url, frames_dir(tmp_path / "f", ["000-empty.png"])).start()

    def last(leaf: str) -> bytes:
        return next((p for t, p, _ in reversed(sub.raw) if t.endswith("/" + leaf)), b"")

    try:
        assert wait_for(lambda: last("status") == b"online" and bool(last("state")), timeout=20), door.output
        assert json.loads(last("state"))["stopped"] is False
    finally:
        assert door.stop() == 0
    assert wait_for(lambda: last("status") == b"offline", timeout=5)
    assert json.loads(last("state"))["stopped"] is True
    retained = Subscriber(broker.url, topic="entryscan/hq/door-1/status", client_id="late-watch")
    assert wait_for(lambda: bool(retained.raw), timeout=5) and retained.raw[-1][1] == b"offline"
    sub.close()
    retained.close()
