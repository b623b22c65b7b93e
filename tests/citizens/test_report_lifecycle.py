"""A report's lifecycle over HTTP: the receipt page and its bounds, the office's list, page, photo and state
changes (who and when), the rating, and the JSON API's new fields."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from entryscan.collector.store.reports import NewReport
from tests.citizens.conftest import Office, serve_office
from tests.support.citizens import jpeg_with_gps, post_report
from tests.support.collector_web import TOKEN, api, logged_in_opener, new_opener, post_form, request


@pytest.fixture
def office(tmp_path: Path, db_url: str) -> Iterator[Office]:
    """The office on SQLite, then on PostgreSQL (the store's report queries are dialect-neutral)."""
    yield from serve_office(tmp_path, db_url)


def file(office: Office, category: str = "no_board", photo: bool = False) -> str:
    status, headers, _ = post_report(office.board, {"category": category, "text": "Không thấy bảng QR"},
                                     ("a.jpg", "image/jpeg", jpeg_with_gps()) if photo else None)
    assert status == 303
    return str(headers["Location"]).split("?")[0][3:]


def english(office: Office) -> object:
    opener = new_opener()
    request(f"{office.base}/lang/en", opener=opener)
    return opener


def test_receipt_page_shows_state_and_times_in_the_site_zone(office: Office) -> None:
    receipt = file(office)
    report = office.store.reports()[0]
    status, _, body = request(f"{office.base}/r/{receipt}")
    page = body.decode()
    assert status == 200 and '<html lang="vi">' in page and 'data-code="received">Đã nhận' in page
    utc = report["created_at"]  # ISO UTC; the page shows it in Asia/Ho_Chi_Minh (UTC+7), dd/mm/yyyy HH:MM
    hour = (int(utc[11:13]) + 7) % 24
    assert re.search(rf"\d\d/\d\d/\d{{4}} {hour:02d}:{utc[14:16]}", page)
    assert "0901" not in page and "127.0.0.1" not in page  # never the contact or the address
    # Typed in lower case with spaces, the code still finds its page (canonical URL).
    assert request(f"{office.base}/r?code={receipt.lower().replace('-', '+')}")[1]["Location"] == f"/r/{receipt}"


def test_receipt_lookups_are_bounded(office: Office) -> None:
    receipt = file(office)
    assert request(f"{office.base}/r/0000-0000-0000")[0] == 404
    assert request(f"{office.base}/r/not-a-code")[0] == 404
    assert request(f"{office.base}/r?code=xyz")[0] == 400
    for _ in range(8):
        assert request(f"{office.base}/r/ZZZZ-ZZZZ-ZZZZ")[0] == 404
    # Ten misses from one address: that address is refused, even for a real code, for a while.
    assert request(f"{office.base}/r/{receipt}")[0] == 429
    assert request(f"{office.base}/r/{receipt}/rate", data={"rating": "5"})[0] == 429


def test_officer_assigns_answers_and_closes_and_the_citizen_rates(office: Office) -> None:
    receipt = file(office, photo=True)
    (report,) = office.store.reports()
    page = f"{office.base}/reports/{report['id']}"
    assert request(page)[0] == 303 and request(f"{page}/photo")[0] == 303  # login first, photo included
    officer = logged_in_opener(office.base)
    status, headers, photo = request(f"{page}/photo", opener=officer)
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and photo.startswith(b"\xff\xd8")
    citizen = english(office)
    rate = f"{office.base}/r/{receipt}"
    assert 'id="rate-form"' not in request(rate, opener=citizen)[2].decode()  # nothing to rate yet
    assert post_form(page, {"commune": "Phường Bến Thành"}, opener=officer, action=f"/reports/{report['id']}/assign")[0] == 200
    assert post_form(page, {"answer": ""}, opener=officer, action=f"/reports/{report['id']}/answer")[0] == 400
    answer = "Đã yêu cầu cơ sở treo bảng QR trước ngày 05/12."
    assert post_form(page, {"answer": answer}, opener=officer, action=f"/reports/{report['id']}/answer")[0] == 200
    receipt_page = request(rate, opener=citizen)[2].decode()
    assert answer in receipt_page and 'data-code="answered"' in receipt_page and 'id="rate-form"' in receipt_page
    assert post_form(rate, {"rating": "6"}, opener=citizen, action=f"/r/{receipt}/rate")[0] == 400
    assert post_form(rate, {"rating": "4"}, opener=citizen, action=f"/r/{receipt}/rate")[0] == 303
    assert office.store.report(report["id"])["rating"] == 4  # type: ignore[index]
    assert "You rated the answer 4 of 5." in request(rate, opener=citizen)[2].decode()
    assert post_form(page, {}, opener=officer, action=f"/reports/{report['id']}/close")[0] == 200
    events = office.store.report_events(report["id"])
    assert [(e["actor"], e["action"]) for e in events] == [
        ("citizen", "received"), ("operator", "assigned"), ("operator", "answered"), ("citizen", "rated"),
        ("operator", "closed")]
    office_page = request(page, opener=officer)[2].decode()
    assert office_page.count('<tr class="event"') == 5 and 'id="answer-form"' not in office_page


def test_a_closed_report_refuses_changes_and_forms_need_their_token(office: Office) -> None:
    receipt = file(office)
    (report,) = office.store.reports()
    page = f"{office.base}/reports/{report['id']}"
    officer = logged_in_opener(office.base)
    token_page = request(page, opener=officer)[2].decode()
    token = token_page.split(f'action="/reports/{report["id"]}/answer"', 1)[1].split('value="', 1)[1].split('"')[0]
    assert request(f"{page}/answer", data={"answer": "x", "csrf": "1.forged"}, opener=officer,
                   headers={"Origin": office.base})[0] == 403
    assert request(f"{page}/answer", data={"answer": "x", "csrf": token}, opener=officer,
                   headers={"Origin": "https://evil.example"})[0] == 403
    assert office.store.report(report["id"])["answer"] is None  # type: ignore[index]
    office.store.close_report(report["id"], "operator")
    status, _, body = request(f"{page}/answer", data={"answer": "late", "csrf": token}, opener=officer,
                              headers={"Origin": office.base})
    assert status == 409 and 'class="error" id="notice"' in body.decode()
    receipt_page = request(f"{office.base}/r/{receipt}", opener=english(office))[2].decode()
    assert "closed this report without a public answer" in receipt_page and 'id="rate-form"' not in receipt_page


def test_a_flood_at_one_board_does_not_hide_the_others(office: Office) -> None:
    file(office, "not_checking")
    for i in range(151):
        office.store.file_report(NewReport("hq", "flooded", "no_board", f"flood {i}", "", f"10.0.{i // 250}.{i % 250}"))
    officer = logged_in_opener(office.base)
    first = request(f"{office.base}/reports", opener=officer)[2].decode()
    assert "Không thấy bảng QR" not in first and 'id="older"' in first  # one page of the newest: the flood
    # Where the open reports come from, most first, each a link to its venue's reports.
    by_venue = first.split('id="by-venue"')[1].split("</details>")[0]
    assert by_venue.index("hq/flooded</a>: 151") < by_venue.index("Chợ Bến Thành</a>: 1")
    link = by_venue.split("Chợ Bến Thành")[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "Không thấy bảng QR" in request(office.base + link, opener=officer)[2].decode()
    only = request(f"{office.base}/reports?venue=hq/cho-ben-thanh", opener=officer)[2].decode()
    assert only.count('<tr class="report') == 1 and "Không thấy bảng QR" in only
    # Paging keeps the filter: the second page of "received" is still "received" only, and older.
    received = request(f"{office.base}/reports?state=received", opener=officer)[2].decode()
    older = received.split('id="older"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "state=received" in older and "before=" in older
    rest = request(office.base + older, opener=officer)[2].decode()
    assert rest.count('<tr class="report') == 52 and 'id="older"' not in rest


def test_the_api_exposes_the_lifecycle(office: Office) -> None:
    file(office, photo=True)
    (report,) = api(office.base, "/api/reports")["reports"]
    assert {k: report[k] for k in ("category", "status", "commune", "answer", "rating", "board_version")} == {
        "category": "no_board", "status": "received", "commune": "", "answer": None, "rating": None,
        "board_version": 1}
    assert report["photo_bytes"] > 0 and "client" not in report and "receipt" not in report
    assert api(office.base, "/api/reports?status=answered")["reports"] == []
    assert len(api(office.base, "/api/reports?site=hq&venue=cho-ben-thanh")["reports"]) == 1
    # A filter longer than described is refused, not silently cut (schemathesis found it was a 200).
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert request(f"{office.base}/api/reports?commune={'x' * 201}", headers=auth)[0] == 400
    assert request(f"{office.base}/api/reports?venue={'x' * 65}", headers=auth)[0] == 400
    schema = api(office.base, "/api/openapi.json")["paths"]["/api/reports"]["get"]
    fields = schema["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["reports"]["items"]
    assert {"category", "status", "commune", "answer", "rating", "photo_bytes", "place_lat"} <= set(
        fields["properties"])
    assert {"status", "commune", "venue"} <= {p["name"] for p in schema["parameters"]}
    # Every report the API gives, answered and rated included, matches the published description.
    officer = logged_in_opener(office.base)
    page = f"{office.base}/reports/{report['id']}"
    post_form(page, {"answer": "Đã xử lý."}, opener=officer, action=f"/reports/{report['id']}/answer")
    office.store.rate_report(office.store._rows("SELECT receipt FROM citizen_reports")[0][0], 2)
    body = schema["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator(body).validate(api(office.base, "/api/reports"))
    jsonschema.Draft202012Validator(body).validate(api(office.base, "/api/reports?status=received"))
