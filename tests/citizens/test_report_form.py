"""The board page's report form over HTTP: a photo made safe, bad uploads, forged boards, CSRF, the limits."""

from __future__ import annotations

import io
import logging
import socket

import pytest
from PIL import Image

from entryscan.collector.citizens import ReportLimits
from entryscan.collector.web.app import WebSettings, parse_proxies
from tests.citizens.conftest import Office
from tests.support.citizens import GPS, has_gps, jpeg_with_gps, multipart, post_report
from tests.support.collector_web import new_opener, request

TEXT = "Bảng QR bị che khuất"


def receipt_of(office: Office, status: int, headers: object) -> str:
    assert status == 303, status
    location = str(headers["Location"])  # type: ignore[index]
    assert location.startswith("/r/") and location.endswith("?new=1")
    return location[3:-6]


def test_a_report_with_a_photo_keeps_no_exif_or_place(office: Office) -> None:
    photo = jpeg_with_gps()
    assert has_gps(photo)
    status, headers, _ = post_report(office.board, {"category": "not_checking", "text": TEXT,
                                                    "contact": "0901 234 567"}, ("IMG_1.jpg", "image/jpeg", photo))
    receipt = receipt_of(office, status, headers)
    (report,) = office.store.reports()
    assert (report["category"], report["body"], report["contact"], report["board_version"]) == (
        "not_checking", TEXT, "0901 234 567", 1)
    assert report["place_lat"] is None and report["photo_bytes"] > 0
    mime, stored = office.store.report_photo(report["id"]) or ("", b"")
    assert mime == "image/jpeg" and not has_gps(stored) and b"PhoneMaker" not in stored
    page = request(f"{office.base}/r/{receipt}?new=1")[2].decode()
    assert receipt in page and 'id="receipt-code"' in page


