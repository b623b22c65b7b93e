"""Scenario 2's boot partition, checked on the host without QEMU (seconds): what the first boot reads is what
Raspberry Pi Imager and the technician leave on a card (docs/raspberry-pi.md "First boot with cloud-init")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.imager_seed import NETWORK_CONFIG, VENDOR_DATA, user_data
from tests.vm import firstboot as fbvm
from tests.vm.site import REPO, Site

pytestmark = pytest.mark.skipif(shutil.which("mkfs.fat") is None or shutil.which("mcopy") is None,
                                reason="mkfs.fat / mcopy not installed (dosfstools, mtools)")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEntryscanBootfsKey tech@site"


def test_the_boot_partition_holds_what_imager_and_the_technician_wrote(tmp_path: Path) -> None:
    site = Site(tmp_path / "site").create(["B-1"])
    stage = fbvm.seed(tmp_path, site.bundle, user="tech", hostname="gate-north", ssh_key=KEY)
    image = fbvm.make_bootfs(tmp_path / "bootfs.img", stage)
    probe = subprocess.run(["blkid", "-o", "export", str(image)], capture_output=True, text=True, timeout=30,
                           check=False)
    if probe.returncode == 0:  # blkid is util-linux's; the label is what cloud-init's NoCloud looks for
        assert "LABEL=bootfs" in probe.stdout and "TYPE=vfat" in probe.stdout, probe.stdout
    assert fbvm.fat_names(image, "") == {"user-data", "network-config", "meta-data", "vendor-data", "entryscan"}
    assert fbvm.fat_read(image, "user-data") == user_data("tech", "gate-north", KEY).encode()
    assert fbvm.fat_read(image, "network-config") == NETWORK_CONFIG.encode()
    assert fbvm.fat_read(image, "meta-data") == b"instance-id: entryscan-gate-north\n"
    assert fbvm.fat_read(image, "vendor-data") == VENDOR_DATA.read_bytes()
    bundle = {p.name for p in site.bundle.iterdir()}
    assert fbvm.fat_names(image, "entryscan") == bundle | {"src"}
    for name in ("device.key", "site.key", "config.toml"):
        assert fbvm.fat_read(image, f"entryscan/{name}") == (site.bundle / name).read_bytes(), name
    # The source tree is what git tracks (no .venv, no build/), as the technician's copy of a checkout.
    tracked_tops = {name.split("/", 1)[0] for name in subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()}
    assert fbvm.fat_names(image, "entryscan/src") == tracked_tops - {".git"}
    install = fbvm.fat_read(image, "entryscan/src/scripts/install-pi.sh")
    assert install == (REPO / "scripts" / "install-pi.sh").read_bytes()
