"""Headless Chromium through selenium and Debian's chromium-driver (no browser download)."""

from __future__ import annotations

import os
import shutil
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