def test_sharing_the_place_keeps_only_the_position(office: Office) -> None:
    status, headers, _ = post_report(office.board, {"category": "wrong_place", "share_place": "1"},
                                     ("IMG_2.jpg", "image/jpeg", jpeg_with_gps()))
    receipt_of(office, status, headers)
    (report,) = office.store.reports()
    assert report["place_lat"] == pytest.approx(GPS[0], abs=1e-4)
    assert report["place_lon"] == pytest.approx(GPS[1], abs=1e-4)
    assert not has_gps((office.store.report_photo(report["id"]) or ("", b""))[1])


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 200).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(("photo", "status", "message"), [
    (("notes.jpg", "image/jpeg", b"this is not a picture at all" * 10), 400, "could not be read"),
    (("huge.png", "image/png", _png((7000, 6000))), 413, "too large"),  # 42 megapixels, a few kB
    (("big.jpg", "image/jpeg", b"\xff\xd8" + b"\0" * (8 * 1024 * 1024)), 413, "too large"),  # over 8 MiB
    (("page.txt", "text/plain", b"hello"), 415, "could not be read"),  # not sent as a picture
])
def test_a_bad_photo_is_an_error_that_keeps_the_text(office: Office, photo: tuple[str, str, bytes], status: int,
                                                     message: str) -> None:
    answer, _, body = post_report(office.board, {"category": "other", "text": TEXT, "contact": "a@b.vn"}, photo)
    page = body.decode()
    assert answer == status and 'class="error" id="notice"' in page and message in page
    assert f">{TEXT}</textarea>" in page and 'value="a@b.vn"' in page and 'value="other" id="category-other"' \
        ' required checked' in page
    assert office.store.reports() == []


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_malformed_bodies_are_refused_and_logged_without_traceback(office: Office,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = office.board.split(office.base, 1)[1]
    body, kind = multipart({"category": "other", "text": TEXT})
    with caplog.at_level(logging.INFO):
        for data, headers, expect in (
            (body[:-30], {"Content-Type": kind}, 400),  # truncated: no closing boundary
            (body.replace(b"--\r\n", b"\r\n"), {"Content-Type": kind}, 400),
            (b"garbage" * 10, {"Content-Type": "multipart/form-data; boundary=x"}, 400),
            (b'{"text": "x"}', {"Content-Type": "application/json"}, 415),
            (b"x", {"Content-Type": "multipart/form-data"}, 400),  # no boundary
        ):
            assert post_report(office.board, {}, body=data, content_type=headers["Content-Type"])[0] == expect
        over = 8 * 1024 * 1024 + 65 * 1024
        answer = _raw(office.web.port, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                      f"Content-Length: {over}\r\n\r\n".encode() + body)
        assert answer.startswith(b"HTTP/1.1 413 ") and b"connection: close" in answer.lower()
    assert office.store.reports() == []
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


def test_many_parts_and_two_photos_are_refused(office: Office) -> None:
    fields = {f"f{i}": "x" for i in range(20)}
    assert post_report(office.board, {"category": "other", "text": TEXT, **fields})[0] == 400
    one, kind = multipart({"category": "other"}, {"photo": ("a.jpg", "image/jpeg", jpeg_with_gps())}, "b0undary")
    photo_part = one[one.index(b'--b0undary\r\nContent-Disposition: form-data; name="photo"'):one.rindex(b"--b0undary--")]
    two = one.replace(b"--b0undary--", photo_part + b"--b0undary--")
    assert post_report(office.board, {}, body=two, content_type=kind)[0] == 400
    assert office.store.reports() == []


def test_a_forged_board_takes_no_report(office: Office) -> None:
    forged = office.board[:-3] + ("AAA" if not office.board.endswith("AAA") else "BBB")
    page = request(forged)[2].decode()
    assert 'id="no-report"' in page and 'id="report-form"' not in page
    # A token from the genuine page does not make the forged URL's post a report.
    opener = new_opener()
    request(f"{office.base}/lang/en", opener=opener)
    genuine = request(office.board, opener=opener)[2].decode()
    token = genuine.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    body, kind = multipart({"category": "other", "text": TEXT, "csrf": token})
    status, _, answer = request_raw(forged, body, kind, opener)
    assert status == 403 and "not opened from a genuine board" in answer.decode()
    unsigned = office.board.split("?", 1)[0]
    assert request_raw(unsigned, body, kind, opener)[0] == 403
    assert office.store.reports() == []


def request_raw(url: str, body: bytes, kind: str, opener: object) -> tuple[int, object, bytes]:
    import urllib.error
    import urllib.request

    origin = url.split("/v/", 1)[0]
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": kind, "Origin": origin})
    try:
        with opener.open(req, timeout=10) as resp:  # type: ignore[attr-defined]
            return int(resp.status), resp.headers, bytes(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), err.headers, bytes(err.read())


def test_cross_site_and_tokenless_posts_are_refused(office: Office) -> None:
    body, kind = multipart({"category": "other", "text": TEXT})
    assert request_raw(office.board, body, kind, new_opener())[0] == 403  # no token
    status, _, page = post_report(office.board, {"category": "other", "text": TEXT},
                                  headers={"Origin": "https://evil.example"})
    assert status == 403 and f">{TEXT}</textarea>" in page.decode()
    assert office.store.reports() == []


def test_limits_per_address_per_board_and_storage(office: Office) -> None:
    for _ in range(3):
        receipt_of(office, *post_report(office.board, {"category": "no_board"})[:2])
    status, _, page = post_report(office.board, {"category": "other", "text": "one too many"})
    assert status == 429 and "Too many reports from here" in page.decode() and ">one too many</textarea>" in page.decode()
    app = office.web.server.app
    app.settings = WebSettings(trusted_proxies=parse_proxies(["127.0.0.1"]))
    app.report_limits = ReportLimits(per_board=4)
    answers = [post_report(office.board, {"category": "no_board"}, headers={"X-Forwarded-For": f"192.0.2.{i}"})
               for i in range(2)]
    assert [a[0] for a in answers] == [303, 429]
    assert "many reports just now" in answers[1][2].decode()
    app.report_limits = ReportLimits(max_reports=4)
    status, _, page = post_report(office.board, {"category": "no_board"}, headers={"X-Forwarded-For": "192.0.2.9"})
    assert status == 503 and "cannot be stored" in page.decode()
    assert len(office.store.reports()) == 4


def test_uploads_at_once_are_bounded(office: Office) -> None:
    app = office.web.server.app
    taken = [app.uploads.acquire(blocking=False) for _ in range(16)]
    assert all(taken)
    try:
        status, headers, page = post_report(office.board, {"category": "other", "text": TEXT})
        assert status == 503 and headers["Retry-After"] == "60" and headers["Connection"] == "close"
        assert 'class="error" id="notice"' in page.decode() and "try again in a minute" in page.decode()
    finally:
        for _ in taken:
            app.uploads.release()
    assert post_report(office.board, {"category": "other", "text": TEXT})[0] == 303


def test_photos_decoded_at_once_are_bounded(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    from entryscan.collector.web import citizen

    monkeypatch.setattr(citizen, "PHOTO_WAIT_S", 0.2)
    app = office.web.server.app
    taken = [app.photo_slots.acquire(blocking=False) for _ in range(2)]
    try:
        status, _, page = post_report(office.board, {"category": "other", "text": TEXT},
                                      ("a.jpg", "image/jpeg", jpeg_with_gps()))
        assert status == 503 and f">{TEXT}</textarea>" in page.decode()
    finally:
        for _ in taken:
            app.photo_slots.release()
    assert post_report(office.board, {"category": "other", "text": TEXT},
                       ("a.jpg", "image/jpeg", jpeg_with_gps()))[0] == 303
