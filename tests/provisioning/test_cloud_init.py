"""First boot through cloud-init (issues 7, 17, 18): the shipped vendor-data runs against a fake root holding a
boot partition as Raspberry Pi Imager and the technician leave it (tests/support/imager_seed.py). It must need no
network and never wait: secrets off the FAT partition at once, then the retrying installer unit started with
--no-block (tests/provisioning/test_firstboot.py runs that unit's script)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.paths import REPO
from tests.support.fakepi import FakePi, make_bundle
from tests.support.imager_seed import VENDOR_DATA, write_seed

CLOUD_INIT = REPO / "provisioning" / "cloud-init"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="vendor-data installs files owned by root (CI runs as root)")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def seeded(tmp_path: Path, *, drop: str | None = None) -> tuple[FakePi, Path]:
    """A fake Pi whose boot partition carries Imager's files, vendor-data, a bundle and the source tree."""
    pi = FakePi(tmp_path)
    bundle = make_bundle(tmp_path, "door-1")
    if drop:
        (bundle / drop).unlink()
    folder = write_seed(pi.root / "boot" / "firmware", bundle, link_src=True)
    return pi, folder


def run_vendor_data(pi: FakePi) -> subprocess.CompletedProcess[str]:
    pi.log.write_text("")
    return subprocess.run(["sh", str(pi.root / "boot" / "firmware" / "vendor-data")],
                          env={**pi.env, "ROOT": str(pi.root)}, capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture
def first_boot(tmp_path: Path) -> tuple[FakePi, Path]:
    pi, folder = seeded(tmp_path)
    done = run_vendor_data(pi)
    assert done.returncode == 0, done.stdout + done.stderr
    return pi, folder


def test_secrets_leave_the_boot_partition_at_once(first_boot: tuple[FakePi, Path]) -> None:
    pi, folder = first_boot
    state = pi.root / "var" / "lib" / "entryscan-firstboot"
    assert mode(state) == 0o700 and mode(state / "bundle") == 0o700
    for secret in ("device.key", "site.key"):
        assert not (folder / secret).exists()
        assert mode(state / "bundle" / secret) == 0o600
    assert (state / "bundle" / "config.toml").read_bytes() == (folder / "config.toml").read_bytes()


def test_the_installer_unit_is_started_without_blocking_and_nothing_waits_for_the_network(
        first_boot: tuple[FakePi, Path]) -> None:
    pi, _ = first_boot
    assert [c for c in pi.calls() if not c.startswith("sync ")] == ["systemctl daemon-reload", "systemctl enable entryscan-firstboot.service",
                          "systemctl start --no-block entryscan-firstboot.service"]  # no apt-get, no pip
    unit = pi.root / "etc" / "systemd" / "system" / "entryscan-firstboot.service"
    assert unit.read_bytes() == (REPO / "systemd" / "entryscan-firstboot.service").read_bytes()
    script = pi.root / "usr" / "local" / "sbin" / "entryscan-firstboot"
    assert script.read_bytes() == (CLOUD_INIT / "firstboot.sh").read_bytes() and mode(script) == 0o755


def test_what_imager_wrote_is_left_alone(tmp_path: Path) -> None:
    pi, _ = seeded(tmp_path)
    boot = pi.root / "boot" / "firmware"
    before = {name: (boot / name).read_bytes() for name in ("user-data", "network-config", "meta-data")}
    assert run_vendor_data(pi).returncode == 0
    assert {name: (boot / name).read_bytes() for name in before} == before
    # Shipped as vendor-data, never as user-data; neither script touches users, SSH or the hostname.
    assert not list(CLOUD_INIT.glob("user-data*"))
    forbidden = re.compile(r"useradd|usermod|chpasswd|passwd|hostname|ssh|authorized_keys|user-data")
    for script in (VENDOR_DATA, CLOUD_INIT / "firstboot.sh"):
        commands = [line for line in script.read_text().splitlines() if not line.lstrip().startswith("#")]
        assert not [line for line in commands if forbidden.search(line)], script


def test_the_seed_is_what_cloud_init_reads(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    pi, _ = seeded(tmp_path)
    boot = pi.root / "boot" / "firmware"
    user_data = (boot / "user-data").read_text()
    assert user_data.startswith("#cloud-config\n")
    parsed = yaml.safe_load(user_data)
    assert parsed["hostname"] == "door-1" and parsed["user"]["name"] == "tech"
    assert yaml.safe_load((boot / "network-config").read_text())["network"]["version"] == 2
    assert yaml.safe_load((boot / "meta-data").read_text())["instance-id"] == "entryscan-door-1"
    # cloud-init runs a vendor-data part that starts with "#!" as a script, once per instance, in cloud-final.
    assert (boot / "vendor-data").read_bytes() == VENDOR_DATA.read_bytes()
    assert VENDOR_DATA.read_text().startswith("#!/bin/sh\n")
    assert subprocess.run(["sh", "-n", str(VENDOR_DATA)], check=False).returncode == 0
    assert subprocess.run(["sh", "-n", str(CLOUD_INIT / "firstboot.sh")], check=False).returncode == 0
