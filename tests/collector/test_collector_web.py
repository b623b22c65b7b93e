"""The collector's HTTP side without a browser: login, API shapes, bounds, the venue report form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from entryscan.collector.site import SiteInfo, load_site
from entryscan.collector.store import StoreBase
from entryscan.collector.web.auth import Auth, hash_password, verify_password
from tests.support.citizens import sign_board
from tests.support.collector_web import (
    PASSWORD,
    TOKEN,
    WebUnderTest,
    api,
    logged_in_opener,
    post_form,
    request,
)
from tests.support.events import TOPIC, alert, entry

SITE_TOML = """
[site]
format = 1
site = "hq"
name = "HQ"

[[venues]]
id = "canteen"
name = "Căng tin"
address = "1 Lê Lợi"
lat = 10.7724
lon = 106.6981
opening_hours = "Mon-Sun 00:00-24:00"

[[devices]]
id = "door-1"
door = "main"
venue = "canteen"
"""


@pytest.fixture
def sites(tmp_path: Path) -> dict[str, SiteInfo]:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "site.toml").write_text(SITE_TOML, encoding="utf-8")
    return {"hq": load_site(site_dir)}


@pytest.fixture
def web(tmp_path: Path, store: StoreBase, sites: dict[str, SiteInfo]) -> Iterator[WebUnderTest]:
    w = WebUnderTest(tmp_path, store, sites)
    yield w
    w.stop()


def test_password_hashes() -> None:
    stored = hash_password("secret password")
    assert verify_password("secret password", stored) and not verify_password("secret passworD", stored)
    assert not verify_password("x", "scrypt:garbage") and not verify_password("x", "scrypt:1048577:8:1:AA==:AA==")


def test_nothing_operator_facing_without_login(web: WebUnderTest) -> None:
    for path in ("/", "/fleet", "/reports", "/compliance", "/device/hq/door-1", "/chart/hq/door-1.svg"):
        status, headers, _ = request(web.base + path)
        assert (status, headers.get("Location")) == (303, "/login"), path
    for path in ("/api/fleet", "/api/entries", "/api/alerts?open=1", "/api/quarantine", "/api/reports",
                 "/api/events"):
        assert request(web.base + path)[0] == 401, path
        assert request(web.base + path, headers={"Authorization": "Bearer wrong-token-123456"})[0] == 401
    status, _, body = request(web.base + "/healthz")
    assert status == 200 and json.loads(body) == {"ok": True, "db": "ok"}


def test_login_sets_a_strict_httponly_cookie_and_wrong_passwords_fail(web: WebUnderTest) -> None:
    status, headers, _ = post_form(f"{web.base}/login", {"username": "operator", "password": PASSWORD})
    cookie = headers["Set-Cookie"]
    assert status == 303 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert post_form(f"{web.base}/login", {"username": "operator", "password": "nope"})[0] == 401
    assert post_form(f"{web.base}/login", {"username": "nobody", "password": PASSWORD})[0] == 401
    opener = logged_in_opener(web.base)
    status, _, body = request(f"{web.base}/fleet", opener=opener)
    assert status == 200 and b"Live entries" in body


def test_api_documents(web: WebUnderTest, store: StoreBase) -> None:
    store.ingest(f"{TOPIC}/status", b"online")
    for seq in (1, 2, 4):
        store.ingest(f"{TOPIC}/entry", entry(seq, decision="deny" if seq == 2 else "accept"))
    store.ingest(f"{TOPIC}/alert", alert("tamper"))
    store.ingest(f"{TOPIC}/entry", b"garbage")
    store.raise_alert("clock_unsynced", "hq", "door-1", "x")
    (dev,) = api(web.base, "/api/fleet")["devices"]
    assert {k: dev[k] for k in ("site", "device", "door", "status", "entries", "accepts", "denies", "missing",
                                "open_alerts")} == {"site": "hq", "device": "door-1", "door": "main",
                                                    "status": "online", "entries": 3, "accepts": 2, "denies": 1,
                                                    "missing": 1, "open_alerts": 1}
    assert dev["last_entry_ts"] == "2026-11-28T18:00:00.123Z"
    assert [e["seq"] for e in api(web.base, "/api/entries?site=hq&device=door-1&limit=2")["entries"]] == [4, 2]
    # The rules' alerts, then the doors' own open problems (the tamper alert, not followed by tamper_cleared).
    assert [(a["source"], a["rule"]) for a in api(web.base, "/api/alerts?open=1")["alerts"]] == [
        ("rule", "clock_unsynced"), ("door", "tamper")]
    quarantine = api(web.base, "/api/quarantine")
    assert quarantine["count"] == 1 and quarantine["recent"][0]["reason"] == "bad_json"
    assert api(web.base, "/api/reports") == {"reports": [], "next_before": None}
    assert request(f"{web.base}/api/entries?limit=99999", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 400


def test_device_chart_is_svg(web: WebUnderTest, store: StoreBase) -> None:
    store.ingest(f"{TOPIC}/entry", entry(1))
    status, headers, body = request(f"{web.base}/chart/hq/door-1.svg", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and headers["Content-Type"] == "image/svg+xml" and body.startswith(b"<svg")


def test_device_page_counts_decisions_by_reason(web: WebUnderTest, store: StoreBase) -> None:
    for seq, (decision, reason) in enumerate([("deny", "expired"), ("accept", "ok"), ("deny", "expired")], 1):
        store.ingest(f"{TOPIC}/entry", entry(seq, decision=decision, reason=reason))
    status, _, body = request(f"{web.base}/device/hq/door-1", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    page = body.decode()
    assert '<tr class="reason" data-decision="deny" data-reason="expired"><td>Refused</td><td>Expired</td><td>2</td>' in page
    assert '<tr class="reason" data-decision="accept" data-reason="ok"><td>Accepted</td><td>Valid</td><td>1</td>' in page


def test_oversized_body_is_refused(web: WebUnderTest, sites: dict[str, SiteInfo]) -> None:
    status, headers, _ = post_form(sign_board(sites["hq"].directory, web.base, "canteen"), {"text": "x" * 20_000})
    assert status == 413 and headers["Connection"] == "close"


def test_report_form_stores_and_rate_limits(web: WebUnderTest, store: StoreBase, sites: dict[str, SiteInfo]) -> None:
    url = sign_board(sites["hq"].directory, web.base, "canteen")
    # A post of the first form's fields only (text and contact, no category) is still a report: "other".
    assert post_form(url, {"text": ""})[0] == 400
    assert post_form(url, {"text": "x" * 1001})[0] == 400
    for i in range(3):
        status, headers, _ = post_form(url, {"text": f"Bảng QR bị che {i}", "contact": "0901 234 567"})
        assert status == 303 and headers["Location"].startswith("/r/")
        status, _, body = request(web.base + headers["Location"])
        assert status == 200 and "your report was received" in body.decode()
    status, _, body = post_form(url, {"text": "one too many", "contact": "0902 345 678"})
    page = body.decode()
    # The refusal is styled as an error and keeps what the citizen typed (it was green and lost the text).
    assert status == 429 and 'class="error" id="notice"' in page and ">one too many</textarea>" in page
    assert 'value="0902 345 678"' in page
    assert [r["body"] for r in store.reports()] == ["Bảng QR bị che 2", "Bảng QR bị che 1", "Bảng QR bị che 0"]
    assert request(url.replace("canteen", "nowhere"), data={"text": "x"})[0] == 404


def test_auth_needs_users_or_token(tmp_path: Path) -> None:
    assert Auth.from_files(None, None).login("a", "b") is None


def test_pages_escape_hostile_fields_and_send_security_headers(web: WebUnderTest, store: StoreBase) -> None:
    store.ingest(f"{TOPIC}/entry", entry(1, reason="<script>alert(1)</script>", door="<b>x</b>"))
    opener = logged_in_opener(web.base)
    status, headers, body = request(f"{web.base}/fleet", opener=opener)
    page = body.decode()
    assert status == 200 and "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_fleet_tells_a_clean_stop_from_a_crash(web: WebUnderTest, store: StoreBase) -> None:
    store.ingest(f"{TOPIC}/status", b"offline")
    store.ingest(f"{TOPIC}/state", json.dumps({"stopped": True}).encode())
    store.ingest("entryscan/hq/door-2/status", b"offline")  # the last will: no stopped state
    statuses = {d["device"]: d["status"] for d in api(web.base, "/api/fleet")["devices"]}
    assert statuses == {"door-1": "stopped", "door-2": "offline"}
