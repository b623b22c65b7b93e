"""List and policy versions each door holds and their age; the stale list rule on age and on the door's
own ``list_stale`` alerts (both stores)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from entryscan.collector.rules import RuleSettings, evaluate
from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.web import api
from tests.support.collector_web import WebUnderTest, logged_in_opener, request
from tests.support.events import TOPIC, alert

SETTINGS = RuleSettings(stale_list_s=24 * 3600)


def state(store: StoreBase, device: str = "door-1", **doc: object) -> None:
    store.ingest(f"entryscan/hq/{device}/state", json.dumps(doc).encode())


def held(store: StoreBase) -> dict[tuple[str, str], dict[str, object]]:
    return {(v["kind"], v["name"]): v for v in store.held_versions()}


def epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def stale_targets(store: StoreBase) -> set[str]:
    return {a["target"] for a in store.alerts(open_only=True) if a["rule"] == "stale_list"}


def test_versions_are_kept_with_since_and_issue_time(store: StoreBase) -> None:
    issued = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    state(store, policy_version=3, lists={"revoked": 5, "staff": 2}, lists_issued={"revoked": epoch(issued)})
    first = held(store)
    assert first[("policy", "")]["version"] == "3" and first[("list", "revoked")]["version"] == "5"
    assert first[("list", "revoked")]["issued_at"] == "2026-11-01T00:00:00.000Z"
    assert first[("list", "staff")]["issued_at"] is None
    state(store, policy_version=3, lists={"revoked": 5, "staff": 2}, clock_synced=True)  # the same versions again
    assert held(store)[("list", "revoked")]["since"] == first[("list", "revoked")]["since"]
    state(store, policy_version=4, lists={"revoked": 6})  # staff is no longer held
    again = held(store)
    assert set(again) == {("policy", ""), ("list", "revoked")}
    assert again[("list", "revoked")]["version"] == "6" and again[("policy", "")]["version"] == "4"
    assert again[("list", "revoked")]["since"] >= first[("list", "revoked")]["since"]
    state(store, stopped=True)  # a document without lists or policy says nothing about them
    assert set(held(store)) == {("policy", ""), ("list", "revoked")}


def test_hostile_version_values_are_skipped(store: StoreBase) -> None:
    state(store, policy_version={"x": 1}, lists={"BAD NAME": 1, "ok": "7", "neg": -1, "good": 2},
          lists_issued={"good": 10**30})
    assert set(held(store)) == {("list", "good")} and held(store)[("list", "good")]["issued_at"] is None
    state(store, lists=["not", "a", "map"])
    assert store.devices()[0]["status"] == "unknown"  # stored, nothing crashed


def test_devices_view_and_versions_view_carry_them(store: StoreBase) -> None:
    state(store, policy_version=3, lists={"revoked": 5, "staff": 2},
          lists_issued={"revoked": epoch(dt.datetime(2026, 11, 1, tzinfo=dt.UTC))})
    (d,) = store.devices()
    assert d["policy_version"] == "3" and d["list_versions"] == {"revoked": 5, "staff": 2}
    assert d["oldest_list_at"] == "2026-11-01T00:00:00.000Z" and d["policy_since"]
    rows = store._rows("SELECT site, device, policy_version, list_versions FROM devices")
    assert rows[0][:3] == ("hq", "door-1", "3") and json.loads(rows[0][3]) == {"revoked": 5, "staff": 2}
    rows = store._rows("SELECT kind, name, version FROM device_versions ORDER BY kind, name")
    assert rows == [("list", "revoked", "5"), ("list", "staff", "2"), ("policy", "", "3")]


def test_fleet_api_and_device_page_show_versions_and_age(tmp_path: Path, store: StoreBase) -> None:
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)
    state(store, policy_version=3, lists={"revoked": 5}, lists_issued={"revoked": epoch(issued)})
    (d,) = api.fleet(store)["devices"]
    assert {"site", "device", "door", "status", "entries", "accepts", "denies", "missing", "last_entry_ts",
            "open_alerts"} <= set(d)
    assert d["policy_version"] == "3" and 0 <= d["policy_age_s"] < 600
    (lst,) = d["lists"]
    assert (lst["name"], lst["version"]) == ("revoked", 5) and 30 * 3600 - 5 <= lst["age_s"] < 31 * 3600
    web = WebUnderTest(tmp_path, store)
    try:
        status, _, body = request(f"{web.base}/device/hq/door-1", opener=logged_in_opener(web.base))
    finally:
        web.stop()
    page = body.decode()
    assert status == 200 and 'id="versions-body"' in page and "revoked" in page and "30 h" in page


def test_list_older_than_n_hours_raises_and_a_newer_version_clears(store: StoreBase) -> None:
    now = dt.datetime.now(dt.UTC)
    state(store, lists={"revoked": 5}, lists_issued={"revoked": epoch(now - dt.timedelta(hours=30))})
    found = evaluate(store, {}, SETTINGS, now)
    assert stale_targets(store) == {"door-1"} and "revoked 5 is 30 h old" in found["stale_list"][0][2]
    state(store, lists={"revoked": 6}, lists_issued={"revoked": epoch(now - dt.timedelta(hours=1))})
    evaluate(store, {}, SETTINGS, now)
    assert stale_targets(store) == set()


def test_list_age_without_issue_time_counts_from_when_the_door_held_it(store: StoreBase) -> None:
    now = dt.datetime.now(dt.UTC)
    state(store, lists={"revoked": 5})
    evaluate(store, {}, SETTINGS, now + dt.timedelta(hours=23))
    assert stale_targets(store) == set()
    found = evaluate(store, {}, SETTINGS, now + dt.timedelta(hours=25))
    assert stale_targets(store) == {"door-1"} and "held since" in found["stale_list"][0][2]


def test_door_reported_list_stale_raises_and_a_newer_version_clears(store: StoreBase) -> None:
    now = dt.datetime.now(dt.UTC)
    state(store, lists={"revoked": 5}, lists_issued={"revoked": epoch(now)})
    store.ingest(f"{TOPIC}/alert", alert("list_stale", name="revoked", version=5, age_s=700000))
    found = evaluate(store, {}, SETTINGS, now)
    assert stale_targets(store) == {"door-1"} and "reported stale by the door" in found["stale_list"][0][2]
    state(store, lists={"revoked": 5}, lists_issued={"revoked": epoch(now)}, clock_synced=True)
    evaluate(store, {}, SETTINGS, now)
    assert stale_targets(store) == {"door-1"}  # same version: still stale
    state(store, lists={"revoked": 6}, lists_issued={"revoked": epoch(now)})
    evaluate(store, {}, SETTINGS, now)
    assert stale_targets(store) == set()


def test_door_reported_stale_list_from_older_firmware_clears_on_a_later_version(store: StoreBase) -> None:
    now = dt.datetime.now(dt.UTC)
    store.ingest(f"{TOPIC}/alert", alert("list_stale", name="revoked", age_s=None))  # expected, never received
    evaluate(store, {}, SETTINGS, now)
    assert stale_targets(store) == {"door-1"}
    state(store, lists={"revoked": 1}, lists_issued={"revoked": epoch(now)})
    evaluate(store, {}, SETTINGS, now)
    assert stale_targets(store) == set()


def test_a_door_behind_another_door_is_still_raised(store: StoreBase) -> None:
    state(store, "door-2", lists={"revoked": 7})
    state(store, lists={"revoked": 5})
    found = evaluate(store, {}, SETTINGS)
    assert stale_targets(store) == {"door-1"} and "behind the site" in found["stale_list"][0][2]


def test_a_database_before_versions_is_upgraded_in_place(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from entryscan.collector.store import postgres, schema, sqlite

    monkeypatch.setattr(sqlite, "SQLITE_MIGRATIONS", schema.SQLITE_MIGRATIONS[:2])
    monkeypatch.setattr(postgres, "POSTGRES_MIGRATIONS", schema.POSTGRES_MIGRATIONS[:1])
    old = open_store(db_url)
    old.ingest(f"{TOPIC}/status", b"online")
    old._exec("UPDATE device_status SET state = ?", (json.dumps({"lists": {"revoked": 1}}),))
    old.close()
    monkeypatch.undo()
    new = open_store(db_url)
    try:
        latest = len(schema.SQLITE_MIGRATIONS if isinstance(new, sqlite.SqliteStore) else schema.POSTGRES_MIGRATIONS)
        assert new.schema_version() == latest  # type: ignore[attr-defined]
        (d,) = new.devices()
        assert d["state"]["lists"] == {"revoked": 1} and d["list_versions"] == {}  # known from the next state on
        state(new, policy_version=2, lists={"revoked": 1})
        assert new.devices()[0]["list_versions"] == {"revoked": 1}
    finally:
        new.close()
