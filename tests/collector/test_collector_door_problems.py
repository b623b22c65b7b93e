"""The doors' own open problems in /api/alerts, beside the rule alerts (``source``), on both stores."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from entryscan.collector.doorproblems import door_problems
from entryscan.collector.rules import RuleSettings, evaluate
from entryscan.collector.store import StoreBase
from tests.support.collector_web import WebUnderTest, api
from tests.support.events import TOPIC, alert


def door_alert(store: StoreBase, kind: str, minute: int, **kw: object) -> None:
    ts = dt.datetime(2026, 11, 28, 18, minute, tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    store.ingest(f"{TOPIC}/alert", alert(kind, ts=ts, **kw))


def open_kinds(store: StoreBase) -> set[str]:
    return {p["rule"] for p in door_problems(store, open_only=True)}


def test_open_door_problems_are_in_the_alerts_api_with_their_source(tmp_path: Path, store: StoreBase) -> None:
    store.ingest(f"{TOPIC}/status", b"offline")
    evaluate(store, {}, RuleSettings(offline_s=0), dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
    door_alert(store, "camera_fault", 0, error="CameraError", detail="no frames")
    door_alert(store, "tamper", 1, lockout=True)
    web = WebUnderTest(tmp_path, store)
    try:
        rows = api(web.base, "/api/alerts?open=1")["alerts"]
        fleet = api(web.base, "/api/fleet")["devices"]
    finally:
        web.stop()
    by_source = {(r["source"], r["rule"]) for r in rows}
    assert by_source == {("rule", "device_offline"), ("door", "camera_fault"), ("door", "tamper")}
    camera = next(r for r in rows if r["rule"] == "camera_fault")
    assert camera["target"] == "door-1" and camera["open"] and "error=CameraError" in camera["detail"]
    assert camera["raised_at"] == "2026-11-28T18:00:00.000Z" and camera["cleared_at"] is None
    assert fleet[0]["door_problems"] == 2 and fleet[0]["open_alerts"] == 1


def test_a_clearing_alert_closes_the_problem(store: StoreBase) -> None:
    door_alert(store, "camera_fault", 0)
    door_alert(store, "storage_fault", 1, error="disk I/O error")
    door_alert(store, "camera_recovered", 5)
    assert open_kinds(store) == {"storage_fault"}
    door_alert(store, "storage_recovered", 6)
    assert open_kinds(store) == set()
    closed = {p["rule"]: p for p in door_problems(store)}
    assert closed["camera_fault"]["cleared_at"] == "2026-11-28T18:05:00.000Z" and not closed["camera_fault"]["open"]
    door_alert(store, "camera_fault", 10)  # a new fault after the recovery is open again
    assert open_kinds(store) == {"camera_fault"}


def test_a_later_state_without_the_condition_closes_it(store: StoreBase) -> None:
    door_alert(store, "tamper", 0)
    door_alert(store, "camera_fault", 1)
    assert open_kinds(store) == {"tamper", "camera_fault"}
    # The door restarted: its new process never saw the fault, so no camera_recovered comes.
    time.sleep(0.01)  # received in a later millisecond than the alerts (a state of the same instant does not close)
    store.ingest(f"{TOPIC}/state", json.dumps({"camera": "ok", "tamper": True}).encode())
    assert open_kinds(store) == {"tamper"}
    store.ingest(f"{TOPIC}/state", json.dumps({"camera": "ok", "tamper": False}).encode())
    assert open_kinds(store) == set()


def test_a_tls_error_is_listed_for_a_day(store: StoreBase) -> None:
    door_alert(store, "mqtt_tls_error", 0, reason="server_certificate_expired", host="broker", port=8883)
    (row,) = door_problems(store, open_only=True)
    assert row["rule"] == "mqtt_tls_error" and "reason=server_certificate_expired" in row["detail"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    assert door_problems(store, later, open_only=True) == []
    assert door_problems(store, later)[0]["cleared_at"] is not None


def test_hostile_alert_payloads_do_not_break_the_list(store: StoreBase) -> None:
    door_alert(store, "camera_fault", 0, detail="<script>x</script>" * 100, error=["not", "text"])
    (row,) = door_problems(store, open_only=True)
    assert len(row["detail"]) <= 300
