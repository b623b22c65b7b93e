"""A NUL (``%00``) in the board's report form, as a tool or a hostile page posts it, on both stores.

PostgreSQL refuses NUL in a text column, so before the store refused it a ``%00`` reached the database and
the citizen got an error without a page; now it is a styled 400 that keeps what was typed (without the NUL,
which no page can carry) and stores nothing.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.citizens.conftest import Office, serve_office
from tests.support.citizens import multipart, post_report
from tests.support.collector_web import form_token, new_opener, request


@pytest.fixture
def office(tmp_path: Path, db_url: str) -> Iterator[Office]:
    """The office on SQLite, then on PostgreSQL (the one that refuses NUL itself)."""
    yield from serve_office(tmp_path, db_url)


def _post(office: Office, fields: dict[str, str], *, urlencoded: bool) -> tuple[int, str]:
    """Post the board's form with its token, as ``application/x-www-form-urlencoded`` (``%00``) or multipart."""
    opener = new_opener()
    request(f"{office.base}/lang/en", opener=opener)
    token = form_token(request(office.board, opener=opener)[2].decode(), "/v/")
    if urlencoded:
        body, kind = urllib.parse.urlencode({**fields, "csrf": token}).encode(), "application/x-www-form-urlencoded"
        assert b"%00" in body
    else:
        body, kind = multipart({**fields, "csrf": token})
    status, _, page = post_report(office.board, {}, opener=opener, body=body, content_type=kind, lang=None)
    return status, page.decode()


@pytest.mark.parametrize("urlencoded", [True, False], ids=["urlencoded", "multipart"])
@pytest.mark.parametrize(("field", "typed", "kept"), [
    ("text", "Bảng QR\x00 bị che\r\nkhuất", "Bảng QR bị che\r\nkhuất"),
    ("contact", "0901\x00234567", "0901234567"),
])
def test_a_nul_is_refused_on_a_page_that_keeps_the_rest(office: Office, caplog: pytest.LogCaptureFixture,
                                                        urlencoded: bool, field: str, typed: str, kept: str) -> None:
    fields = {"category": "other", "text": "Không thấy bảng QR", "contact": "a@b.vn", field: typed}
    with caplog.at_level(logging.INFO):
        status, page = _post(office, fields, urlencoded=urlencoded)
    assert status == 400, page[:300]
    assert 'class="error" id="notice"' in page and 'id="report-form"' in page  # the board's own page, styled
    assert "\x00" not in page
    assert "characters that cannot be stored" in page
    if field == "text":
        assert re.search(r'<textarea name="text"[^>]*>Bảng QR bị che\r?\nkhuất</textarea>', page), kept
        assert 'value="a@b.vn"' in page
    else:
        assert f'value="{kept}"' in page and ">Không thấy bảng QR</textarea>" in page
    assert 'value="other" id="category-other" required checked' in page
    assert office.store.reports() == []
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]
