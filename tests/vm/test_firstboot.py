"""Scenario 2: first boot by cloud-init. A fresh image of the cloud-init variant, the boot partition as Raspberry Pi
Imager writes it (user-data with a user and hostname, network-config, meta-data) plus the project's vendor-data, a
bundle from ``entryscan-provision device add`` and the source tree, as docs/raspberry-pi.md says. Nothing is run
by hand in the guest but the test's own frames: the install runs in entryscan-firstboot.service after first boot,
and the test waits on its marker (never on ``cloud-init status --wait``, which returns before vendor-data starts).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.imager_seed import VENDOR_DATA, user_data
from tests.vm import firstboot as fbvm
from tests.vm import qemu
from tests.vm.door import Door
from tests.vm.site import REPO, Site, burst_frames

pytestmark = pytest.mark.vm

USER, HOSTNAME = "tech", "gate-north"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEntryscanFirstBootKey tech@site"
BADGES = [f"FB-{i:04d}" for i in range(40)]
BURST = 12
MARKER = "/var/lib/entryscan-firstboot/installed"
BOOT_FOLDER = "/boot/firmware/entryscan"
ARTIFACTS = Path(os.environ.get("ENTRYSCAN_VM_ARTIFACTS", str(REPO / "build" / "vm")))
INSTALLED_TIMEOUT_S = float(os.environ.get("ENTRYSCAN_VM_FIRSTBOOT_TIMEOUT", "1800"))


@dataclass
class FirstBoot:
    door: Door
    bootfs: Path
    keys: dict[str, bytes]
    timings: dict[str, float] = field(default_factory=dict)


def _cannot_run(reason: str) -> None:
    if os.environ.get("ENTRYSCAN_VM_REQUIRED") == "1":
        pytest.fail(f"virtual door required but cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def first_boot_image(vm_image: qemu.Image) -> qemu.Image:
    if shutil.which("mkfs.fat") is None or shutil.which("mcopy") is None:
        _cannot_run("mkfs.fat / mcopy not installed (dosfstools, mtools: scripts/test-vm.sh installs them)")
    image, took = fbvm.variant_image(vm_image)
    print(f"vm: cloud-init variant {image.folder} in {took:.0f} s")
    return image


@pytest.fixture(scope="module")
def first_boot_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A site of its own (broker, collector): the shared door of scenario 1 is also called door-1."""
    site = Site(tmp_path_factory.mktemp("vm-firstboot-site")).create(BADGES)
    site.start_broker()
    site.start_collector()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def first_boot(first_boot_image: qemu.Image, first_boot_site: Site,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstBoot]:
    work = tmp_path_factory.mktemp("vm-firstboot")
    burst_frames(work / "share" / "frames" / "burst", BADGES[:BURST])
    stage = fbvm.seed(work, first_boot_site.bundle, user=USER, hostname=HOSTNAME, ssh_key=SSH_KEY)
    keys = {name: (first_boot_site.bundle / name).read_bytes() for name in ("device.key", "site.key")}
    bootfs = fbvm.make_bootfs(work / "bootfs.img", stage)
    vm = fbvm.FirstBootVm(first_boot_image, qemu.make_overlay(first_boot_image.base, work / "firstboot.qcow2"), work,
                     bootfs)
    fb = FirstBoot(Door(vm, first_boot_site), bootfs, keys)
    try:
        try:
            boot_first_time(fb)
        except BaseException:
            keep_artifacts(fb)  # here: the fixture stops the VM before conftest's report hook could read it
            raise
        yield fb
    finally:
        vm.stop()


