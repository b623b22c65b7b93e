"""Premises showing signs of violation (both stores): per commune, ranked, reasons as codes with evidence."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from entryscan.collector.compliance import venue_day
from entryscan.collector.rules import RuleSettings
from entryscan.collector.site import SiteInfo, load_site
from entryscan.collector.store import StoreBase
from entryscan.collector.violations import REASONS, STATUSES, premises, write_csv
from tests.support.events import entry

MANIFEST = """
[site]
format = 1
site = "hq"
name = "Quận 1"
timezone = "Asia/Ho_Chi_Minh"

[[venues]]
id = "canteen"
name = "Căng tin"
address = "1 Lê Lợi"
commune = "Phường Bến Nghé"
lat = 10.5
lon = 106.5
opening_hours = "T2-T6 07:30-17:00"

[[venues]]
id = "library"
name = "Thư viện"
address = "2 Lê Lợi"
commune = "Phường Bến Nghé"
lat = 10.6
lon = 106.6
opening_hours = "T2-T6 07:30-17:00"

[[venues]]
id = "market"
name = "Chợ"
address = "3 Lê Lợi"
commune = "Phường Bến Thành"
lat = 10.7
lon = 106.7
opening_hours = "T2-T6 07:30-17:00"

[[venues]]
id = "broken"
name = "Nhà văn hoá"
opening_hours = "sometimes"

[[devices]]
id = "door-1"
door = "main"
venue = "canteen"

[[devices]]
id = "door-2"
door = "main"
venue = "library"
"""
WED = dt.date(2026, 11, 25)
WED_EVENING = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # 19:00 local: the day's hours are over


@pytest.fixture
def site(tmp_path: Path) -> SiteInfo:
    (tmp_path / "site.toml").write_text(MANIFEST, encoding="utf-8")
    return load_site(tmp_path)


def scan(store: StoreBase, device: str, seq: int, utc: str) -> None:
    store.ingest(f"entryscan/hq/{device}/entry", entry(seq, device=device, ts=f"2026-11-25T{utc}:00.000Z"))


def test_compliance_says_when_no_door_is_linked_and_when_a_day_had_no_scans(store: StoreBase,
                                                                          site: SiteInfo) -> None:
    for seq, utc in enumerate(["01:00", "02:00", "03:00", "04:00", "05:00", "06:00", "07:00", "08:00", "09:00",
                               "09:30"], 1):
        scan(store, "door-2", seq, utc)
    ten = venue_day(store, site, "library", WED, WED_EVENING)
    none = venue_day(store, site, "canteen", WED, WED_EVENING)
    unlinked = venue_day(store, site, "market", WED, WED_EVENING)
    assert (ten["state"], ten["entries"], ten["longest_idle"]) == ("scanned", 10, "1 h 00 min")
    # Both said "longest span without scans" before: a day without one scan is not a span like any other.
    assert (none["state"], none["entries"], none["longest_idle"]) == ("no_scans", 0, "no scans during opening hours")
    assert (unlinked["state"], unlinked["linked"], unlinked["longest_idle"]) == \
        ("no_doors", False, "no door linked to this venue")


def test_violating_premises_per_commune_ranked_with_reasons_and_evidence(store: StoreBase, site: SiteInfo) -> None:
    scan(store, "door-2", 1, "02:00")
    store.ingest("entryscan/hq/door-2/status", b"online")
    store.ingest("entryscan/hq/door-1/status", b"offline")
    rid = store.add_report("hq", "market", "Không có bảng QR", "", "10.0.0.1")
    for state in ("details_updated", "forged", "forged"):
        store.count_board_check("hq", "canteen", state)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)  # door-1 went offline just now
    communes = premises(store, {"hq": site}, WED, now, RuleSettings(offline_s=1))
    by_name = {c.name: c for c in communes}
    assert [c.name for c in communes] == ["Phường Bến Nghé", "Phường Bến Thành", ""]
    ben_nghe = by_name["Phường Bến Nghé"].premises
    assert [(p.venue, p.status) for p in ben_nghe] == [("canteen", "violation"), ("library", "compliant")]
    canteen = {r.code: r.evidence for r in ben_nghe[0].reasons}
    assert set(canteen) == {"no_scans_in_hours", "doors_offline", "board_forged", "board_outdated"}
    assert canteen["doors_offline"]["doors"][0]["device"] == "door-1"
    assert canteen["board_forged"]["checks"] == 2 and canteen["board_outdated"]["checks"] == 1
    market = by_name["Phường Bến Thành"].premises[0]
    assert market.status == "no_doors" and [r.code for r in market.reasons] == ["open_reports"]
    assert market.reasons[0].evidence["ids"] == [rid]
    broken = by_name[""].premises[0]
    assert (broken.venue, broken.status, broken.reasons[0].code) == ("broken", "unreadable", "venue_unreadable")

    out = io.StringIO()
    write_csv(communes, out, translate=lambda msgid: f"<{msgid}>")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["venue"] == "canteen" and rows[0]["rank"] == "1" and rows[0]["status"] == "violation"
    assert "<No scans during opening hours>" in rows[0]["reason_names"]
    assert json.loads(rows[0]["evidence"])["doors_offline"]["of"] == 1
    assert {r["venue"]: r["status_name"] for r in rows}["market"] == "<No door linked>"


def test_reason_and_status_names_are_message_ids_not_sentences_in_code() -> None:
    import ast
    import inspect

    from entryscan.collector import violations

    tree = ast.parse(inspect.getsource(violations))
    marked = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "N_"
              and isinstance(n.args[0], ast.Constant)}
    assert set(REASONS.values()) | set(STATUSES.values()) <= marked


def test_board_checks_are_counted_for_registered_venues_unless_current(store: StoreBase, tmp_path: Path) -> None:
    from entryscan.collector.venue import BoardChecker
    from entryscan.provisioning import manifest
    from entryscan.provisioning.__main__ import main
    from entryscan.provisioning.venue import load_signing_key, sign_venue_url

    site_dir = tmp_path / "hq"
    assert main(["site", "init", "--site", "hq", "--dir", str(site_dir), "--name", "Quận 1"]) == 0
    assert main(["venue", "add", "--site-dir", str(site_dir), "--venue", "canteen", "--name", "Căng tin",
                 "--address", "1 Lê Lợi", "--lat", "10.5", "--lon", "106.5"]) == 0
    with (site_dir / "site.toml").open("a", encoding="utf-8") as f:  # a bad venue: the others stay checkable
        f.write('\n[[venues]]\nid = "broken"\nname = 7\n')
    record = manifest.load(site_dir, lenient=True).venue("canteen")
    assert record is not None
    url = sign_venue_url("https://hq.example.vn", "hq", record, load_signing_key(site_dir))
    site = load_site(site_dir)
    checker = BoardChecker(store)
    assert checker.check(site, url).state == "current"
    assert checker.check(site, url[:-4] + "AAAA").state == "forged"
    checker.check(site, "https://hq.example.vn/v/hq/nowhere?n=1&k=AAAAAA&h=AAAAAAAAAAAAAAAAAAAAAAAA&s=" + "A" * 86)
    assert [(b["venue"], b["state"], b["count"]) for b in store.board_checks("2000-01-01")] == \
        [("canteen", "forged", 1)]
