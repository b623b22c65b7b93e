"""The install lines the README and docs/ give, run as written, as ``pip install --dry-run`` against PyPI.

Before: docs/raspberry-pi.md had Bookworm add ``numpy<2`` to an install with constraints.txt, which pins
numpy==2.4.6: ``ResolutionImpossible``, so the documented Bookworm install could not work. A door's lines resolve
for the Pi (arm64, wheels only, Python 3.13 for Trixie and 3.11 for Bookworm), the others for this machine.

Needs PyPI (pip's own configuration and indexes of this machine are left out, so the answer is PyPI's): without
the network the test fails and says so; it never skips.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.network
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# The Pi's platform tags (pip takes them literally: every manylinux level a wheel may carry).
PI_PLATFORMS = ["manylinux_2_36_aarch64", "manylinux_2_34_aarch64", "manylinux_2_31_aarch64",
                "manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64",
                "manylinux2014_aarch64", "linux_aarch64"]
WEB = {"starlette", "uvicorn", "jinja2", "babel", "prometheus-client"}


def documented_installs() -> list[tuple[str, str]]:
    """(page, line) for every ``pip install`` of entryscan inside a fenced shell block of the pages."""
    found: dict[str, str] = {}  # one run per distinct line (the README repeats the Pi page's)
    for page in PAGES:
        for block in re.findall(r"^```sh\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL):
            for line in block.splitlines():
                if "pip install" in line and "entryscan[" in line:
                    found.setdefault(line.strip(), page.name)
    return [(page, line) for line, page in found.items()]


def _argv(line: str) -> tuple[list[str], str]:
    """The line's pip arguments (after ``install``) with $PWD as this checkout, and its trailing comment."""
    command, _, comment = line.partition("#")
    words = shlex.split(command.replace("$PWD", str(REPO)))
    return words[words.index("install") + 1:], comment.strip()


def _target(args: list[str], comment: str) -> list[str]:
    extras = re.search(r"entryscan\[([^\]]*)\]", " ".join(args))
    assert extras is not None
    if not {"pi", "door"} & set(extras.group(1).split(",")):
        return []  # the office's server, a laptop: this machine will do
    python = "3.11" if "Bookworm" in comment else "3.13"
    abi = "cp" + python.replace(".", "")
    flags = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp", "--abi", abi,
             "--abi", "abi3", "--abi", "none"]
    return flags + [f"--platform={p}" for p in PI_PLATFORMS]


def _require_pypi() -> None:
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
    except OSError as exc:
        pytest.fail(f"this test needs PyPI (pypi.org:443) and cannot reach it: {exc}")


@pytest.fixture(scope="module")
def pip_env() -> dict[str, str]:
    _require_pypi()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def test_the_pages_document_an_install_for_each_machine() -> None:
    lines = [line for _, line in documented_installs()]
    assert any("Bookworm" in line and "constraints-bookworm.txt" in line for line in lines)
    assert any("Trixie" in line and "-c constraints.txt" in line for line in lines)
    for extra in ("entryscan[pi]", "entryscan[collector,postgres]", "entryscan[provision]"):
        assert any(extra in line for line in lines), extra
    assert not any("numpy<2" in line for line in lines)


@pytest.mark.parametrize(("page", "line"), documented_installs(), ids=lambda v: str(v)[:60])
def test_a_documented_install_resolves(page: str, line: str, pip_env: dict[str, str], tmp_path: Path) -> None:
    args, comment = _argv(line)
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report), *_target(args, comment), *args]
    done = subprocess.run(command, cwd=REPO, env=pip_env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{page}: {line}\n{done.stderr[-3000:]}"
    chosen = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    if "[pi]" in line:
        assert not WEB & set(chosen), chosen  # a door brings no web stack
        # Bookworm keeps the system's numpy (the version Debian 12 ships), Trixie's venv gets the pinned one.
        assert chosen["numpy"] == ("1.24.2" if "Bookworm" in comment else "2.4.6")
