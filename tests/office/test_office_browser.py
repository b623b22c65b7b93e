"""Every page of the collector in Chromium, in Vietnamese and English, on a desktop and a 412 px phone:
axe-core finds no serious or critical violation, nothing scrolls sideways on the phone, and each page is
saved as build/screenshots/<page>-<lang>-<screen>.png. The map is also tested with a tile server on
loopback (the CSP lets its tiles in), without one, and with one that does not answer (names stay shown)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entryscan.collector.rules import RuleSettings
from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.web.app import WebSettings
from entryscan.collector.web.mapview import TileSettings
from tests.office.office_site import Office, fill, make_site, operator_pages, public_pages
from tests.support.browser import (
    axe_violations,
    browser_available,
    make_driver,
    page_overflows,
    screenshot,
    set_viewport,
    wait,
)
from tests.support.browser import login as login_as
from tests.support.collector_web import PASSWORD, WebUnderTest
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.skipif(not browser_available(), reason="chromium/chromium-driver not installed (CI has them)")
# A 1x1 PNG: every tile the loopback tile server hands out.
TILE = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8"
                     "cfc0f01f0005000201a5e4b9d40000000049454e44ae426082")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    d = make_driver()
    yield d
    d.quit()


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Office, WebUnderTest, StoreBase]]:
    root = tmp_path_factory.mktemp("office")
    office = make_site(root)
    store = open_store(root / "c.db")
    fill(store)
    web = WebUnderTest(root, store, office.sites,
                       settings=WebSettings(rules=RuleSettings(offline_s=0), map_tiles=TileSettings("", "")))
    yield office, web, store
    web.stop()
    store.close()


def settle(driver: Any, name: str) -> None:
    if name == "map":  # Leaflet replaces the plain map once its script ran
        wait(driver, lambda d: d.execute_script("return !!document.querySelector('#map.leaflet-container')"))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_page_passes_axe_fits_a_phone_and_is_screenshotted(driver: Any, office: Any, lang: str) -> None:
    site, web, _ = office
    login(driver, web.base)
    driver.get(f"{web.base}/lang/{lang}?next=/")
    problems: list[str] = []
    pages = operator_pages() + public_pages(site, web.base)
    for screen in ("desktop", "phone"):
        set_viewport(driver, screen)
        for name, path in pages:
            driver.get(web.base + path)
            settle(driver, name)
            assert driver.execute_script("return document.documentElement.lang") == lang, (name, path)
            problems += [f"{name} {screen}: axe {v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
                         for v in axe_violations(driver)]
            if screen == "phone" and page_overflows(driver):
                problems.append(f"{name} phone: wider than 412 px")
            screenshot(driver, name, lang, screen)
    set_viewport(driver, "desktop")
    assert not problems, "\n".join(problems)


class _Tiles(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(TILE)))
        self.end_headers()
        self.wfile.write(TILE)

    def log_message(self, *args: Any) -> None:
        pass


def map_with(driver: Any, tmp_path: Path, office: Any, tiles: TileSettings) -> WebUnderTest:
    site, _, store = office
    web = WebUnderTest(tmp_path, store, site.sites, settings=WebSettings(map_tiles=tiles))
    login(driver, web.base)
    driver.get(f"{web.base}/map")
    settle(driver, "map")
    return web


def circles_drawn(driver: Any) -> int:
    """Venue circles with an area on screen (a CSS rule once sized Leaflet's own SVG away: none showed)."""
    return int(driver.execute_script(
        "const box = document.getElementById('map').getBoundingClientRect();"
        "return Array.from(document.querySelectorAll('#map path.leaflet-interactive')).filter(p => {"
        "const r = p.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;"
        "return r.width >= 10 && x > box.left && x < box.right && y > box.top && y < box.bottom"
        " && document.elementFromPoint(x, y) === p}).length"))


def test_the_map_loads_tiles_from_the_configured_server(driver: Any, tmp_path: Path, office: Any) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        web = map_with(driver, tmp_path, office, TileSettings(f"http://127.0.0.1:{port}/{{z}}/{{x}}/{{y}}.png",
                                                               "Test tiles"))
        try:
            wait(driver, lambda d: d.execute_script("return document.querySelectorAll('img.leaflet-tile-loaded')"
                                                    ".length") > 0)
            assert "Test tiles" in driver.find_element("css selector", ".leaflet-control-attribution").text
            # With tiles the names show on hover only; the five placed venues are circles on the map.
            assert circles_drawn(driver) == 5
            assert driver.execute_script("return document.querySelectorAll('.leaflet-tooltip').length") == 0
        finally:
            web.stop()
    finally:
        server.shutdown()


@pytest.mark.parametrize("reachable", [False, True], ids=["tile-server-down", "no-tile-server"])
def test_without_tiles_the_points_are_placed_with_their_names(driver: Any, tmp_path: Path, office: Any,
                                                              reachable: bool) -> None:
    tiles = TileSettings("", "") if reachable else TileSettings(f"http://127.0.0.1:{free_port()}/{{z}}/{{x}}/{{y}}.png")
    web = map_with(driver, tmp_path, office, tiles)
    try:
        names = wait(driver, lambda d: d.execute_script(
            "const t = Array.from(document.querySelectorAll('.leaflet-tooltip')).map(e => e.textContent);"
            "return t.length === 5 ? t : null"))
        assert sorted(names) == sorted(["UBND Phường Bến Nghé", "Thư viện Quận 1", "Nhà thi đấu", "Chợ Bến Thành",
                                        "Công viên 23/9"])
        assert driver.execute_script("return document.querySelectorAll('img.leaflet-tile-loaded').length") == 0
        assert circles_drawn(driver) == 5
    finally:
        web.stop()


def login(driver: Any, base: str) -> None:
    login_as(driver, base, PASSWORD)
