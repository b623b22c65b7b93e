"""Every fleet rule raises its alert and clears it when the cause is gone (both stores)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from entryscan.collector.rules import RuleSettings, evaluate
from entryscan.collector.site import SiteInfo, load_site, parse_opening_hours, time_zone
from entryscan.collector.store import StoreBase
from entryscan.collector.store.validate import iso
from entryscan.device.errors import ConfigError
from tests.support.events import TOPIC, alert, entry

SETTINGS = RuleSettings(offline_s=600, idle_s=1800, gap_s=3600, camera_faults=3, camera_window_s=3600)
MANIFEST = """
[site]
format = 1
site = "hq"
name = "Trường THCS Nguyễn Du"

[[venues]]
id = "canteen"
name = "Căng tin"
address = "1 Lê Lợi"
lat = 10.5
lon = 106.5
opening_hours = "Mon-Fri 07:30-17:00; Sat 08:00-12:00"
version = 1

[[devices]]
id = "door-1"
door = "main"
venue = "canteen"
"""
# A Wednesday, 10:00 in Ho Chi Minh City (UTC+7).
WED_10 = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def sites(tmp_path: Path) -> dict[str, SiteInfo]:
    (tmp_path / "site.toml").write_text(MANIFEST, encoding="utf-8")
    return {"hq": load_site(tmp_path, time_zone("Asia/Ho_Chi_Minh"))}


def open_rules(store: StoreBase) -> set[tuple[str, str]]:
    return {(a["rule"], a["target"]) for a in store.alerts(open_only=True)}


def state(store: StoreBase, **doc: object) -> None:
    store.ingest(f"{TOPIC}/state", json.dumps(doc).encode())


def test_opening_hours() -> None:
    hours = parse_opening_hours("Mon-Fri 07:30-17:00; Sat 08:00-12:00, 14:00-16:00; Sun-Mon 20:00-21:00")
    wed = dt.datetime(2026, 11, 25, 10, 0)
    assert hours.open_since(wed) == wed.replace(hour=7, minute=30)
    assert hours.open_since(wed.replace(hour=17)) is None
    assert hours.open_since(dt.datetime(2026, 11, 28, 15, 0)) == dt.datetime(2026, 11, 28, 14, 0)
    assert hours.open_since(dt.datetime(2026, 11, 29, 20, 30)) is not None  # Sunday (wrapping range)
    for bad in ("Mon-Fri 7-17", "Someday 08:00-12:00", "Mon 12:00-08:00", "Mon 08:00-25:00"):
        with pytest.raises(ConfigError):
            parse_opening_hours(bad)


def test_device_offline_raises_after_n_minutes_and_clears(store: StoreBase) -> None:
    now = dt.datetime.now(dt.UTC)
    store.ingest(f"{TOPIC}/status", b"offline")
    evaluate(store, {}, SETTINGS, now + dt.timedelta(minutes=5))
    assert open_rules(store) == set()
    found = evaluate(store, {}, SETTINGS, now + dt.timedelta(minutes=11))
    assert ("device_offline", "door-1") in open_rules(store)
    assert "connection lost" in found["device_offline"][0][2]
    store.ingest(f"{TOPIC}/status", b"online")
    evaluate(store, {}, SETTINGS, now + dt.timedelta(minutes=12))
    assert ("device_offline", "door-1") not in open_rules(store)


def test_device_offline_tells_a_clean_stop_from_a_crash(store: StoreBase) -> None:
    state(store, stopped=True, clock_synced=True)
    store.ingest(f"{TOPIC}/status", b"offline")
    found = evaluate(store, {}, SETTINGS, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11))
    assert "stopped cleanly" in found["device_offline"][0][2]


def test_venue_without_scans_in_opening_hours_raises_and_clears(store: StoreBase,
                                                                 sites: dict[str, SiteInfo]) -> None:
    store.ingest(f"{TOPIC}/entry", entry(1, ts=iso(WED_10 - dt.timedelta(hours=1))))
    evaluate(store, sites, SETTINGS, WED_10)
    assert ("venue_idle", "canteen") in open_rules(store)
    store.ingest(f"{TOPIC}/entry", entry(2, ts=iso(WED_10 - dt.timedelta(minutes=1))))
    evaluate(store, sites, SETTINGS, WED_10)
    assert ("venue_idle", "canteen") not in open_rules(store)


def test_venue_idle_not_raised_when_closed(store: StoreBase, sites: dict[str, SiteInfo]) -> None:
    sunday = WED_10 + dt.timedelta(days=4)
    evaluate(store, sites, SETTINGS, sunday)
    assert ("venue_idle", "canteen") not in open_rules(store)
    evaluate(store, sites, SETTINGS, WED_10.replace(hour=0, minute=45))  # 07:45 local: open only 15 min
    assert ("venue_idle", "canteen") not in open_rules(store)


def test_stale_list_raises_and_clears(store: StoreBase) -> None:
    now = dt.datetime.now(dt.UTC)
    store.ingest("entryscan/hq/door-2/state", json.dumps({"lists": {"revoked": 7}}).encode())
    state(store, lists={"revoked": 5})
    evaluate(store, {}, SETTINGS, now)
    assert open_rules(store) == {("stale_list", "door-1")}
    state(store, lists={"revoked": 7})
    evaluate(store, {}, SETTINGS, now)
    assert open_rules(store) == set()


def test_repeated_camera_faults_raise_and_clear(store: StoreBase) -> None:
    ts = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)
    for minute in (0, 10):
        store.ingest(f"{TOPIC}/alert", alert("camera_fault", ts=iso(ts + dt.timedelta(minutes=minute))))
    evaluate(store, {}, SETTINGS, ts + dt.timedelta(minutes=30))
    assert ("camera_faults", "door-1") not in open_rules(store)
    store.ingest(f"{TOPIC}/alert", alert("camera_fault", ts=iso(ts + dt.timedelta(minutes=20))))
    evaluate(store, {}, SETTINGS, ts + dt.timedelta(minutes=30))
    assert ("camera_faults", "door-1") in open_rules(store)
    evaluate(store, {}, SETTINGS, ts + dt.timedelta(minutes=65))  # the first fault left the window
    assert ("camera_faults", "door-1") not in open_rules(store)


def test_unsynced_clock_raises_and_clears(store: StoreBase) -> None:
    store.ingest(f"{TOPIC}/status", b"online")
    state(store, clock_synced=False)
    evaluate(store, {}, SETTINGS)
    assert open_rules(store) == {("clock_unsynced", "door-1")}
    state(store, clock_synced=True)
    evaluate(store, {}, SETTINGS)
    assert open_rules(store) == set()


def test_gap_that_does_not_heal_raises_and_clears_when_it_heals(store: StoreBase) -> None:
    now = dt.datetime.now(dt.UTC)
    inc = "d" * 32
    for seq in (1, 3):
        store.ingest(f"{TOPIC}/entry", entry(seq, incarnation=inc))
    evaluate(store, {}, SETTINGS, now + dt.timedelta(minutes=30))
    assert open_rules(store) == set()  # young gaps heal on their own (late delivery)
    found = evaluate(store, {}, SETTINGS, now + dt.timedelta(minutes=61))
    assert open_rules(store) == {("gap_unhealed", f"door-1/{inc}")}
    assert found["gap_unhealed"][0][2].startswith("1 decisions missing")
    store.ingest(f"{TOPIC}/entry", entry(2, incarnation=inc))
    evaluate(store, {}, SETTINGS, now + dt.timedelta(minutes=62))
    assert open_rules(store) == set()


def test_venue_with_open_reports_raises_and_clears(store: StoreBase) -> None:
    rid = store.add_report("hq", "canteen", "The QR board is covered", "", "127.0.0.1")
    evaluate(store, {}, SETTINGS)
    assert open_rules(store) == {("venue_reports", "canteen")}
    store.close_report(rid)
    evaluate(store, {}, SETTINGS)
    assert open_rules(store) == set()


def test_compliance_for_a_day(store: StoreBase, sites: dict[str, SiteInfo]) -> None:
    from entryscan.collector.compliance import venue_day

    wed = dt.date(2026, 11, 25)  # open 07:30-17:00 local (UTC+7): 00:30-10:00 UTC
    for seq, hhmm in enumerate(["00:10", "01:00", "01:30", "05:30", "10:30"], 1):  # UTC
        store.ingest(f"{TOPIC}/entry", entry(seq, ts=f"2026-11-25T{hhmm}:00.000Z"))
    day = venue_day(store, sites["hq"], "canteen", wed, now=dt.datetime(2026, 11, 26, tzinfo=dt.UTC))
    assert day["entries"] == 3  # 00:10 is before opening, 10:30 after closing
    assert day["longest_idle_min"] == 270 and day["longest_idle"] == "4 h 30 min"  # 05:30 -> 10:00 UTC
    sunday = venue_day(store, sites["hq"], "canteen", dt.date(2026, 11, 29))
    assert (sunday["entries"], sunday["longest_idle"]) == (0, "closed")


def _bulk_reports(store: StoreBase, n: int, start: int = 0) -> None:
    """``n`` stored reports in one statement (a flood's worth: filing 90,000 one by one takes minutes)."""
    store._exec(
        "WITH RECURSIVE k(i) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT i + 1 FROM k WHERE i < ?) "
        "INSERT INTO citizen_reports(site, venue, body, contact, client, created_at, receipt) "
        "SELECT 'hq', 'canteen', 'flood', '', '10.0.0.1', ?, 'FLOOD' || CAST(i AS TEXT) FROM k",
        (start, start + n - 1, iso(WED_10)))


def test_report_storage_raises_near_the_caps_and_clears_below(store: StoreBase) -> None:
    """From 90 % of a cap (100,000 reports, 2 GiB of photos) the alert is open; below it, cleared."""
    from entryscan.collector.citizens import DEFAULT_LIMITS

    def storage() -> dict[str, str]:
        evaluate(store, {}, SETTINGS, WED_10)
        return {a["target"]: a["detail"] for a in store.alerts(open_only=True) if a["rule"] == "report_storage"}

    assert storage() == {}
    _bulk_reports(store, 89_999)
    assert store.report_usage()[0] == 89_999 and storage() == {}  # one short of 90 %
    store.add_report("hq", "canteen", "the one that reaches 90 %", "", "127.0.0.1")
    assert storage() == {"reports": "90000 of 100000 reports stored (90%); at the cap new ones are refused"}
    store._exec("DELETE FROM citizen_reports WHERE receipt LIKE 'FLOOD%'")
    assert storage() == {}  # cleared once the store is below the cap again (reports ageing out, say)
    photos = int(0.95 * DEFAULT_LIMITS.max_photo_bytes)  # the sum of stored photos' sizes, as file_report keeps it
    store._exec("UPDATE citizen_reports SET photo_bytes = ?", (photos,))
    assert list(storage()) == ["photos"] and storage()["photos"].startswith(f"{photos} of 2147483648 bytes stored (95%)")
    store._exec("UPDATE citizen_reports SET photo_bytes = 1000")
    assert storage() == {}
