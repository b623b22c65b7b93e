"""Issue 18, "The office's forms": cross-site posts, malformed and oversized requests, login timing, the client
address behind a proxy, the Secure cookie, HEAD, and paging past 1,000 reports."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entryscan.collector.site import SiteInfo, load_site
from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.web.app import WebSettings, parse_proxies
from entryscan.collector.web.auth import Auth, hash_password
from tests.support.citizens import sign_board
from tests.support.collector_web import PASSWORD, TOKEN, WebUnderTest, api, new_opener, post_form, request

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
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreBase]:
    s = open_store(tmp_path / "c.db")
    yield s
    s.close()


@pytest.fixture
def sites(tmp_path: Path) -> dict[str, SiteInfo]:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "site.toml").write_text(SITE_TOML, encoding="utf-8")
    return {"hq": load_site(tmp_path / "site")}


@pytest.fixture
def web(tmp_path: Path, store: StoreBase, sites: dict[str, SiteInfo]) -> Iterator[WebUnderTest]:
    w = WebUnderTest(tmp_path, store, sites)
    yield w
    w.stop()


def raw(port: int, data: bytes, *, source: str = "127.0.0.1", wait_s: float = 5.0) -> bytes:
    """Send ``data`` on one connection and read until the server closes it (or ``wait_s`` of silence)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s, source_address=(source, 0)) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            out += b"<still open>"
        return out


def test_a_cross_site_report_is_refused_and_not_stored(web: WebUnderTest, store: StoreBase,
                                                       sites: dict[str, SiteInfo]) -> None:
    url = sign_board(sites["hq"].directory, web.base, "canteen")
    # What another site's auto-submitting form sends: its own Origin, no token, no es_csrf cookie.
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Referer": "https://evil.example/page"}, {}):
        status, _, body = request(url, data={"text": "spam"}, headers=headers)
        assert status == 403 and b'class="error" id="notice"' in body, headers
    # A valid token does not help a post whose Origin is another site's.
    status, _, _ = post_form(url, {"text": "spam"}, headers={"Origin": "https://evil.example"})
    assert status == 403
    assert store.reports() == []
    assert post_form(url, {"text": "Bảng bị che"})[0] == 303  # the page's own form still works (to its receipt)


def test_login_csrf_is_refused(web: WebUnderTest) -> None:
    """A cross-site form logging the visitor's browser in as the attacker's operator."""
    status, headers, _ = request(f"{web.base}/login", data={"username": "operator", "password": PASSWORD},
                                 headers={"Origin": "https://evil.example"})
    assert status == 403 and "es_session" not in (headers.get("Set-Cookie") or "")
    status, headers, _ = request(f"{web.base}/login", data={"username": "operator", "password": PASSWORD})
    assert status == 403 and "es_session" not in (headers.get("Set-Cookie") or "")  # no token


def test_operator_forms_need_their_token(web: WebUnderTest, store: StoreBase) -> None:
    report_id = store.add_report("hq", "canteen", "x", "", "127.0.0.1")
    opener = new_opener(follow=True)
    post_form(f"{web.base}/login", {"username": "operator", "password": PASSWORD}, opener=opener)
    status, _, _ = request(f"{web.base}/reports/{report_id}/close", data={"csrf": "1.forged"}, opener=opener,
                           headers={"Origin": web.base})
    assert status == 403 and store.reports()[0]["open"]
    status, _, _ = post_form(f"{web.base}/reports/{report_id}", {}, opener=opener,
                             action=f"/reports/{report_id}/close")
    assert status == 200 and not store.reports()[0]["open"]


