"""Headless Chromium through selenium and Debian's chromium-driver (no browser download)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("ENTRYSCAN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ENTRYSCAN_CHROMEDRIVER", "/usr/bin/chromedriver")


def browser_available() -> bool:
    return os.access(CHROMIUM, os.X_OK) and (os.access(CHROMEDRIVER, os.X_OK) or bool(shutil.which("chromedriver")))


def make_driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER if os.access(CHROMEDRIVER, os.X_OK)
                                                               else shutil.which("chromedriver")))
    driver.set_page_load_timeout(30)
    return driver


# The two screens every page is looked at on: a desktop and a 412 px phone (a Pixel-class width).
VIEWPORTS: dict[str, tuple[int, int]] = {"desktop": (1366, 900), "phone": (412, 915)}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
AXE_JS = Path(__file__).resolve().parents[1] / "data" / "axe-core" / "axe.min.js"


def set_viewport(driver: Any, screen: str) -> None:
    """Size the page's viewport (not the window) so 412 px means 412 CSS pixels, as on the phone."""
    width, height = VIEWPORTS[screen]
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": screen == "phone"})


def screenshot(driver: Any, name: str, lang: str, screen: str) -> Path:
    """Save the whole page as build/screenshots/<name>-<lang>-<screen>.png and return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{lang}-{screen}.png"
    width, _ = VIEWPORTS[screen]
    height = int(driver.execute_script("return Math.max(document.body.scrollHeight, window.innerHeight)"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": min(height, 6000), "deviceScaleFactor": 1, "mobile": screen == "phone"})
    path.write_bytes(driver.get_screenshot_as_png())
    set_viewport(driver, screen)
    return path


def axe_violations(driver: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Run axe-core on the loaded page; return the violations of the given impacts (id, impact, nodes).

    The script is injected through the DevTools protocol, so a page's Content-Security-Policy (which
    allows no inline or foreign script) does not stop it, as it would not stop a browser extension."""
    driver.execute_cdp_cmd("Runtime.evaluate", {"expression": AXE_JS.read_text(encoding="utf-8")})
    result = driver.execute_cdp_cmd("Runtime.evaluate", {
        "expression": "axe.run(document).then(r => JSON.stringify(r.violations))",
        "awaitPromise": True, "returnByValue": True})
    violations: list[dict[str, Any]] = json.loads(result["result"]["value"])
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in violations if v.get("impact") in impacts]


def page_overflows(driver: Any) -> bool:
    """True when the page is wider than its viewport (a phone user would have to scroll sideways)."""
    return bool(driver.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"))


def wait(driver: Any, condition: Any, timeout: float = 15) -> Any:
    """Until ``condition(driver)`` is truthy (its value), at most ``timeout`` seconds. An element of the page
    being left (a form's POST answered by a redirect) is stale, not a failure: the condition is asked again."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, ignored_exceptions=(NoSuchElementException,
                                                              StaleElementReferenceException)).until(condition)


def login(driver: Any, base: str, password: str, user: str = "operator") -> None:
    """Log in on /login as an operator; returns on the office's first page (premises showing signs of violation)."""
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    wait(driver, lambda d: d.current_url == f"{base}/")
