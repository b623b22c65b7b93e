"""In CI a test skipped for a missing tool is a failure (a pytest plugin, registered by ``tests/conftest.py``).

Locally a machine without PostgreSQL, Chromium or mosquitto skips those groups and says why; in CI
(``CI`` set, as ``.ci/run`` does) the same skip would let a whole group pass unrun, so it fails instead.
A skip is "for a missing tool" when its reason

- says something is not installed ("mosquitto binary not installed", "PostgreSQL not installed", ...);
- is ``pytest.importorskip``'s ("could not import 'yaml': ..."): a Python package of the dev extra is missing;
- was made by :func:`needs_tool` or :func:`tool_skipif` (they add ``CI_MUST_HAVE``): for anything else CI has
  and a laptop may lack (schemathesis, an open-file limit for 2,000 connections, a tmpfs mount as root).

Other skips stay skips in CI: a test that needs root (or not root), a Raspberry Pi (hw_tests), QEMU (tests/vm,
which fail instead with ``ENTRYSCAN_VM_REQUIRED=1``). ``tests/test_ci_skips.py`` lists every skip in the suite
and holds each to one of the two kinds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from typing import Any, NoReturn

import pytest

CI_MUST_HAVE = "(CI must have it)"
# importorskip's two reasons: "could not import 'x': ..." and "module 'x' has __version__ '1', required is: '2'".
MISSING_TOOL = re.compile(r"\bnot installed\b|\bcould not import '|, required is: '|" + re.escape(CI_MUST_HAVE),
                          re.IGNORECASE)


def needs_tool(reason: str) -> NoReturn:
    """Skip here for something CI must have: locally a skip with ``reason``, in CI a failure."""
    pytest.skip(f"{reason} {CI_MUST_HAVE}")


def tool_skipif(condition: bool, reason: str) -> pytest.MarkDecorator:
    """``pytest.mark.skipif`` for something CI must have (a failure in CI, as ``needs_tool``)."""
    return pytest.mark.skipif(condition, reason=f"{reason} {CI_MUST_HAVE}")


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
