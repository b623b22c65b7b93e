"""scripts/install-pi.sh in a fake root: apt-get, systemctl, useradd, usermod, getent, chown and python3 are
recording stubs on PATH; install, cmp, chmod and mv are real. What only a Pi shows is in the README."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.paths import REPO
from tests.support.fakepi import FakePi, make_bundle

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install-pi.sh insists on root")


def test_install_places_the_bundle_user_venv_and_unit(tmp_path: Path) -> None:
    pi, bundle = FakePi(tmp_path), make_bundle(tmp_path, "door-1")
    done = pi.install(bundle)
    assert done.returncode == 0, done.stderr
    modes = {p.name: p.stat().st_mode & 0o777 for p in pi.etc.iterdir()}
    assert modes == {"config.toml": 0o640, "ca.pem": 0o640, "device.pem": 0o640, "issuer.pub": 0o640,
                     "lists.pub": 0o640, "badges.txt": 0o640, "device.key": 0o600, "site.key": 0o600}
    assert pi.etc.stat().st_mode & 0o777 == 0o750
    for name in modes:
        assert (pi.etc / name).read_bytes() == (bundle / name).read_bytes()
    calls = pi.calls()
    assert ("apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends python3-picamera2 python3-lgpio"
            " python3-venv libzbar0") in calls
    assert any(c.startswith("useradd --system") and c.endswith(" entryscan") for c in calls)
    assert "usermod -a -G video entryscan" in calls and not any("gpio" in c for c in calls if "usermod" in c)
    assert f"python3 -m venv --system-site-packages {pi.root}/opt/entryscan/venv" in calls
    assert f"pip install --quiet -c {REPO}/constraints.txt entryscan[pi] @ file://{REPO}" in calls
    assert f"chown entryscan:entryscan {pi.etc}/device.key" in calls
    assert f"chown root:entryscan {pi.etc}/config.toml" in calls
    unit = pi.root / "etc" / "systemd" / "system" / "entryscan.service"
    assert unit.read_bytes() == (REPO / "systemd" / "entryscan.service").read_bytes()
    assert calls[-4:] == ["systemctl daemon-reload", "systemctl enable entryscan.service", "sync",
                          "systemctl restart --no-block entryscan.service"]


def test_everything_is_on_the_card_before_the_stamp_and_the_start(tmp_path: Path) -> None:
    """A power cut 23 s after an install (the virtual door's) found the keys, certificates and unit at length 0."""
    pi, bundle = FakePi(tmp_path), make_bundle(tmp_path, "door-1")
    assert pi.install(bundle).returncode == 0
    calls = pi.calls()
    assert not [c for c in calls if "missing" in c], calls  # each flush named a file that was there
    for name in ("config.toml", "ca.pem", "device.pem", "issuer.pub", "lists.pub", "badges.txt", "device.key",
                 "site.key"):
        assert f"sync -- {pi.etc}/{name}.new" in calls, name  # flushed before its rename into place
    unit = pi.root / "etc" / "systemd" / "system" / "entryscan.service"
    assert f"sync -- {unit}.new" in calls
    pip = next(i for i, c in enumerate(calls) if c.startswith("pip install"))
    stamp = calls.index(f"sync -- {pi.root}/opt/entryscan/installed.new")
    assert "sync" in calls[pip:stamp]  # the venv flushed before the stamp says it is installed
    start = calls.index("systemctl restart --no-block entryscan.service")
    assert calls[start - 1] == "sync" and calls.index("systemctl enable entryscan.service") < start - 1


def test_install_is_idempotent(tmp_path: Path) -> None:
    pi, bundle = FakePi(tmp_path), make_bundle(tmp_path, "door-1")
    assert pi.install(bundle).returncode == 0
    before = pi.snapshot()
    again = pi.install(bundle)
    assert again.returncode == 0, again.stderr
    assert pi.snapshot() == before  # not a byte, mode or mtime changed
    calls = pi.calls()
    assert not any(c.startswith(("useradd", "python3")) for c in calls)  # user and venv exist already
    assert calls[-2:] == ["sync", "systemctl start --no-block entryscan.service"]  # nothing changed: no restart


def test_bookworm_installs_with_the_bookworm_constraints(tmp_path: Path) -> None:
    # constraints.txt pins numpy 2, which would shadow the system numpy Bookworm's picamera2 is built against.
    pi = FakePi(tmp_path, codename="bookworm")
    done = pi.install(make_bundle(tmp_path, "door-1"))
    assert done.returncode == 0, done.stderr
    assert f"pip install --quiet -c {REPO}/constraints-bookworm.txt entryscan[pi] @ file://{REPO}" in pi.calls()


def test_a_different_key_is_never_overwritten(tmp_path: Path) -> None:
    pi = FakePi(tmp_path)
    assert pi.install(make_bundle(tmp_path, "door-1")).returncode == 0
    key = (pi.etc / "device.key").read_bytes()
    other = pi.install(make_bundle(tmp_path, "door-2"))
    assert other.returncode == 1 and "not overwriting a key" in other.stderr
    assert (pi.etc / "device.key").read_bytes() == key


def test_a_csr_bundle_needs_the_key_made_on_the_device(tmp_path: Path) -> None:
    from entryscan.device.cli.main import main as entryscan

    pi, blank_pi, other_pi = FakePi(tmp_path / "pi"), FakePi(tmp_path / "blank"), FakePi(tmp_path / "other")
    for fake in (pi, other_pi):
        fake.etc.mkdir(parents=True)
        csr = fake.root / "door-3.csr"
        assert entryscan(["csr", "--device", "door-3", "--key", str(fake.etc / "device.key"), "--out", str(csr)]) == 0
    bundle = make_bundle(tmp_path, "door-3", "--csr", str(pi.root / "door-3.csr"))
    refused = blank_pi.install(bundle)
    assert refused.returncode == 1 and "run entryscan csr on this device first" in refused.stderr
    mismatched = other_pi.install(bundle)
    assert mismatched.returncode == 1 and "not a certificate for" in mismatched.stderr
    assert not (other_pi.etc / "device.pem").exists()
    key = (pi.etc / "device.key").read_bytes()
    done = pi.install(bundle)
    assert done.returncode == 0, done.stderr
    assert (pi.etc / "device.key").read_bytes() == key and (pi.etc / "device.pem").exists()
    assert f"chown entryscan:entryscan {pi.etc}/device.key" in pi.calls()  # made by root, used by the service


def test_an_incomplete_bundle_is_refused_before_anything_is_installed(tmp_path: Path) -> None:
    pi, bundle = FakePi(tmp_path), make_bundle(tmp_path, "door-1")
    (bundle / "lists.pub").unlink()
    refused = pi.install(bundle)
    assert refused.returncode == 1 and "lists.pub is missing" in refused.stderr
    assert pi.calls() == [] and not pi.root.exists()
