"""The whole report lifecycle in a real headless Chromium, in Vietnamese and in English: the citizen scans a
board (the URL `entryscan-provision poster` printed), reports with a photo and gets a receipt; the officer logs
in, sends the report to the commune and answers; the receipt page shows the answer; the citizen rates it.

Every page touched is screenshot on a desktop and a 412 px phone (build/screenshots/), has no horizontal
overflow on either, and no serious or critical axe-core violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.citizens.conftest import Office
from tests.support.browser import (
    axe_violations,
    browser_available,
    make_driver,
    page_overflows,
    screenshot,
    set_viewport,
    wait,
)
from tests.support.citizens import NAME, VENUE, has_gps, jpeg_with_gps
from tests.support.collector_web import PASSWORD

pytestmark = pytest.mark.skipif(not browser_available(), reason="chromium/chromium-driver not installed (CI has them)")

ANSWER = {"vi": "Đã yêu cầu cơ sở kiểm tra mã QR của mọi khách từ hôm nay.",
          "en": "The venue was told to check every visitor's QR code from today."}
TEXT = {"vi": "Nhân viên không quét mã QR của khách.", "en": "Nobody checks the QR codes at the door."}


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    d = make_driver()
    yield d
    d.quit()


def look(driver: Any, name: str, lang: str) -> None:
    """Screenshots on both screens; on each, no sideways scrolling and no serious/critical axe finding."""
    for screen in ("desktop", "phone"):
        set_viewport(driver, screen)
        screenshot(driver, name, lang, screen)
        assert not page_overflows(driver), (name, lang, screen)
        assert axe_violations(driver) == [], (name, lang, screen)
    set_viewport(driver, "desktop")


def by_id(driver: Any, element: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element)


def citizen_reports(driver: Any, office: Office, lang: str, photo: Path) -> str:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(office.board)
    if lang == "en":  # the board's page opens in the site's language (vi); the visitor switches
        driver.find_element(By.CSS_SELECTOR, 'nav.lang a[lang="en"]').click()
        wait(driver, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    assert by_id(driver, "verdict").get_attribute("class") == "ok"
    look(driver, "venue", lang)
    by_id(driver, "category-not_checking").click()
    by_id(driver, "report-text").send_keys(TEXT[lang])
    by_id(driver, "report-contact").send_keys("nguyen.van.a@example.vn")
    # A photo over the bound is caught before anything is sent: the page stays, with what was typed.
    huge = photo.with_name("huge.jpg")
    huge.write_bytes(b"\xff\xd8" + b"\0" * (8 * 1024 * 1024 + 1))
    by_id(driver, "report-photo").send_keys(str(huge))
    by_id(driver, "report-send").click()
    assert by_id(driver, "photo-too-large").is_displayed() and by_id(driver, "report-text").get_attribute(
        "value") == TEXT[lang]
    look(driver, "venue-photo-too-large", lang)
    by_id(driver, "report-photo").send_keys(str(photo))
    assert not by_id(driver, "photo-too-large").is_displayed()
    by_id(driver, "report-send").click()
    wait(driver, lambda d: d.find_elements(By.ID, "receipt-code"))
    look(driver, "receipt-new", lang)
    return str(by_id(driver, "receipt-code").text)


def officer_answers(driver: Any, office: Office, lang: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{office.base}/login")
    look(driver, "login", lang)
    by_id(driver, "username").send_keys("operator")
    by_id(driver, "password").send_keys(PASSWORD)
    by_id(driver, "login").click()
    # The office's first page: the venue is among the premises showing signs of violation (an open report).
    wait(driver, lambda d: d.current_url == f"{office.base}/")
    assert driver.find_elements(By.CSS_SELECTOR, f'li.premises[data-venue="{VENUE}"]')
    driver.get(f"{office.base}/map")
    assert driver.find_elements(By.CSS_SELECTOR, f'#venue-list li[data-name="{NAME}"]')
    driver.get(f"{office.base}/reports")
    look(driver, "reports", lang)
    driver.find_element(By.CSS_SELECTOR, "#reports-body tr.report a").click()
    wait(driver, lambda d: d.find_elements(By.ID, "assign-form"))
    assert wait(driver, lambda d: d.execute_script(
        "const i = document.querySelector('#report-photo img'); return i.complete && i.naturalWidth > 0"))
    assert by_id(driver, "assign-commune").get_attribute("value") == "Phường Bến Thành"  # the venue's own
    look(driver, "report", lang)
    by_id(driver, "assign-send").click()
    wait(driver, lambda d: d.find_element(By.ID, "report-status").get_attribute("data-code") == "assigned")
    answer = by_id(driver, "answer-text")
    answer.clear()
    answer.send_keys(ANSWER[lang])
    by_id(driver, "answer-send").click()
    wait(driver, lambda d: d.find_element(By.ID, "report-status").get_attribute("data-code") == "answered")
    look(driver, "report-answered", lang)
    by_id(driver, "logout").click()
    wait(driver, lambda d: d.current_url.endswith("/login"))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_citizen_reports_officer_answers_citizen_rates(driver: Any, office: Office, lang: str,
                                                        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    photo = tmp_path / "IMG_20261203_0815.jpg"
    photo.write_bytes(jpeg_with_gps())
    receipt = citizen_reports(driver, office, lang, photo)
    (report,) = office.store.reports()
    assert (report["category"], report["body"], report["status"]) == ("not_checking", TEXT[lang], "received")
    stored = office.store.report_photo(report["id"])
    assert stored is not None and not has_gps(stored[1]) and report["place_lat"] is None

    officer_answers(driver, office, lang)

    driver.get(f"{office.base}/r")
    look(driver, "lookup", lang)
    by_id(driver, "receipt-input").send_keys(receipt.lower())
    by_id(driver, "lookup-send").click()
    wait(driver, lambda d: d.find_elements(By.ID, "answer"))
    assert ANSWER[lang] in by_id(driver, "answer").text
    assert by_id(driver, "receipt-status").get_attribute("data-code") == "answered"
    look(driver, "receipt-answered", lang)
    by_id(driver, "rating-5").click()
    by_id(driver, "rate-send").click()
    wait(driver, lambda d: d.find_elements(By.ID, "rated"))
    look(driver, "receipt-rated", lang)
    assert office.store.report(report["id"])["rating"] == 5  # type: ignore[index]
    history = [e["action"] for e in office.store.report_events(report["id"])]
    assert history == ["received", "assigned", "answered", "rated"]
    # The pages a citizen meets when something is wrong: a forged board (no form), an unknown receipt code.
    driver.get(office.board[:-4] + ("AAAA" if not office.board.endswith("AAAA") else "BBBB"))
    assert by_id(driver, "verdict").get_attribute("class") == "warn" and by_id(driver, "no-report")
    look(driver, "venue-forged", lang)
    driver.get(f"{office.base}/r/0000-0000-0000")
    assert by_id(driver, "verdict").get_attribute("class") == "error"
    look(driver, "receipt-not-found", lang)
