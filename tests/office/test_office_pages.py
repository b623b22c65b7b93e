"""The district office's pages over HTTP: violating premises first, their CSV and printable page, one
premises with its day's chart, and the map's tile settings and Content-Security-Policy."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from entryscan.collector.rules import RuleSettings
from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.violations import premises, write_csv
from entryscan.collector.web.app import WebSettings
from entryscan.collector.web.mapview import OSM_TILES, TileSettings, parse_tiles
from entryscan.device.errors import ConfigError
from tests.office.office_site import BEN_NGHE, DAY, Office, fill, make_site
from tests.support.collector_web import WebUnderTest, logged_in_opener, request

NO_TILES = WebSettings(rules=RuleSettings(offline_s=0), map_tiles=TileSettings("", ""))


@pytest.fixture
def office(tmp_path: Path) -> Office:
    return make_site(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreBase]:
    s = open_store(tmp_path / "c.db")
    fill(s)
    yield s
    s.close()


@pytest.fixture
def web(tmp_path: Path, store: StoreBase, office: Office) -> Iterator[WebUnderTest]:
    w = WebUnderTest(tmp_path, store, office.sites, settings=NO_TILES)
    yield w
    w.stop()


def get(web: WebUnderTest, path: str, opener: urllib.request.OpenerDirector, lang: str = "") -> tuple[int, str]:
    if lang:
        request(f"{web.base}/lang/{lang}?next=/", opener=opener)
    status, _, body = request(web.base + path, opener=opener)
    return status, body.decode()


def premises_order(page: str) -> list[str]:
    return re.findall(r'<li class="premises status-\w+" data-site="q1" data-venue="([\w-]+)"', page)


def test_the_first_page_after_login_is_the_premises_showing_signs_of_violation(web: WebUnderTest) -> None:
    opener = logged_in_opener(web.base)  # follows the login's redirect
    status, page = get(web, f"/?day={DAY}", opener)
    assert status == 200 and "<h1>Cơ sở có dấu hiệu vi phạm</h1>" in page  # the site says language = "vi"
    # Communes with the most violating premises first; within one, the highest score first.
    assert page.index(BEN_NGHE) < page.index("Phường Phạm Ngũ Lão") < page.index("Chưa ghi xã/phường")
    assert premises_order(page)[:3] == ["thu-vien", "nha-thi-dau", "ubnd-ben-nghe"]  # scores 8, 6, 0
    thu_vien = page[page.index('data-venue="thu-vien"'):page.index('data-venue="nha-thi-dau"')]
    assert "Cửa mất kết nối" in thu_vien and "door-2" in thu_vien and "Mất kết nối (mất liên lạc)" not in page
    assert "Phản ánh của người dân chưa xử lý" in thu_vien and ": Khác" in thu_vien and ">#2<" in thu_vien
    forged = page[page.index('data-venue="nha-thi-dau"'):page.index('data-venue="ubnd-ben-nghe"')]
    assert "Người dân kiểm tra bảng QR giả hoặc sai" in forged and "3 lượt kiểm tra" in forged
    assert "không có lượt vào nào ngày 25/11/2026 trong giờ mở cửa" in forged


def test_a_venue_without_doors_and_an_unreadable_venue_are_listed_as_such(web: WebUnderTest) -> None:
    opener = logged_in_opener(web.base)
    _, page = get(web, f"/violations?day={DAY}", opener, "en")
    market = page[page.index('data-venue="cho-ben-thanh"'):]
    market = market[:market.index("</li>\n</ol>")]
    assert "No door linked" in market and "nothing can be said about its scans" in market
    assert "No signs of violation" not in market and "No scans during opening hours" not in market
    broken = page[page.index('data-venue="nha-van-hoa"'):]
    assert "Record cannot be read" in broken  # the parser's error, worded by the catalog, the token as typed
    assert 'opening hours: no time span in “<span translate="no">sometimes</span>”' in broken
    never = page[page.index('data-venue="cong-vien"'):]
    assert "door-4</a>: never heard from" in never[:2000]


def test_csv_for_a_commune_opens_in_excel_with_vietnamese_names(web: WebUnderTest) -> None:
    opener = logged_in_opener(web.base)
    request(f"{web.base}/lang/vi?next=/", opener=opener)
    status, headers, body = request(f"{web.base}/violations.csv?day={DAY}&commune=Ph%C6%B0%E1%BB%9Dng%20B%E1%BA%BF"
                                    "n%20Ngh%C3%A9", opener=opener)
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert 'filename="violations-2026-11-25.csv"' in headers["content-disposition"]
    assert body.startswith(b"\xef\xbb\xbf")  # the byte-order mark: Excel reads UTF-8 only with it
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert {r["commune"] for r in rows} == {BEN_NGHE}
    assert [r["venue"] for r in rows] == ["thu-vien", "nha-thi-dau", "ubnd-ben-nghe"]
    assert rows[0]["status_name"] == "Có dấu hiệu vi phạm" and rows[2]["reasons"] == ""


def test_empty_cells_stay_empty_in_the_csv(tmp_path: Path, store: StoreBase, office: Office) -> None:
    # Before the fix the formula guard quoted every empty cell ("" is `in` any string): a compliant
    # premises' reasons column read "'" and a venue without a commune "'".
    out = io.StringIO()
    write_csv(premises(store, office.sites, dt.date.fromisoformat(DAY)), out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert all(cell != "'" for row in rows for cell in row)
    assert next(r for r in rows if r[3] == "nha-van-hoa")[0] == ""


def test_the_printable_page_is_one_commune_with_its_chart(web: WebUnderTest) -> None:
    opener = logged_in_opener(web.base)
    _, page = get(web, f"/violations/print?commune=Ph%C6%B0%E1%BB%9Dng%20B%E1%BA%BFn%20Th%C3%A0nh&day={DAY}",
                  opener, "en")
    assert 'class="printable"' in page and '<script src="/static/print.js"' in page and 'id="print"' in page
    assert premises_order(page) == ["cho-ben-thanh"] and "Prepared by the district office" in page
    _, css = get(web, "/static/app.css", opener)
    assert "@media print{header,.noprint,nav{display:none}" in css
    _, nothing = get(web, f"/violations/print?commune=&day={DAY}", opener)
    assert premises_order(nothing) == ["nha-van-hoa"]


def test_a_premises_chart_has_axes_labels_and_its_opening_hours(web: WebUnderTest) -> None:
    opener = logged_in_opener(web.base)
    _, page = get(web, f"/premises/q1/ubnd-ben-nghe?day={DAY}", opener, "vi")
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert "giờ (giờ địa phương)" in svg and ">lượt vào</text>" in svg and ">giờ mở cửa</text>" in svg
    # 07:30-17:00 local is hours 7.5..17 of the day: one band, 9.5 bars wide.
    band = re.search(r'<rect class="open"[^>]* x="([\d.]+)"[^>]* width="([\d.]+)"', svg)
    assert band is not None
    slot = (720 - 48 - 12) / 24
    assert abs(float(band[1]) - (48 + 7.5 * slot)) < 0.2 and abs(float(band[2]) - 9.5 * slot) < 0.2
    bars = dict(re.findall(r"<title>25/11/2026 (\d\d):00: (\d+)</title>", svg))
    assert sum(map(int, bars.values())) == 14 and bars["09"] == "3" and bars["06"] == "0"


def test_map_tiles_are_allowed_by_the_csp_on_the_map_page_only(tmp_path: Path, store: StoreBase,
                                                               office: Office, web: WebUnderTest) -> None:
    opener = logged_in_opener(web.base)
    status, headers, body = request(f"{web.base}/map", opener=opener)
    assert status == 200 and 'data-tiles=""' in body.decode() and "tile.openstreetmap" not in headers["content-security-policy"]
    assert "<text" in body.decode() and "Chợ Bến Thành</text>" in body.decode()  # the plain map names each point
    (tmp_path / "osm").mkdir()
    osm = WebUnderTest(tmp_path / "osm", store, office.sites, settings=WebSettings())  # the default: OSM
    try:
        opener = logged_in_opener(osm.base)
        _, headers, body = request(f"{osm.base}/map", opener=opener)
        assert "img-src 'self' https://tile.openstreetmap.org;" in headers["content-security-policy"]
        assert f'data-tiles="{OSM_TILES}"' in body.decode() and "OpenStreetMap contributors" in body.decode()
        _, headers, _ = request(f"{osm.base}/fleet", opener=opener)
        assert "img-src 'self';" in headers["content-security-policy"]
    finally:
        osm.stop()


@pytest.mark.parametrize("text", ["ftp://x/{z}/{x}/{y}", "https://x/{z}/{x}.png", "https://x y/{z}/{x}/{y}",
                                  "https://x/{z}/{x}/{y};script-src *", "https://{z}x/{z}/{x}/{y}", "tiles"])
def test_a_tile_server_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_tiles(text)


def test_tile_settings_none_and_subdomains() -> None:
    assert parse_tiles("none").url == "" and parse_tiles("none").origin == ""
    assert parse_tiles(None).origin == "https://tile.openstreetmap.org"
    assert parse_tiles("https://{s}.tiles.example.vn/{z}/{x}/{y}.png").origin == "https://*.tiles.example.vn"


def test_violations_cli_names_reasons_in_vietnamese(tmp_path: Path, store: StoreBase, office: Office,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from entryscan.collector.violations_cli import main

    store.close()
    assert main(["--db", str(tmp_path / "c.db"), "--site-dir", str(office.site_dir), "--day", DAY]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    # Before: "Signs of violation" (it read catalogs from a collector/locale that never existed).
    assert rows[0]["status_name"] == "Có dấu hiệu vi phạm"


def test_the_compliance_page_says_no_door_and_no_scans_instead_of_a_span(web: WebUnderTest) -> None:
    # Before: a venue without doors showed 0 entries and "9 h 30 min", the same as a day without one scan.
    opener = logged_in_opener(web.base)
    _, page = get(web, f"/compliance?day={DAY}", opener, "en")
    rows = {m[1]: m[2] for m in re.finditer(r'<td translate="no">(?:q1)</td><td translate="no">([\w-]+)</td>(.*?)</tr>',
                                            page, re.DOTALL)}
    assert 'class="state-no_doors">No door linked<' in rows["cho-ben-thanh"] and "<td></td>" in rows["cho-ben-thanh"]
    assert 'class="state-no_scans">No scans during opening hours<' in rows["thu-vien"]
    assert 'class="state-scanned">1 h 03 min<' in rows["ubnd-ben-nghe"]  # 16:03 to 17:00 was the longest
    assert not any("9 h 30 min" in row for row in rows.values())


def test_the_device_page_shows_lists_held_as_names_and_versions(web: WebUnderTest) -> None:
    opener = logged_in_opener(web.base)
    _, page = get(web, "/device/q1/door-1", opener, "en")
    assert "{&#39;revoked&#39;: 3}" not in page and '<span translate="no">revoked 3</span>' in page  # was a Python dict


@pytest.mark.parametrize(("first", "spans"), [
    ("2026-11-25T00:00:00+00:00", [(0.5, 10.0)]),  # Wednesday 07:00 local: that day's 07:30-17:00
    ("2026-11-27T12:00:00+00:00", []),  # Friday 19:00 local: Friday's hours are over, Saturday closed
    ("2026-11-29T20:00:00+00:00", [(4.5, 14.0)]),  # Monday 03:00 local, across midnight from Sunday
])
def test_a_doors_rolling_chart_marks_its_venues_hours(office: Office, first: str,
                                                      spans: list[tuple[float, float]]) -> None:
    from entryscan.collector.web.daycharts import window_spans

    assert window_spans(office.sites["q1"], "ubnd-ben-nghe", dt.datetime.fromisoformat(first)) == spans


def test_the_violations_list_reads_a_sites_day_in_one_query_not_one_per_door(store: StoreBase, office: Office,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: one entry_times query per door, each scanning the site's whole day: with 1,000 doors and
    # 20,000 entries the first page took over a minute on SQLite (1.6 s with 100,000 entries after).
    calls: list[str] = []
    for name in ("_rows", "_read"):  # the day's query is a page's read (the store's reader connection)
        real = getattr(store, name)
        monkeypatch.setattr(store, name, lambda sql, params=(), real=real: calls.append(sql) or real(sql, params))
    found = premises(store, office.sites, dt.date.fromisoformat(DAY))
    assert sum("FROM entry_events" in sql for sql in calls) == 1
    assert {p.venue for p in found[0].premises} == {"thu-vien", "nha-thi-dau", "ubnd-ben-nghe"}
