"""In CI a skip for a missing tool fails the run (tests/support/ci.py), a run of pytest on a sample suite.

Before: with mosquitto, PostgreSQL or Chromium missing, whole groups skipped and CI passed; and only a reason
saying "not installed" counted, so ``importorskip("yaml")``, the schemathesis test ("is in the dev extra") and the
2,000-idle-connections test (a low open-file limit) still skipped quietly in CI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO

SAMPLE = '''
import pytest

from tests.support.ci import needs_tool, tool_skipif

def test_needs_mosquitto():
    pytest.skip("mosquitto binary not installed (apt-get install mosquitto); CI installs it")

@pytest.fixture
def cluster():
    pytest.skip("PostgreSQL not installed (apt-get install postgresql); CI installs it")

def test_needs_postgres(cluster):
    pass

@pytest.mark.skipif(True, reason="chromium/chromium-driver not installed (CI has them)")
def test_needs_chromium():
    pass

@pytest.mark.skipif(True, reason="install-pi.sh insists on root")
def test_needs_root():
    pass

def test_needs_yaml():
    pytest.importorskip("entryscan_no_such_module")

def test_needs_a_newer_pytest():
    pytest.importorskip("pytest", minversion="999")

@tool_skipif(True, "schemathesis is in the dev extra")
def test_needs_schemathesis():
    pass

def test_needs_open_files():
    needs_tool("open-file limit 1024 is below what 2,000 connections need on both ends")

@pytest.mark.skipif(True, reason="root ignores file permissions")
def test_needs_no_root():
    pass

@pytest.mark.xfail(reason="known")
def test_known():
    raise AssertionError

def test_plain():
    pass
'''


def _run(tmp_path: Path, ci: str | None) -> tuple[int, dict[str, int]]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.support.ci", "-p", "no:cacheprovider",
                           "-o", "addopts=", str(tmp_path)], check=False, capture_output=True, text=True, env=env,
                          cwd=tmp_path,
                          timeout=120)
    summary = done.stdout.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
    return done.returncode, counts


def test_in_ci_a_skip_for_a_missing_tool_fails(tmp_path: Path) -> None:
    code, counts = _run(tmp_path, "true")
    assert code == 1
    # A skip in a fixture or a skipif mark happens at setup: pytest reports its failure as an error.
    assert counts == {"failed": 4, "errors": 3, "passed": 1, "skipped": 2, "xfailed": 1}, counts


def test_outside_ci_it_stays_a_skip(tmp_path: Path) -> None:
    for ci in (None, "", "false", "0"):
        code, counts = _run(tmp_path, ci)
        assert code == 0 and counts == {"passed": 1, "skipped": 9, "xfailed": 1}, (ci, counts)


# Every skip in the suite that is not for a tool, and why it is legitimate in CI (CI runs as root, on no Pi):
NOT_A_TOOL = {
    "os.geteuid() != 0": "needs root: CI runs as root, so it runs there",
    "no Home Assistant root": "the ha marker, deselected by default; scripts/test-ha.sh sets the root and fails without",
    "pytest.skip(reason)": "tests/vm's _cannot_run: deselected by default; ENTRYSCAN_VM_REQUIRED=1 fails instead",
    "_cannot_run(": "tests/vm (the same)",
    "needs a Raspberry Pi": "hw_tests: on a Pi only",
    "no relay configured": "hw_tests: the Pi's config has no relay",
    "no [relay] pin configured": "hw_tests: the Pi's config has no relay",
    'os.environ.get("ENTRYSCAN_VM_ARM64")': "tests/vm/test_arm64.py: scenario 8 runs alone when asked for (vm marker)",
    "(root needed)": "tests/support/fullfs.py, off root only: as root a failed mount is needs_tool",
}
TOOL = ("needs_tool(", "tool_skipif(", "importorskip(", "not installed")
SKIP_CALL = re.compile(r"pytest\.skip\(|mark\.skipif\(|mark\.skip\(|importorskip\(|_cannot_run\(")


def test_every_skip_in_the_suite_is_for_a_tool_or_a_known_reason() -> None:
    """A new skip must say which kind it is: for a tool (fails in CI) or one of ``NOT_A_TOOL``."""
    unknown = []
    for top in ("tests", "hw_tests"):
        for path in sorted((REPO / top).rglob("*.py")):
            if path.name in ("ci.py", "test_ci_skips.py") or "fixtures" in path.parts:
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            for n, line in enumerate(lines):
                if not SKIP_CALL.search(line) or line.lstrip().startswith(("#", "def ")):
                    continue
                text = line + lines[n + 1] if n + 1 < len(lines) else line
                if not any(t in text for t in TOOL) and not any(k in text for k in NOT_A_TOOL):
                    unknown.append(f"{path.relative_to(REPO)}:{n + 1}: {line.strip()}")
    assert unknown == []
