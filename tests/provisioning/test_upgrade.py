"""Upgrading an installed door in place with ``scripts/install-pi.sh`` (issue 17, scenario 7; docs/upgrade.md),
in a fake root (tests/support/fakepi.py): config, keys and undelivered rows are kept, the venv gets the new
checkout, the service is restarted once, the new version migrates the journal when it opens it, and a checkout
older than the journal's schema is refused before anything is changed. The virtual door runs the same in QEMU."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from entryscan.device.access.clock import SystemClock
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.journal_schema import SCHEMA_VERSION, file_version
from tests.delivery.test_journal_schema import old_journal
from tests.paths import REPO
from tests.support.fakepi import FakePi, make_bundle

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install-pi.sh insists on root")
SOURCES = ("device", "collector", "provisioning", "systemd", "pyproject.toml", "setup.py", "constraints.txt",
           "constraints-bookworm.txt")


def checkout(tmp: Path, version: str) -> Path:
    """A copy of what install-pi.sh installs from this checkout, calling itself ``version``."""
    src = tmp / f"src-{version}"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(REPO / name, src / name)
    init = src / "device" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "{version}"'))
    return src


def installed_door(tmp: Path) -> tuple[FakePi, Path, Path]:
    """Version 0.1.0 installed with its bundle, and a journal of an earlier layout holding 3 undelivered rows."""
    pi, bundle = FakePi(tmp), make_bundle(tmp, "door-1")
    done = pi.install(bundle, src=checkout(tmp, "0.1.0"))
    assert done.returncode == 0, done.stderr
    journal = pi.root / "var" / "lib" / "entryscan" / "journal.db"  # the bundle config's journal.path
    old_journal(journal, columns=2)
    return pi, bundle, journal


def etc_state(pi: FakePi) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mode) for p in pi.etc.iterdir()}


@pytest.mark.parametrize("how", ["--upgrade", "bundle"])
def test_an_upgrade_keeps_config_keys_and_rows_and_restarts_once(tmp_path: Path, how: str) -> None:
    pi, bundle, journal = installed_door(tmp_path)
    etc, rows = etc_state(pi), journal.read_bytes()
    newer = checkout(tmp_path, "0.2.0")
    done = pi.install(bundle if how == "bundle" else None, src=newer)
    assert done.returncode == 0, done.stderr
    calls = pi.calls()
    assert calls.count("systemctl restart --no-block entryscan.service") == 1
    assert not any("start --no-block" in c and "restart" not in c for c in calls)
    assert [c for c in calls if c.startswith("pip ")] == [
        f"pip install --quiet -c {newer}/constraints.txt entryscan[pi] @ file://{newer}"]
    assert not any(c.startswith(("useradd", "python3")) for c in calls)  # the user and the venv exist
    assert etc_state(pi) == etc  # config and keys: not a byte or mode changed
    assert journal.read_bytes() == rows  # the install leaves the journal to the service
    assert (pi.root / "opt" / "entryscan" / "installed").read_text().startswith("version=0.2.0\n")
    # The new version's first open (the restarted service) migrates it, every undelivered row kept.
    opened = Journal(journal, device="door-1", site="hq", door="main", max_rows=100, clock=SystemClock())
    try:
        assert [r["event_id"] for r in opened.rows()] == ["e1", "e2", "e3"]
    finally:
        opened.close()
    assert file_version(journal) == SCHEMA_VERSION
    again = pi.install(None, src=newer)  # the same checkout once more: nothing to do, no restart
    assert again.returncode == 0 and not any(c.startswith("pip ") for c in pi.calls())
    assert pi.calls()[-1] == "systemctl start --no-block entryscan.service"


def test_going_back_over_a_newer_journal_is_refused_before_anything_changes(tmp_path: Path) -> None:
    pi, bundle, journal = installed_door(tmp_path)
    db = sqlite3.connect(journal)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")  # written by a version newer than this checkout
    db.close()
    before = pi.snapshot()
    for args in ([None], [bundle]):
        refused = pi.install(*args, src=checkout(tmp_path, "0.0.9") if args[0] is None else None)
        assert refused.returncode == 1
        assert f"journal schema {SCHEMA_VERSION + 1}; this checkout knows up to {SCHEMA_VERSION}" in refused.stderr
        assert "refusing to install an older entryscan over a newer journal" in refused.stderr
        assert pi.calls() == []  # no apt, no pip, no systemctl
    assert pi.snapshot() == before


def test_upgrade_needs_an_installed_door(tmp_path: Path) -> None:
    done = FakePi(tmp_path).install(None)
    assert done.returncode == 1 and "no installed door" in done.stderr
