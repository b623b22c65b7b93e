"""schemathesis (its command line, as an operator would run it) against the live collector's own
/api/openapi.json: every answer matches the description, and requests the description calls invalid are
refused, with a bounded number of generated requests per operation.

What it found, fixed: ``open=AAA`` and ``open=`` were answered 200 as if ``open=0``, and ``before=`` as if
absent (``parse_qs`` drops blank values); now each is a 400 the description lists."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from entryscan.collector.store import open_store
from tests.office.office_site import fill, make_site
from tests.support.ci import tool_skipif
from tests.support.collector_web import TOKEN, WebUnderTest, request

EXAMPLES = 40  # per operation: enough to find what is wrong without minutes of CPU on a shared machine
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[WebUnderTest]:
    office = make_site(tmp_path)
    store = open_store(tmp_path / "c.db")
    fill(store)
    web = WebUnderTest(tmp_path, store, office.sites)
    yield web
    web.stop()
    store.close()


@tool_skipif(not SCHEMATHESIS.exists(), "schemathesis is in the dev extra")
def test_schemathesis_finds_nothing_in_the_api(live: WebUnderTest, tmp_path: Path) -> None:
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "HOME": str(tmp_path)}  # no user config, no reports left about
    done = subprocess.run([str(SCHEMATHESIS), "run", f"{live.base}/api/openapi.json", "--max-examples",
                           str(EXAMPLES), "--seed", "16", "--header", f"Authorization: Bearer {TOKEN}",
                           "--generation-database", "none", "--no-color"],
                          check=False, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "5/5" in done.stdout  # every operation was tested


@pytest.mark.parametrize("query", ["/api/alerts?open=AAA", "/api/alerts?open=", "/api/reports?before=",
                                   "/api/reports?open=2", "/api/entries?limit="])
def test_what_the_description_calls_invalid_is_refused(live: WebUnderTest, query: str) -> None:
    status, _, body = request(live.base + query, headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 400 and b'"error"' in body


def test_an_unknown_blank_parameter_is_ignored(live: WebUnderTest) -> None:
    status, _, _ = request(f"{live.base}/api/fleet?open=", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
