"""Scenario 2's guest: the cloud-init variant of the image and a FAT boot partition as Raspberry Pi Imager leaves it.

The partition is a raw disk made on the host with mkfs.fat and filled with mtools (no mount, no root), labelled
``bootfs`` as on Raspberry Pi OS: Imager's user-data, network-config and meta-data (tests/support/imager_seed.py),
the project's vendor-data, the device's bundle in ``entryscan/`` and the files git tracks in ``entryscan/src``, as
docs/raspberry-pi.md "First boot with cloud-init" tells the technician. The variant's own build is
tests/vm/image/build-cloudinit.sh (cloud-init is never in the image the other scenarios boot).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import time
from pathlib import Path

from tests.support.imager_seed import write_seed
from tests.vm import qemu
from tests.vm.qemu import VmError
from tests.vm.site import REPO, checkout_tar

BUILD_VARIANT = REPO / "tests" / "vm" / "image" / "build-cloudinit.sh"
BOOTFS_LABEL = "bootfs"
BOOTFS_MIB = 256  # FAT32; the source tree is about 16 MB, pip builds in it
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, env=MTOOLS_ENV)
    if done.returncode != 0:
        raise VmError(f"{' '.join(argv[:3])}: exit {done.returncode}\n{done.stderr.decode(errors='replace')[-2000:]}")
    return done


def variant_image(base: qemu.Image) -> tuple[qemu.Image, float]:
    """The cloud-init variant derived from ``base`` (cached), and how long getting it took."""
    started = time.monotonic()
    done = subprocess.run(["bash", str(BUILD_VARIANT), str(base.folder)], capture_output=True, text=True,
                          timeout=2400, check=False)
    if done.returncode != 0:
        raise VmError(f"cloud-init variant build failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return qemu.Image(Path(done.stdout.strip().splitlines()[-1])), time.monotonic() - started


def seed(work: Path, bundle: Path, *, user: str, hostname: str, ssh_key: str) -> Path:
    """The boot partition's files in a host folder: what Imager wrote plus what the technician copied."""
    export = work / "export"
    with tarfile.open(checkout_tar(work / "entryscan.tar")) as tar:
        tar.extractall(export, filter="data")
    stage = work / "bootfs"
    write_seed(stage, bundle, export / "entryscan", user=user, hostname=hostname, ssh_key=ssh_key)
    return stage


def make_bootfs(image: Path, stage: Path) -> Path:
    image.unlink(missing_ok=True)
    run(["mkfs.fat", "-F", "32", "-n", BOOTFS_LABEL, "-C", str(image), str(BOOTFS_MIB * 1024)], 60)
    run(["mcopy", "-s", "-Q", "-i", str(image), *sorted(str(p) for p in stage.iterdir()), "::/"])
    return image


def fat_names(image: Path, folder: str) -> set[str]:
    """The names in one folder of the FAT image, read from the image itself (not through the guest)."""
    out = run(["mdir", "-b", "-i", str(image), f"::/{folder}"], 60).stdout.decode()
    return {line.rstrip("/").rsplit("/", 1)[-1] for line in out.splitlines() if line.strip()}


def fat_read(image: Path, path: str) -> bytes:
    return run(["mcopy", "-n", "-i", str(image), f"::/{path}", "-"], 60).stdout


class FirstBootVm(qemu.Vm):
    """A Vm with the boot partition as a second virtio disk; the root is found by its label (LABEL=root, as the
    variant's fstab says), so the two disks may come up in either order."""

    def __init__(self, image: qemu.Image, disk: Path, workdir: Path, bootfs: Path) -> None:
        super().__init__(image, disk, workdir, name="firstboot")
        self.bootfs = bootfs

    def args(self) -> list[str]:
        argv = [a.replace("root=/dev/vda ", "root=LABEL=root ") for a in super().args()]
        return [*argv, "-drive", f"file={self.bootfs},if=virtio,format=raw,cache=writeback"]


def unit(vm: qemu.Vm, name: str) -> dict[str, str]:
    props = "ActiveState,SubState,Result,ExecMainStatus,ExecMainStartTimestampMonotonic,ExecMainExitTimestampMonotonic"
    out = vm.sh(f"systemctl show {name} -p {props}", timeout=30).check(f"systemctl show {name}").out
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def uptime_s(state: dict[str, str], prop: str) -> float:
    """A systemd monotonic timestamp (microseconds since the guest's boot) in seconds; 0 when never set."""
    return int(state.get(prop) or 0) / 1e6