def test_two_thousand_fields_get_a_400_and_one_log_line(web: WebUnderTest, caplog: pytest.LogCaptureFixture) -> None:
    body = "&".join(f"f{i}=x" for i in range(2000)).encode()
    assert len(body) < 16 * 1024
    with caplog.at_level(logging.INFO):
        answer = raw(web.port, b"POST /v/hq/canteen HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-"
                     b"urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]
    assert any("form fields refused" in r.getMessage() for r in caplog.records)


def _trickled(port: int, parts: list[bytes]) -> bytes:
    """Send ``parts`` one by one with a pause between, so the server reads the head in pieces (incomplete)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for part in parts:
                sock.sendall(part)
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the rest was sent: what it answered is read below
        out = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                out += chunk
        return out


def test_an_over_long_url_or_header_gets_a_4xx_and_one_short_log_line(web: WebUnderTest,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Sent at once, the whole head arrives in one read, which h11's incomplete-event bound never sees."""
    tail = b"Host: x\r\nConnection: close\r\n"
    cases = (
        (b"GET /v/hq/" + b"a" * 100_000 + b" HTTP/1.1\r\n" + tail + b"\r\n", b"414"),
        (b"GET /api/reports?before=" + b"1" * 20_000 + b" HTTP/1.1\r\n" + tail + b"\r\n", b"414"),
        (b"GET /healthz HTTP/1.1\r\n" + tail + b"X-Big: " + b"b" * 40_000 + b"\r\n\r\n", b"431"),
        (b"GET /healthz HTTP/1.1\r\n" + tail + b"".join(b"X-%d: 1\r\n" % i for i in range(500)) + b"\r\n",
         b"431"),
        (b"GET /login HTTP/1.1\r\n" + tail + b"Cookie: es_csrf=" + b"c" * 30_000 + b"\r\n\r\n", b"431"),
    )
    with caplog.at_level(logging.INFO):
        for data, status in cases:
            answer = raw(web.port, data)
            assert answer.startswith(b"HTTP/1.1 " + status + b" "), (data[:60], answer[:200])
            assert b"connection: close" in answer.lower() and not answer.endswith(b"<still open>")
        # The same head sent in pieces is cut off by h11 once 16 KiB stand incomplete: 400 and closed.
        slow = _trickled(web.port, [b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "] + [b"b" * 4096] * 8)
        assert slow.startswith(b"HTTP/1.1 400 ") and b"connection: close" in slow.lower(), slow[:200]
    assert request(f"{web.base}/healthz")[0] == 200  # still serving
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]
    lines = [r.getMessage() for r in caplog.records if r.name != "uvicorn.access"]
    assert len([m for m in lines if "too long" in m or "Invalid HTTP" in m]) == len(cases) + 1, lines
    assert max(len(m) for m in lines) < 400


def test_a_refused_body_closes_the_connection(web: WebUnderTest) -> None:
    """A request hidden in a body refused as too large must never get its own answer on that connection."""
    hidden = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    # Over the forms' bound; over the report form's (which takes a photo); and a report body of a kind
    # it does not read (no multipart Content-Type): each refused before its body is read, then closed.
    for path, length, status in ((b"/login", 20_000, b"413"), (b"/v/hq/canteen", 9 * 1024 * 1024, b"413"),
                                 (b"/v/hq/canteen", 20_000, b"415")):
        answer = raw(web.port, b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path, length)
                     + hidden + b"x" * (20000 - len(hidden)))
        assert answer.startswith(b"HTTP/1.1 " + status) and answer.count(b"HTTP/1.1 ") == 1, (path, answer[:200])
        assert b"connection: close" in answer.lower() and not answer.endswith(b"<still open>")
    chunked = raw(web.port, b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"%x\r\n%s\r\n0\r\n\r\n" % (len(hidden), hidden))
    assert chunked.startswith(b"HTTP/1.1 411 ") and chunked.count(b"HTTP/1.1 ") == 1


def test_a_client_hanging_up_is_no_traceback(web: WebUnderTest, store: StoreBase,
                                             caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(200):
        store.add_report("hq", "canteen", "r" * 900, "", "127.0.0.1")
    with caplog.at_level(logging.DEBUG):
        for path in (b"/api/reports", b"/api/events", b"/fleet"):
            for _ in range(5):
                with socket.create_connection(("127.0.0.1", web.port)) as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                                 % (path, TOKEN.encode()))
        assert api(web.base, "/api/fleet") == {"devices": []}  # still serving
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


def test_login_costs_one_scrypt_run_for_known_and_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = Auth({"operator": hash_password(PASSWORD)})
    runs: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        runs.append(kwargs.get("n", 0))
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)  # the module auth.py calls
    for name in ("operator", "nobody"):
        runs.clear()
        assert auth.login(name, "wrong password") is None
        assert runs == [2**14], name  # one run at the real cost, whichever the name


