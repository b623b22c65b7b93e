"""The README's venue example end to end, a bad venue manifest, and boards that outlive small edits."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from entryscan.collector.rules import RuleSettings, evaluate
from entryscan.collector.site import load_site
from entryscan.collector.store import open_store
from entryscan.provisioning import manifest
from entryscan.provisioning.__main__ import main
from entryscan.provisioning.venue import load_signing_key, sign_venue_url, verify_venue_url
from tests.support import wait_for
from tests.support.mosquitto import free_port

BASE = "https://q1.example.vn"
WED_10_HCM = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)  # 10:00 in Ho Chi Minh City
TOKEN = "office-test-token-0123456789"


def readme_site(root: Path) -> Path:
    """The technician's checklist, steps 1 and 2, as the README writes them."""
    site_dir = root / "q1"
    assert main(["site", "init", "--site", "q1", "--dir", str(site_dir), "--name", "Trung tâm Y tế Quận 1",
                 "--timezone", "Asia/Ho_Chi_Minh"]) == 0
    assert main(["venue", "add", "--site-dir", str(site_dir), "--venue", "ubnd-q1", "--name", "UBND Quận 1",
                 "--address", "45-47 Lê Duẩn, Phường Bến Nghé, Quận 1", "--lat", "10.7797", "--lon", "106.6990",
                 "--opening-hours", "T2-T6 07:30-17:00"]) == 0
    return site_dir


def test_readme_opening_hours_example_works_end_to_end(tmp_path: Path) -> None:
    site = load_site(readme_site(tmp_path))  # the collector refused to start here: bad day 'T2-T6'
    venue = site.venues["ubnd-q1"]
    assert venue.hours.spans[0] == ((450, 1020),) and venue.hours.spans[5] == () and site.problems == {}
    store = open_store(tmp_path / "c.db")
    try:
        evaluate(store, {"q1": site}, RuleSettings(), WED_10_HCM)
        assert {(a["rule"], a["target"]) for a in store.alerts(open_only=True)} == {("venue_idle", "ubnd-q1")}
    finally:
        store.close()


def test_venue_add_refuses_hours_the_collector_could_not_read(tmp_path: Path) -> None:
    site_dir = readme_site(tmp_path)
    before = (site_dir / "site.toml").read_bytes()
    assert main(["venue", "add", "--site-dir", str(site_dir), "--venue", "cho", "--name", "Chợ", "--address", "1",
                 "--lat", "10", "--lon", "106", "--opening-hours", "T2-T6 sáng"]) != 0
    assert (site_dir / "site.toml").read_bytes() == before


BAD_MANIFEST = """
[site]
format = 1
site = "q1"
name = "Quận 1"

[[venues]]
id = "good"
name = "Chợ"
address = "1 Lê Lợi"
lat = 10.5
lon = 106.5
opening_hours = "T2-T6 07:30-17:00"

[[venues]]
id = "hours"
name = "Nhà văn hoá"
opening_hours = "whenever we like"

[[venues]]
id = "nameless"
opening_hours = 7
"""


def test_a_bad_venue_manifest_is_an_alert_naming_the_venue_not_a_refusal_to_start(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "site.toml").write_text(BAD_MANIFEST, encoding="utf-8")
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "entryscan.collector", "serve", "--db", str(tmp_path / "c.db"),
                             "--http", f"127.0.0.1:{port}", "--api-token-file", str(token), "--site-dir",
                             str(tmp_path / "site"), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def unreadable() -> dict[str, str]:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/alerts?open=1",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
            try:
                alerts = json.load(urllib.request.urlopen(req, timeout=5))["alerts"]
            except OSError:
                return {}
            return {a["target"]: a["detail"] for a in alerts if a["rule"] == "venue_unreadable"}

        assert wait_for(lambda: len(unreadable()) == 2, timeout=30), proc.stderr.read1().decode()  # type: ignore[union-attr]
        found = unreadable()
        assert "whenever" in found["hours"] and "nameless" in found["nameless"] and "good" not in found
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(15)


def board(site_dir: Path) -> str:
    site = manifest.load(site_dir)
    venue = site.venue("ubnd-q1")
    assert venue is not None
    return sign_venue_url(BASE, site.site, venue, load_signing_key(site_dir))


def replace_venue(site_dir: Path, *extra: str, address: str = "45-47 Lê Duẩn, Phường Bến Nghé, Quận 1") -> int:
    return main(["venue", "add", "--site-dir", str(site_dir), "--venue", "ubnd-q1", "--name", "UBND Quận 1",
                 "--address", address, "--lat", "10.7797", "--lon", "106.6990", "--replace", *extra])


def test_changing_hours_or_contact_leaves_printed_boards_current(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    site_dir = readme_site(tmp_path)
    url = board(site_dir)
    assert replace_venue(site_dir, "--opening-hours", "T2-T7 07:00-17:00", "--contact", "028 3829 1234",
                         "--officer", "Nguyễn Văn A") == 0
    out = capsys.readouterr()
    assert json.loads(out.out.splitlines()[-1])["boards"] == [
        {"version": 1, "state": "current", "changed": ["opening_hours", "contact", "officer"]}]
    assert "version 1 stay current" in out.err
    check = verify_venue_url(url, site_dir)  # was: "version: board 1, registry 2", not genuine
    assert (check.state, check.genuine, check.matches_registry, check.differences) == ("current", True, True, [])


def test_a_new_commune_makes_boards_outdated_but_genuine_and_a_moved_place_refuses_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site_dir = readme_site(tmp_path)
    url = board(site_dir)
    assert replace_venue(site_dir, "--commune", "Phường Sài Gòn", "--dry-run") == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["boards"][0]["state"] == "details_updated"
    assert manifest.load(site_dir).venue("ubnd-q1").version == 1  # type: ignore[union-attr]  # dry run
    assert replace_venue(site_dir, "--commune", "Phường Sài Gòn") == 0
    check = verify_venue_url(url, site_dir)
    assert check.state == "details_updated" and check.genuine and check.record is not None
    assert check.record.commune == "Phường Sài Gòn" and check.updated_on == check.record.updated != ""
    assert check.differences[0].startswith(f"details updated on {check.record.updated[:10]}")
    capsys.readouterr()
    assert replace_venue(site_dir, address="12 Phan Bội Châu, Quận 1") == 0
    out = capsys.readouterr()
    assert [b["state"] for b in json.loads(out.out.splitlines()[-1])["boards"]] == ["refused", "refused"]
    assert "REFUSED" in out.err
    check = verify_venue_url(url, site_dir)
    assert check.state == "place_changed" and not check.genuine and not check.matches_registry
    assert check.signature == "ok"
