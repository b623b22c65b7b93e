"""Fixtures of the virtual door: the image, the host's site, and one door installed by script.

Off CI (not root, no QEMU) the VM tests skip with the reason; with ENTRYSCAN_VM_REQUIRED=1 (scripts/test-vm.sh,
.ci/run) a scenario that cannot run fails instead. On a failure the console and ``journalctl -b`` of every live
VM are written to ``build/vm/<test>/``; every QEMU is stopped at the end whatever happened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.vm import qemu
from tests.vm.door import Door, install_door
from tests.vm.site import REPO, Site, burst_frames

BUILD = REPO / "tests" / "vm" / "image" / "build.sh"
ARTIFACTS = Path(os.environ.get("ENTRYSCAN_VM_ARTIFACTS", str(REPO / "build" / "vm")))
BADGES = [f"VM-{i:04d}" for i in range(400)]


@pytest.fixture(scope="session")
def vm_image() -> qemu.Image:
    if os.geteuid() != 0:
        qemu.cannot_run("building the VM image needs root (debootstrap); run scripts/test-vm.sh as root")
    if not qemu.qemu_available() or shutil.which("debootstrap") is None:
        qemu.cannot_run("qemu-system-x86_64 / qemu-img / debootstrap not installed (scripts/setup.sh --vm)")
    started = time.monotonic()
    done = subprocess.run(["bash", str(BUILD)], check=False, capture_output=True, text=True, timeout=2400)
    if done.returncode != 0:
        pytest.fail(f"image build failed ({done.returncode}):\n{done.stderr[-4000:]}")
    folder = Path(done.stdout.strip().splitlines()[-1])
    print(f"vm: image {folder} in {time.monotonic() - started:.0f} s")
    return qemu.Image(folder)


@pytest.fixture(scope="session")
def vm_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = Site(tmp_path_factory.mktemp("vm-site")).create(BADGES)
    site.start_broker()
    site.start_collector()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def door(vm_image: qemu.Image, vm_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    """One VM, booted once, with the door installed by ``scripts/install-pi.sh`` (scenario 1's install)."""
    work = tmp_path_factory.mktemp("vm-door")
    burst_frames(work / "share" / "frames" / "burst", BADGES[:12])
    burst_frames(work / "share" / "frames" / "idle", [])
    vm = qemu.Vm(vm_image, qemu.make_overlay(vm_image.base, work / "door.qcow2"), work, name="door")
    try:
        yield install_door(vm, vm_site)
    finally:
        qemu.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed and qemu.LIVE:
        folder = ARTIFACTS / item.name
        folder.mkdir(parents=True, exist_ok=True)
        for vm in list(qemu.LIVE):
            (folder / f"{vm.name}-journal.txt").write_text(vm.journal(lines=3000))
            for path in (vm.console, vm.events):
                if path.exists():
                    shutil.copy(path, folder / path.name)
        report.sections.append(("virtual door", f"console and journal in {folder}"))
    return report


def pytest_sessionfinish() -> None:
    qemu.stop_all()