def _report_as(web: WebUnderTest, client: str) -> int:
    url = sign_board(web.sites["hq"].directory, web.base, "canteen")
    return post_form(url, {"text": "x"}, headers={"X-Forwarded-For": client})[0]


def test_client_address_comes_from_a_trusted_proxy_only(tmp_path: Path, store: StoreBase,
                                                        sites: dict[str, SiteInfo]) -> None:
    web = WebUnderTest(tmp_path, store, sites)  # no trusted proxy: the header is the client's word, ignored
    try:
        assert [_report_as(web, f"198.51.100.{i}") for i in range(4)] == [303, 303, 303, 429]
    finally:
        web.stop()
    web = WebUnderTest(tmp_path, store, sites, settings=WebSettings(trusted_proxies=parse_proxies(["127.0.0.1"])))
    try:
        assert [_report_as(web, f"198.51.100.{i}") for i in range(4)] == [303] * 4
        # A client's own X-Forwarded-For is kept by the proxy in front; the hop the proxy appended counts.
        assert [_report_as(web, f"203.0.113.{i}, 192.0.2.7") for i in range(4)] == [303, 303, 303, 429]
    finally:
        web.stop()
    assert {r["client"] for r in store._dicts("SELECT client FROM citizen_reports", (), ("client",))} >= {
        "127.0.0.1", "198.51.100.3", "192.0.2.7"}


def _session_cookie(web: WebUnderTest, headers: dict[str, str]) -> str:
    status, answer, _ = post_form(f"{web.base}/login", {"username": "operator", "password": PASSWORD},
                                  headers=headers)
    assert status == 303
    return str(answer["Set-Cookie"])


def test_session_cookie_is_secure_behind_the_tls_proxy(tmp_path: Path, store: StoreBase) -> None:
    proxied = WebSettings(trusted_proxies=parse_proxies(["127.0.0.0/8"]))
    web = WebUnderTest(tmp_path, store, settings=proxied)
    try:
        # What the browser sends through the proxy: its https Origin, and the proxy's X-Forwarded-Proto.
        https = {"X-Forwarded-Proto": "https", "Origin": web.base.replace("http:", "https:")}
        assert "; Secure" in _session_cookie(web, https)
        assert "; Secure" not in _session_cookie(web, {})
    finally:
        web.stop()
    web = WebUnderTest(tmp_path, store)  # not a trusted proxy: its X-Forwarded-Proto is not believed
    try:
        assert "; Secure" not in _session_cookie(web, {"X-Forwarded-Proto": "https"})
    finally:
        web.stop()
    web = WebUnderTest(tmp_path, store, settings=WebSettings(secure_cookie="always"))
    try:  # (a client on plain http then never sends the cookies back: "always" is for https-only offices)
        assert "; Secure" in str(request(f"{web.base}/login")[1]["Set-Cookie"])
    finally:
        web.stop()


def test_head_answers_like_get_without_a_body(web: WebUnderTest) -> None:
    answer = raw(web.port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b""
    assert request(f"{web.base}/login", method="HEAD")[0] == 200


def test_reports_beyond_a_thousand_are_reached_by_paging(web: WebUnderTest, store: StoreBase) -> None:
    first = store.add_report("hq", "canteen", "the genuine one", "", "127.0.0.1")
    for i in range(1100):
        store.add_report("hq", "canteen", f"flood {i}", "", "10.0.0.1")
    bodies: list[str] = []
    cursor = ""
    for _ in range(5):
        doc = api(web.base, "/api/reports" + (f"?before={cursor}" if cursor else ""))
        bodies += [r["body"] for r in doc["reports"]]
        if doc["next_before"] is None:
            break
        cursor = doc["next_before"]
    assert len(bodies) == 1101 and bodies[-1] == "the genuine one"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    pages, url = 0, f"{web.base}/reports"
    while True:
        status, _, body = request(url, headers=auth)
        page = body.decode()
        pages += 1
        assert status == 200
        if "the genuine one" in page or 'id="older"' not in page or pages > 20:
            break
        url = web.base + page.split('id="older"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "the genuine one" in page and pages == 12 and first == 1
    assert json.loads(request(f"{web.base}/api/reports?before=x", headers=auth)[2])["error"]
