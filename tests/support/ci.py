"""In CI a test skipped for a missing tool is a failure (a pytest plugin, registered by ``tests/conftest.py``).

Locally a machine without PostgreSQL, Chromium or mosquitto skips those groups and says why; in CI
(``CI`` set, as ``.ci/run`` does) the same skip would let a whole group pass unrun, so it fails instead.
A skip is "for a missing tool" when its reason says something is not installed (every such skip in the
suite says so: "mosquitto binary not installed", "PostgreSQL not installed", "chromium/chromium-driver not
installed", "psycopg not installed", ...). Other skips (a test that needs root, or not root) stay skips.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from typing import Any

import pytest

MISSING_TOOL = re.compile(r"\bnot installed\b", re.IGNORECASE)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = skip_reason(report)
    if MISSING_TOOL.search(reason):
        report.outcome = "failed"
        report.longrepr = f"CI: skipped for a missing tool, which CI must have: {reason}"