def boot_first_time(fb: FirstBoot) -> FirstBoot:
    vm, t = fb.door.vm, fb.timings
    started = time.monotonic()
    vm.boot()
    t["boot_agent_s"] = vm.boot_s
    # The test's only hand in the guest: the camera's frames (a dir: camera; the bundle's config names the link).
    vm.mount_share()
    vm.sh("mkdir -p /opt/vm-frame-sets && cp -r /mnt/host/frames/. /opt/vm-frame-sets/ && "
          "chmod -R a+rX /opt/vm-frame-sets", timeout=120).check("frames")
    fb.door.frames("burst")
    deadline = started + INSTALLED_TIMEOUT_S
    while "marker_s" not in t:
        if time.monotonic() > deadline:
            raise qemu.VmError(f"no {MARKER} within {INSTALLED_TIMEOUT_S:.0f} s:\n{diagnose(fb)}")
        out = vm.sh(f"systemctl is-active cloud-final; test -e {MARKER} && echo installed", timeout=30).out
        now = time.monotonic() - started
        if out.startswith("active") and "cloud_final_active_s" not in t:
            t["cloud_final_active_s"] = now
        if "installed" in out:
            t["marker_s"] = now
        time.sleep(5)
    vm.wait_for("systemctl show entryscan-firstboot -p SubState | grep -qx SubState=exited", 120, "firstboot exit")
    ready_started = time.monotonic()
    fb.door.wait_ready()
    t["ready_after_marker_s"] = time.monotonic() - ready_started
    final, install = fbvm.unit(vm, "cloud-final"), fbvm.unit(vm, "entryscan-firstboot")
    t["guest_cloud_final_end_s"] = fbvm.uptime_s(final, "ExecMainExitTimestampMonotonic")
    t["guest_firstboot_start_s"] = fbvm.uptime_s(install, "ExecMainStartTimestampMonotonic")
    t["guest_firstboot_end_s"] = fbvm.uptime_s(install, "ExecMainExitTimestampMonotonic")
    print(f"vm first boot timings: { {k: round(v, 1) for k, v in t.items()} }")
    return fb


def keep_artifacts(fb: FirstBoot) -> None:
    folder = ARTIFACTS / "test_firstboot"
    folder.mkdir(parents=True, exist_ok=True)
    vm = fb.door.vm
    (folder / "firstboot-journal.txt").write_text(vm.journal(lines=5000))
    (folder / "firstboot-diagnosis.txt").write_text(diagnose(fb))
    if vm.console.exists():
        shutil.copy(vm.console, folder / vm.console.name)


def diagnose(fb: FirstBoot) -> str:
    try:
        return fb.door.sh("cloud-init status --long; entryscan-firstboot status; "
                          "tail -n 40 /var/log/cloud-init-output.log; journalctl -b -u entryscan-firstboot -n 60 "
                          "--no-pager", timeout=60).out
    except (OSError, TimeoutError, qemu.VmError) as exc:
        return f"(guest not readable: {exc})"


def test_the_door_is_installed_after_first_boot_and_ready(first_boot: FirstBoot) -> None:
    door = first_boot.door
    marker = door.sh(f"cat {MARKER}").check("marker").out
    assert "version=" in marker and "attempts=" in marker, marker
    state = door.wait_ready()
    assert state["ActiveState"] == "active" and state["SubState"] == "running", state
    assert "ready: first frame" in door.vm.journal("entryscan", 200)
    install = fbvm.unit(door.vm, "entryscan-firstboot")
    assert (install["ActiveState"], install["Result"], install["ExecMainStatus"]) == ("active", "success", "0"), install
    # The vendor-data cloud-init ran is the shipped file, read from the FAT partition by NoCloud.
    ran = door.sh("cat /var/lib/cloud/instance/vendor-data.txt").check("vendor-data").out
    assert ran == VENDOR_DATA.read_text()
    status = door.sh("cloud-init status --long").out
    assert "status: done" in status and "NoCloud" in status, status
    print(f"vm first boot: {marker.strip()!r}, timings {first_boot.timings}")


def test_cloud_final_is_not_held_up_by_the_install(first_boot: FirstBoot) -> None:
    final = fbvm.unit(first_boot.door.vm, "cloud-final")
    install = fbvm.unit(first_boot.door.vm, "entryscan-firstboot")
    assert (final["ActiveState"], final["Result"]) == ("active", "success"), final
    final_end = fbvm.uptime_s(final, "ExecMainExitTimestampMonotonic")
    start = fbvm.uptime_s(install, "ExecMainStartTimestampMonotonic")
    end = fbvm.uptime_s(install, "ExecMainExitTimestampMonotonic")
    # Started from inside cloud-final (vendor-data, --no-block), and cloud-final finished long before the install.
    assert 0 < start < final_end < end, (final, install)


