"""What keeps the office's pages fast at 1,000 doors (bench/office.py measures it), on both stores:
a day's scans are counted per opening span in the database (the same numbers Python counted), a door's
page reads that door's rows only, and the fleet table is cached until the next write (or a few seconds)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entryscan.collector.compliance import compliance, site_day, venue_day
from entryscan.collector.site import SiteInfo, load_site
from entryscan.collector.store import StoreBase
from entryscan.collector.store.validate import iso
from entryscan.collector.web.pagecache import PageCache
from tests.support.collector_web import TOKEN, WebUnderTest, logged_in_opener, request
from tests.support.events import entry

DOORS = 12
MANIFEST = """
[site]
format = 1
site = "hq"
timezone = "Asia/Ho_Chi_Minh"

[[venues]]
id = "split"
name = "Hai ca"
opening_hours = "T2-T6 07:30-11:30, 13:30-17:00"

[[venues]]
id = "long"
name = "Cả ngày"
opening_hours = "hàng ngày 06:00-22:00"

[[venues]]
id = "idle"
name = "Không quét"
opening_hours = "hàng ngày 06:00-22:00"
"""
WED = dt.date(2026, 11, 25)
LATER = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)  # the whole day is over
MIDDAY = dt.datetime(2026, 11, 25, 5, 0, tzinfo=dt.UTC)  # 12:00 local: "split"'s first span only, "long" half


@pytest.fixture
def site(tmp_path: Path) -> SiteInfo:
    doors = "".join(f'\n[[devices]]\nid = "d{i:02d}"\ndoor = "main"\nvenue = "{["split", "long", "idle"][i % 3]}"\n'
                    for i in range(DOORS))
    (tmp_path / "site.toml").write_text(MANIFEST + doors, encoding="utf-8")
    return load_site(tmp_path)


def _fill(store: StoreBase, site: SiteInfo) -> None:
    rng = random.Random(16)
    day = dt.datetime(2026, 11, 24, 17, 0, tzinfo=dt.UTC)  # local midnight, 25/11
    seqs = itertools.count(1)
    # A span's end is not in it, its start is; "long" opens at 06:00 and sees its first scan after 09:00 (the
    # longest idle span is the one before the first scan).
    edges = [day + dt.timedelta(hours=h, minutes=m) for h, m in ((11, 30), (13, 30), (22, 0))]
    for i in range(DOORS):
        if i % 3 == 2:
            continue  # "idle": doors, and not one scan
        first = 9 * 3600 + 60 if i % 3 == 1 else -3600
        moments = [day + dt.timedelta(seconds=rng.randrange(first, 25 * 3600)) for _ in range(60)] + edges
        moments += [moments[0]]  # two scans at the same millisecond
        for moment in moments:
            store.ingest(f"entryscan/hq/d{i:02d}/entry", entry(next(seqs), device=f"d{i:02d}", ts=iso(moment)))


def _python_day(store: StoreBase, site: SiteInfo, venue: str, now: dt.datetime) -> tuple[int, int]:
    """What compliance computed before: every entry time read into Python, sorted, the gaps measured."""
    zone = site.timezone
    midnight = dt.datetime.combine(WED, dt.time(), tzinfo=zone)
    spans = [(midnight + dt.timedelta(minutes=a), min(midnight + dt.timedelta(minutes=b), now))
             for a, b in site.venues[venue].hours.spans[WED.weekday()]]
    spans = [(a, b) for a, b in spans if b > a]
    stamps = [dt.datetime.fromisoformat(e["ts"]) for e in store.entries() if e["device"] in site.devices_of(venue)]
    count, longest = 0, dt.timedelta()
    for start, end in spans:
        inside = sorted(t for t in stamps if start <= t < end)
        count += len(inside)
        longest = max([longest, *(b - a for a, b in itertools.pairwise([start, *inside, end]))])
    return count, int(longest.total_seconds() // 60)


@pytest.mark.parametrize("now", [LATER, MIDDAY], ids=["day over", "midday"])
def test_a_days_counts_and_longest_idle_span_come_from_one_query_per_site_as_python_counted_them(
        store: StoreBase, site: SiteInfo, now: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(store, site)
    expected = {v: _python_day(store, site, v, now) for v in site.venues}
    read: list[tuple[str, int]] = []
    real = store._read  # type: ignore[attr-defined]

    def spy(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = real(sql, params)
        read.append((sql, len(rows)))
        return rows

    monkeypatch.setattr(store, "_read", spy)
    found = site_day(store, site, WED, now)
    assert {v: (s.entries, int(s.longest.total_seconds() // 60)) for v, s in found.items()} == expected
    assert expected["split"][0] > 0 and expected["idle"] == (0, 16 * 60 if now == LATER else 6 * 60)
    assert expected["long"][1] >= 3 * 60
    # One query, answering a row per opening span with scans: before, the site's every entry of the day
    # came back (read 120 rows here; a third of a million at 1,000 doors).
    assert [n for sql, n in read if "entry_events" in sql] == [3 if now == LATER else 2]
    assert venue_day(store, site, "split", WED, now)["entries"] == expected["split"][0]


def test_compliance_is_one_query_per_site_however_many_venues(store: StoreBase, site: SiteInfo,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(store, site)
    calls: list[str] = []
    real = store._read  # type: ignore[attr-defined]
    monkeypatch.setattr(store, "_read", lambda sql, params=(): calls.append(sql) or real(sql, params))
    rows = compliance(store, {"hq": site}, WED)
    assert [r["venue"] for r in rows] == ["idle", "long", "split"] and rows[0]["state"] == "no_scans"
    assert sum("entry_events" in sql for sql in calls) == 1


def test_the_page_cache_is_dropped_by_a_write_and_by_age(store: StoreBase) -> None:
    clock = [0.0]
    cache = PageCache(store, ttl_s=5.0, clock=lambda: clock[0])
    built = itertools.count()
    assert cache.get("k", lambda: next(built)) == 0
    assert cache.get("k", lambda: next(built)) == 0  # cached
    store.ingest("entryscan/hq/d01/entry", entry(1, device="d01"))
    assert cache.get("k", lambda: next(built)) == 1  # the write dropped it, well within its 5 s
    clock[0] = 5.0
    assert cache.get("k", lambda: next(built)) == 2  # too old: another process may have written
    assert cache.builds == 3


@pytest.fixture
def web(tmp_path: Path, store: StoreBase, site: SiteInfo) -> Iterator[WebUnderTest]:
    w = WebUnderTest(tmp_path, store, {"hq": site})
    yield w
    w.stop()


def _fleet(web: WebUnderTest) -> dict[str, Any]:
    status, _, body = request(f"{web.base}/api/fleet", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    doc: dict[str, Any] = json.loads(body)
    return doc


def test_the_dashboard_and_api_fleet_show_an_ingested_entry_at_once_despite_the_cache(web: WebUnderTest,
                                                                                    store: StoreBase) -> None:
    store.ingest("entryscan/hq/d01/entry", entry(1, device="d01"))
    assert [(d["device"], d["entries"]) for d in _fleet(web)["devices"]] == [("d01", 1)]
    store.ingest("entryscan/hq/d01/entry", entry(2, device="d01"))
    store.ingest("entryscan/hq/d02/entry", entry(1, device="d02"))
    assert [(d["device"], d["entries"]) for d in _fleet(web)["devices"]] == [("d01", 2), ("d02", 1)]
    status, _, page = request(f"{web.base}/fleet", opener=logged_in_opener(web.base))
    assert status == 200 and b"d02" in page


def test_a_doors_page_and_chart_read_that_doors_rows_only(web: WebUnderTest, store: StoreBase,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(DOORS):
        store.ingest(f"entryscan/hq/d{i:02d}/entry", entry(1, device=f"d{i:02d}"))
    opener = logged_in_opener(web.base)  # lands on the violations page, which reads every door
    asked: list[tuple[Any, ...]] = []
    real = store.devices
    monkeypatch.setattr(store, "devices", lambda *a, **kw: asked.append(a + tuple(kw.values())) or real(*a, **kw))
    for path in ("/device/hq/d03", "/chart/hq/d03.svg"):
        status, _, body = request(web.base + path, opener=opener)
        assert status == 200 and b"d03" in body
    # Before, the whole fleet's view was built (store.devices() of every door, twice) for one door's page.
    assert asked and all(a == ("hq", "d03") for a in asked)
    assert request(web.base + "/device/hq/nope", opener=opener)[0] == 404


def test_compliance_and_the_violations_list_show_an_ingested_entry_at_once_despite_the_cache(
        web: WebUnderTest, store: StoreBase) -> None:
    opener = logged_in_opener(web.base)
    _, _, before = request(f"{web.base}/compliance?day={WED.isoformat()}", opener=opener)
    _, _, listed = request(f"{web.base}/violations.csv?day={WED.isoformat()}", opener=opener)
    assert _no_scans(listed) == 3  # no venue had a scan
    store.ingest("entryscan/hq/d01/entry", entry(1, device="d01", ts="2026-11-25T03:00:00.000Z"))  # 10:00 local
    _, _, after = request(f"{web.base}/compliance?day={WED.isoformat()}", opener=opener)
    _, _, relisted = request(f"{web.base}/violations.csv?day={WED.isoformat()}", opener=opener)
    assert after != before and _no_scans(relisted) == 2


def _no_scans(csv_body: bytes) -> int:
    return sum("no_scans_in_hours" in line for line in csv_body.decode("utf-8-sig").splitlines())
