"""The dashboard and the public venue page in a real headless Chromium (Debian's chromium + chromium-driver)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entryscan.collector.site import SiteInfo, load_site
from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.web.auth import hash_password
from tests.support.browser import browser_available, make_driver, wait
from tests.support.browser import login as login_as
from tests.support.collector_web import PASSWORD, WebUnderTest
from tests.support.events import entry
from tests.support.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.skipif(not browser_available(), reason="chromium/chromium-driver not installed (CI has them)")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    d = make_driver()
    yield d
    d.quit()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreBase]:
    s = open_store(tmp_path / "c.db")
    yield s
    s.close()


def login(driver: Any, base: str) -> None:
    login_as(driver, base, PASSWORD)
    driver.get(f"{base}/fleet")


def test_operator_page_refuses_without_login(driver: Any, tmp_path: Path, store: StoreBase) -> None:
    from selenium.webdriver.common.by import By

    web = WebUnderTest(tmp_path, store)
    try:
        driver.delete_all_cookies()
        driver.get(f"{web.base}/fleet")
        assert driver.current_url == f"{web.base}/login"
        assert driver.find_elements(By.ID, "password") and not driver.find_elements(By.ID, "fleet-body")
        driver.get(f"{web.base}/api/fleet")
        assert "login required" in driver.page_source
    finally:
        web.stop()


def test_dashboard_lists_doors_and_shows_a_new_entry_without_reload(driver: Any, tmp_path: Path,
                                                                    store: StoreBase) -> None:
    from selenium.webdriver.common.by import By

    for n in range(1, 4):
        store.ingest(f"entryscan/hq/door-{n}/status", b"online")
        store.ingest(f"entryscan/hq/door-{n}/entry", entry(1, device=f"door-{n}"))
    web = WebUnderTest(tmp_path, store)
    try:
        login(driver, web.base)
        rows = driver.find_elements(By.CSS_SELECTOR, "#fleet-body tr")
        assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["hq/door-1", "hq/door-2", "hq/door-3"]
        assert all(r.get_attribute("class") == "online" for r in rows)
        driver.execute_script("window.notReloaded = true;")
        wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
        store.ingest("entryscan/hq/door-2/entry", entry(2, device="door-2", reason="not_allowed", decision="deny"))
        web.live.bump()  # what the ingest does after a commit with new events
        wait(driver, lambda d: "Not on the allowed list" in d.find_element(By.ID, "entries-body").text)
        assert driver.execute_script("return window.notReloaded === true;")
        assert "not_allowed" not in driver.find_element(By.TAG_NAME, "main").text  # a human name, not the code
    finally:
        web.stop()


@pytest.fixture
def signed_site(tmp_path: Path) -> Any:
    """A site folder made with the provisioning tools' own manifest and venue signing code."""
    venue_mod = pytest.importorskip("entryscan.provisioning.venue")
    manifest = pytest.importorskip("entryscan.provisioning.manifest")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    site_dir = tmp_path / "site"
    site_dir.mkdir()
    key = ed25519.Ed25519PrivateKey.generate()
    (site_dir / "venues.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    venue = manifest.Venue(id="cho-ben-thanh", name="Chợ Bến Thành", address="Lê Lợi, Quận 1",
                           lat=10.772431, lon=106.698084, opening_hours="Mon-Sun 06:00-22:00")
    (site_dir / "site.toml").write_text(manifest.dumps(manifest.Manifest(site="hq", name="HQ", venues=(venue,))),
                                        encoding="utf-8")
    return site_dir, key, venue, venue_mod


def test_venue_page_genuine_tampered_and_report(driver: Any, tmp_path: Path, store: StoreBase,
                                                signed_site: Any) -> None:
    from selenium.webdriver.common.by import By

    site_dir, key, venue, venue_mod = signed_site
    sites: dict[str, SiteInfo] = {"hq": load_site(site_dir)}
    web = WebUnderTest(tmp_path, store, sites)
    try:
        url = venue_mod.sign_venue_url(web.base, "hq", venue, key)
        driver.delete_all_cookies()
        driver.get(url)
        assert driver.find_element(By.ID, "verdict").get_attribute("class") == "ok"
        assert driver.find_element(By.ID, "venue-name").text == "Chợ Bến Thành"
        forged = url.replace("&s=", "&s=" + ("A" if "&s=A" not in url else "B"), 1)[:len(url)]
        driver.get(forged)
        assert driver.find_element(By.ID, "verdict").get_attribute("class") == "warn"
        assert "NOT genuine" in driver.find_element(By.ID, "verdict").text
        assert not driver.find_elements(By.ID, "report-form")  # a forged board takes no report
        driver.get(url)
        driver.find_element(By.ID, "category-cannot_scan").click()
        driver.find_element(By.ID, "report-text").send_keys("Bảng QR bị rách, không quét được")
        driver.find_element(By.ID, "report-send").click()
        wait(driver, lambda d: d.find_elements(By.ID, "receipt-code"))
        assert [r["body"] for r in store.reports()] == ["Bảng QR bị rách, không quét được"]
    finally:
        web.stop()


def test_dashboard_of_a_serving_collector_lists_simulated_doors_live(driver: Any, tmp_path: Path,
                                                                      mosquitto: Mosquitto) -> None:
    """The whole path: simulated doors -> broker -> `entryscan-collector serve` -> Chromium, no reload."""
    from selenium.webdriver.common.by import By

    (tmp_path / "users").write_text(f"operator:{hash_password(PASSWORD)}\n")
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "entryscan.collector", "serve", "--url", mosquitto.url,
                              "--db", str(tmp_path / "c.db"), "--http", f"127.0.0.1:{port}", "--users",
                              str(tmp_path / "users"), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)

    def simulate(devices: int, events: int) -> None:
        done = subprocess.run([sys.executable, "-m", "entryscan.collector", "simulate", "--url", mosquitto.url,
                               "--devices", str(devices), "--events", str(events), "--drain-timeout", "60"],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]

    try:
        assert serve.stderr is not None
        for line in serve.stderr:
            if "collector: subscribed" in line:
                break
        simulate(3, 6)
        base = f"http://127.0.0.1:{port}"
        login(driver, base)
        doors = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#fleet-body tr a")]
        assert doors == ["sim/sim-0001", "sim/sim-0002", "sim/sim-0003"]
        driver.execute_script("window.notReloaded = true;")
        before = len(driver.find_elements(By.CSS_SELECTOR, "#entries-body tr"))
        simulate(1, 1)
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#entries-body tr")) == before + 1)
        assert driver.execute_script("return window.notReloaded === true;")
    finally:
        serve.terminate()
        serve.wait(15)
