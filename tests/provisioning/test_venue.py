"""Venue registry and signed venue URLs: exact text, tamper evidence, foreign sites, outdated boards."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from entryscan.provisioning import manifest
from entryscan.provisioning.__main__ import main
from entryscan.provisioning.venue import b64url, load_signing_key, sign_venue_url, unb64url, verify_venue_url

BASE = "https://entry.example.vn"
NAME = "Chợ Bến Thành"
ADDRESS = "Lê Lợi, Phường Bến Thành, Quận 1, TP. Hồ Chí Minh"
EVERY_TONE = "ă â đ ê ô ơ ư à ả ã á ạ ằ ẳ ẵ ắ ặ ầ ẩ ẫ ấ ậ è ẻ ẽ é ẹ ề ể ễ ế ệ ì ỉ ĩ í ị ò ỏ õ ó ọ ồ ổ ỗ ố ộ ờ ở ỡ ớ ợ " \
            "ù ủ ũ ú ụ ừ ử ữ ứ ự ỳ ỷ ỹ ý ỵ Ă Â Đ Ê Ô Ơ Ư Ỹ"


def make_site(root: Path, site: str = "hq") -> Path:
    site_dir = root / site
    assert main(["site", "init", "--site", site, "--dir", str(site_dir), "--name", "Sở Y tế"]) == 0
    return site_dir


def venue_add(site_dir: Path, *extra: str, name: str = NAME, address: str = ADDRESS) -> int:
    return main(["venue", "add", "--site-dir", str(site_dir), "--venue", "cho-ben-thanh", "--name", name,
                 "--address", address, "--lat", "10.7724312", "--lon", "106.698084", *extra])


def signed_url(site_dir: Path, venue: str = "cho-ben-thanh") -> str:
    site = manifest.load(site_dir)
    record = site.venue(venue)
    assert record is not None
    return sign_venue_url(BASE, site.site, record, load_signing_key(site_dir))


def with_param(url: str, key: str, value: str) -> str:
    head, _, query = url.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    params[key] = value
    return head + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def test_venue_text_is_kept_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site_dir = make_site(tmp_path)
    decomposed = unicodedata.normalize("NFD", NAME)  # as some keyboards type it: base letters + combining marks
    assert venue_add(site_dir, "--opening-hours", "T2–T6 07:30–17:00", name=decomposed, address=EVERY_TONE) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"venue": "cho-ben-thanh", "version": 1}
    venue = manifest.load(site_dir).venue("cho-ben-thanh")
    assert venue is not None
    assert (venue.name, venue.address, venue.lat, venue.lon) == (decomposed, EVERY_TONE, 10.772431, 106.698084)
    assert venue.name != NAME and unicodedata.normalize("NFC", venue.name) == NAME


@pytest.mark.parametrize("extra", [["--lat", "91"], ["--lon", "nan"], ["--name", "Tab\there"], ["--venue", "Bad"]])
def test_venue_add_refuses_bad_input(tmp_path: Path, extra: list[str]) -> None:
    site_dir = make_site(tmp_path)
    assert main(["venue", "add", "--site-dir", str(site_dir), "--venue", "v", "--name", "n", "--address", "a",
                 "--lat", "1", "--lon", "2", *extra]) == 78
    assert manifest.load(site_dir).venues == ()


def test_changing_a_venue_needs_replace_and_bumps_its_version(tmp_path: Path) -> None:
    site_dir = make_site(tmp_path)
    assert venue_add(site_dir) == 0
    assert venue_add(site_dir, address="Somewhere else") == 78
    assert venue_add(site_dir, "--replace", address="Somewhere else") == 0
    site = manifest.load(site_dir)
    venue = site.venue("cho-ben-thanh")
    assert venue is not None and venue.version == 2 and venue.address == "Somewhere else"
    assert [v.version for v in site.retired_venues] == [1]


def test_genuine_url_verifies_and_is_short(tmp_path: Path) -> None:
    site_dir = make_site(tmp_path)
    assert venue_add(site_dir) == 0
    url = signed_url(site_dir)
    assert len(url) < 200
    result = verify_venue_url(url, site_dir)
    assert (result.signature, result.matches_registry, result.differences) == ("ok", True, [])
    assert (result.site, result.venue, result.version) == ("hq", "cho-ben-thanh", 1)
    assert result.record is not None and result.record.name == NAME


def test_registry_edited_after_signing_is_a_genuine_but_outdated_board(tmp_path: Path) -> None:
    site_dir = make_site(tmp_path)
    assert venue_add(site_dir) == 0
    url = signed_url(site_dir)
    assert venue_add(site_dir, "--replace", address="12 Phan Bội Châu, Quận 1") == 0
    result = verify_venue_url(url, site_dir)
    assert result.signature == "ok" and not result.matches_registry
    assert result.differences == ["version: board 1, registry 2", "address: the board's differs from the registry's"]


@pytest.mark.parametrize(("key", "value"), [("n", "2"), ("h", "A" * 24), ("k", "AAAAAA")])
def test_edited_url_is_reported(tmp_path: Path, key: str, value: str) -> None:
    site_dir = make_site(tmp_path)
    assert venue_add(site_dir) == 0
    result = verify_venue_url(with_param(signed_url(site_dir), key, value), site_dir)
    assert result.signature == ("unknown_key" if key == "k" else "bad")
    assert not result.matches_registry


def test_edited_venue_or_host_is_reported(tmp_path: Path) -> None:
    site_dir = make_site(tmp_path)
    assert venue_add(site_dir) == 0
    url = signed_url(site_dir)
    for forged in (url.replace("/cho-ben-thanh?", "/cho-lon?"), url.replace("entry.example.vn", "evil.example")):
        assert verify_venue_url(forged, site_dir).signature == "bad", forged
    sig = parse_qs(urlsplit(url).query)["s"][0]
    flipped = b64url(bytes([unb64url(sig)[0] ^ 1]) + unb64url(sig)[1:])
    assert verify_venue_url(with_param(url, "s", flipped), site_dir).signature == "bad"


def test_another_sites_board_is_unknown_key(tmp_path: Path) -> None:
    ours = make_site(tmp_path / "a")
    theirs_same_id = make_site(tmp_path / "b")  # another site that also calls itself "hq"
    theirs_other_id = make_site(tmp_path / "c", site="q1")
    for site_dir in (ours, theirs_same_id, theirs_other_id):
        assert venue_add(site_dir) == 0
    for foreign in (theirs_same_id, theirs_other_id):
        result = verify_venue_url(signed_url(foreign), ours)
        assert result.signature == "unknown_key" and not result.matches_registry


@pytest.mark.parametrize("url", ["", "https://entry.example.vn/", "not a url at all ?n=1&k=&h=&s=",
                                 "https://x/v/hq/v?n=1&k=AAAAAA&h=AAAA&s=AAAA", "https://x/v/hq/v?" + "n=1&" * 2000,
                                 "https://x/v/HQ/../v?n=1&k=AAAAAA&h=" + "A" * 24 + "&s=" + "A" * 86])
def test_malformed_urls_are_bad_not_crashes(tmp_path: Path, url: str) -> None:
    site_dir = make_site(tmp_path)
    result = verify_venue_url(url, site_dir)
    assert (result.signature, result.matches_registry, result.venue) == ("bad", False, None)
