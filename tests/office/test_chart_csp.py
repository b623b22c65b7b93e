"""The charts under the office's Content-Security-Policy (issue 18: "the CSP blocks the chart's inline style,
so its bars render black"): the SVG carries its colours as presentation attributes, the CSP allows no inline
style, and in Chromium the pages with a chart report no CSP violation and the bars are drawn in their colour."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.web.chart import BAR, Labels, bar_chart
from tests.office.office_site import DAY, Office, fill, make_site
from tests.support.browser import browser_available, make_driver, wait
from tests.support.browser import login as login_as
from tests.support.collector_web import PASSWORD, TOKEN, WebUnderTest, request

SVG = "{http://www.w3.org/2000/svg}"
CHART_PAGES = (f"/premises/q1/ubnd-ben-nghe?day={DAY}", "/device/q1/door-1",
               f"/violations/print?commune=Ph%C6%B0%E1%BB%9Dng%20B%E1%BA%BFn%20Ngh%C3%A9&day={DAY}")
# Registered through DevTools before any page script, so it hears violations raised while the page is parsed
# (a listener the page added itself would miss those, and the CSP lets no inline script add one).
LISTEN = ("window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push("
          "e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sample || '')));")


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Office, WebUnderTest]]:
    root = tmp_path_factory.mktemp("office")
    site = make_site(root)
    store: StoreBase = open_store(root / "c.db")
    fill(store)
    web = WebUnderTest(root, store, site.sites)
    yield site, web
    web.stop()
    store.close()


def _colour(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_the_svg_has_no_inline_style_and_every_bar_its_fill() -> None:
    start = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    series = [(start + dt.timedelta(hours=i), i % 5) for i in range(24)]
    svg = bar_chart(series, "t", zone=dt.UTC, labels=Labels("t"), open_spans=[(1.0, 9.0)])
    root = ET.fromstring(svg)
    elements = list(root.iter())
    assert not [e.tag for e in elements if e.tag == f"{SVG}style" or "style" in e.attrib]
    bars = [e for e in elements if e.get("class") == "bar"]
    assert len(bars) == 24 and {b.get("fill") for b in bars} == {BAR}


def test_no_page_allows_inline_style(office: tuple[Office, WebUnderTest]) -> None:
    _, web = office
    for path in (*CHART_PAGES, "/chart/q1/door-1.svg", f"/?day={DAY}", "/map", "/login", "/fleet"):
        status, headers, body = request(web.base + path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, path
        policy = str(headers["Content-Security-Policy"])
        styles = re.search(r"(?:^|;)\s*style-src ([^;]*)", policy)
        assert styles is not None and "'unsafe-inline'" not in styles[1] and "'unsafe-hashes'" not in styles[1]
        assert "style-src-attr" not in policy and "style-src-elem" not in policy, path
        assert b"<svg" in body or path not in CHART_PAGES, path


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    if not browser_available():
        pytest.skip("chromium/chromium-driver not installed (CI has them)")
    d = make_driver()
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LISTEN})
    yield d
    d.quit()


def _violations(driver: Any) -> list[str]:
    found = driver.execute_script("return window.__csp === undefined ? null : window.__csp")
    return ["the listener did not run"] if found is None else list(found)


def test_in_chromium_the_bars_are_coloured_and_no_csp_violation(driver: Any,
                                                                office: tuple[Office, WebUnderTest]) -> None:
    _, web = office
    login_as(driver, web.base, PASSWORD)
    for path in CHART_PAGES:
        driver.get(web.base + path)
        wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
        fills = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg rect.bar')).map(r => getComputedStyle(r).fill)")
        assert fills and set(fills) == {_colour(BAR)}, (path, set(fills))
        assert _violations(driver) == [], path
    # The listener hears what the chart once did: an inline <style> in the page is refused and reported.
    driver.execute_script("document.body.insertAdjacentHTML('beforeend', "
                          "'<svg><style>rect.bar { fill: red }</style></svg>')")
    wait(driver, lambda d: _violations(d))
    assert _violations(driver)[0].startswith("style-src")
