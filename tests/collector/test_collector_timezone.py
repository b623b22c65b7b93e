"""Opening hours in each site's own time zone (``[site] timezone``), ``--timezone`` as the default."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from entryscan.collector.compliance import venue_day
from entryscan.collector.rules import RuleSettings, evaluate
from entryscan.collector.site import load_sites
from entryscan.collector.store import StoreBase
from entryscan.device.errors import ConfigError
from entryscan.provisioning import manifest
from entryscan.provisioning.__main__ import main as provision
from tests.support.events import TOPIC, entry

VENUE = """
[[venues]]
id = "canteen"
name = "Căng tin"
opening_hours = "Mon-Fri 07:30-17:00"

[[devices]]
id = "door-1"
venue = "canteen"
"""
# A Wednesday: 03:00 UTC is 10:00 in Ho Chi Minh City (open) and 03:00 in UTC (closed).
WED_03_UTC = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


def site_dir(tmp_path: Path, site: str, timezone: str = "") -> Path:
    folder = tmp_path / site
    folder.mkdir()
    zone = f'timezone = "{timezone}"\n' if timezone else ""
    (folder / "site.toml").write_text(f'[site]\nformat = 1\nsite = "{site}"\nname = "x"\n{zone}{VENUE}', "utf-8")
    return folder


def idle_sites(store: StoreBase) -> set[str]:
    return {a["site"] for a in store.alerts(open_only=True) if a["rule"] == "venue_idle"}


def test_each_site_uses_its_own_time_zone_and_the_default_applies_to_the_others(tmp_path: Path,
                                                                                 store: StoreBase) -> None:
    sites = load_sites([site_dir(tmp_path, "hcm", "Asia/Ho_Chi_Minh"), site_dir(tmp_path, "utc")], "UTC")
    assert str(sites["hcm"].timezone) == "Asia/Ho_Chi_Minh" and str(sites["utc"].timezone) == "UTC"
    evaluate(store, sites, RuleSettings(idle_s=1800), WED_03_UTC)
    assert idle_sites(store) == {"hcm"}  # 10:00 there, open; 03:00 at the other site, closed


def test_compliance_counts_in_the_sites_time_zone(tmp_path: Path, store: StoreBase) -> None:
    sites = load_sites([site_dir(tmp_path, "hq", "Asia/Ho_Chi_Minh")], "UTC")
    for seq, hhmm in enumerate(["00:10", "01:00", "02:00", "03:00", "09:30", "12:00"], 1):  # UTC; open 00:30-10:00 UTC
        store.ingest(f"{TOPIC}/entry", entry(seq, ts=f"2026-11-25T{hhmm}:00.000Z"))
    day = venue_day(store, sites["hq"], "canteen", dt.date(2026, 11, 25), now=dt.datetime(2026, 11, 26, tzinfo=dt.UTC))
    assert day["entries"] == 4  # 01:00..09:30; in UTC hours (07:30-17:00 UTC) only 09:30 and 12:00


def test_an_unknown_time_zone_in_the_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        load_sites([site_dir(tmp_path, "hq", "Mars/Olympus")], "UTC")


def test_site_init_writes_the_time_zone_and_refuses_unknown_ones(tmp_path: Path) -> None:
    assert provision(["site", "init", "--site", "hq", "--dir", str(tmp_path / "a"),
                      "--timezone", "Asia/Ho_Chi_Minh"]) == 0
    assert manifest.load(tmp_path / "a").timezone == "Asia/Ho_Chi_Minh"
    assert 'timezone = "Asia/Ho_Chi_Minh"' in (tmp_path / "a" / "site.toml").read_text("utf-8")
    assert str(load_sites([tmp_path / "a"], "UTC")["hq"].timezone) == "Asia/Ho_Chi_Minh"
    assert provision(["site", "init", "--site", "hq", "--dir", str(tmp_path / "b"), "--timezone", "Mars/Olympus"]) == 78
    assert not (tmp_path / "b").exists()
    assert provision(["site", "init", "--site", "hq", "--dir", str(tmp_path / "c")]) == 0
    assert manifest.load(tmp_path / "c").timezone == "" and "timezone" not in (tmp_path / "c" / "site.toml").read_text()


@pytest.mark.parametrize("bad", ['"Mars/Olympus"', "7", '"../../etc/passwd"'])
def test_the_provisioning_manifest_refuses_a_bad_time_zone(bad: str) -> None:
    with pytest.raises(ConfigError, match="timezone"):
        manifest.loads(f'[site]\nformat = 1\nsite = "hq"\nname = "x"\ntimezone = {bad}\n')