def test_the_keys_are_no_longer_on_the_boot_partition(first_boot: FirstBoot) -> None:
    door, image = first_boot.door, first_boot.bootfs
    listed = door.sh(f"ls -A {BOOT_FOLDER}").check("ls boot").out.split()
    assert "config.toml" in listed and not {"device.key", "site.key"} & set(listed), listed
    door.sh("sync").check("sync")  # the guest's page cache to the virtual disk, then read the disk itself
    on_disk = fbvm.fat_names(image, "entryscan")
    assert "config.toml" in on_disk and not {"device.key", "site.key"} & on_disk, on_disk
    raw = image.read_bytes()
    for name, key in first_boot.keys.items():  # shred -u: not even the key's bytes are left in the partition
        needle = key.splitlines()[1] if key.startswith(b"-----BEGIN") else key  # device.key PEM, site.key raw
        assert needle not in raw, f"{name}'s bytes are still on the FAT partition"


def test_secrets_modes_and_owners(first_boot: FirstBoot) -> None:
    door = first_boot.door
    out = door.sh("stat -c '%n %a %U:%G' /etc/entryscan /etc/entryscan/* /var/lib/entryscan "
                  "/var/lib/entryscan-firstboot").check("stat").out
    seen = {line.split()[0]: tuple(line.split()[1:]) for line in out.splitlines()}
    assert seen["/etc/entryscan"] == ("750", "root:entryscan")
    for name in ("config.toml", "ca.pem", "device.pem", "issuer.pub", "lists.pub", "badges.txt"):
        assert seen[f"/etc/entryscan/{name}"] == ("640", "root:entryscan"), name
    for name, key in first_boot.keys.items():
        assert seen[f"/etc/entryscan/{name}"] == ("600", "entryscan:entryscan"), name
        installed = door.sh(f"sha256sum /etc/entryscan/{name}").check(name).out.split()[0]
        assert installed == hashlib.sha256(key).hexdigest(), name
    assert seen["/var/lib/entryscan"] == ("700", "entryscan:entryscan")
    assert seen["/var/lib/entryscan-firstboot"] == ("700", "root:root")
    # The private copy of the bundle is removed once installed.
    assert door.sh("test -e /var/lib/entryscan-firstboot/bundle").rc == 1


def test_the_user_and_hostname_from_user_data_are_kept(first_boot: FirstBoot) -> None:
    door = first_boot.door
    assert door.sh("hostname").check("hostname").out.strip() == HOSTNAME
    assert door.sh("cat /etc/hostname").check("/etc/hostname").out.strip() == HOSTNAME
    assert f" {HOSTNAME}" in door.sh("grep '^127.0.1.1' /etc/hosts").check("hosts").out  # manage_etc_hosts
    passwd = door.sh(f"getent passwd {USER}").check("getent").out.strip().split(":")
    assert passwd[0] == USER and passwd[6] == "/bin/bash", passwd
    assert door.sh(f"passwd -S {USER}").check("passwd -S").out.split()[1] == "L"  # lock_passwd: true
    keys = door.sh(f"cat ~{USER}/.ssh/authorized_keys").check("authorized_keys").out
    assert SSH_KEY in keys
    # What Imager wrote is still there, byte for byte, on the partition itself.
    door.sh("sync").check("sync")
    assert fbvm.fat_read(first_boot.bootfs, "user-data") == user_data(USER, HOSTNAME, SSH_KEY).encode()


def test_decisions_reach_the_hosts_collector(first_boot: FirstBoot) -> None:
    site = first_boot.door.site
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(site.stored()) < BURST:
        time.sleep(2)
    stored = site.stored()
    assert len(stored) >= BURST, (stored, first_boot.door.vm.journal("entryscan", 80))
    seqs = sorted(seq for _, seq in stored)
    assert seqs == list(range(1, len(seqs) + 1))
