"""Scenario 8: the Pi's architecture. The same install on an arm64 guest, where the door decides its frames.

A real system guest, not qemu-user: ``qemu-system-aarch64 -machine virt -cpu cortex-a72`` (a Pi 4's core) under
TCG, Debian 12 arm64 with Debian's arm64 kernel and initrd and systemd as PID 1 (tests/vm/image/build-arm64.sh),
the same agent, site and ``scripts/install-pi.sh`` with a bundle as on amd64, pip offline from an aarch64
wheelhouse at constraints-bookworm.txt. The door's GPIO is the virt board's PL061 (gpiochip0, lines 0-7, line 3
its power key), so its outputs are on 4-7 here; there is no gpio-sim and no LED log port on this board.

Slow under emulation: one run, not in scripts/test-vm.sh's default list. ``sudo ENTRYSCAN_VM_ARM64=1
scripts/test-vm.sh`` runs this file alone; without ENTRYSCAN_VM_ARM64=1 it is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vm import qemu
from tests.vm.door import VENV, Door, install_door
from tests.vm.site import GREEN_PIN, RED_PIN, RELAY_PIN, REPO, Site, burst_frames

pytestmark = [pytest.mark.vm, pytest.mark.skipif(
    os.environ.get("ENTRYSCAN_VM_ARM64") != "1",
    reason="scenario 8 (arm64, slow) runs alone: sudo ENTRYSCAN_VM_ARM64=1 scripts/test-vm.sh")]

BUILD = REPO / "tests" / "vm" / "image" / "build-arm64.sh"
BADGES = [f"VM-{i:04d}" for i in range(400)]
UNKNOWN = ["VM-0900", "VM-0901"]  # badge-shaped, not on the list: denied, not_allowed
CODES = [BADGES[0], BADGES[1], UNKNOWN[0], BADGES[2], BADGES[3], UNKNOWN[1], BADGES[4], BADGES[5]]
PL061_PINS = {"green_pin": 4, "red_pin": 5, "relay": 6, "buzzer_pin": 7}
# The wheels the issue names, with the pins they must have (constraints-bookworm.txt).
WHEELS = ("zxing-cpp", "cryptography", "numpy", "pillow", "cbor2")
TIMINGS: dict[str, float] = {}
DECIDE_TIMEOUT_S = 600
ARTIFACTS = Path(os.environ.get("ENTRYSCAN_VM_ARTIFACTS", str(REPO / "build" / "vm")))


@pytest.fixture(scope="module")
def arm64_image() -> qemu.Image:
    if os.geteuid() != 0:
        qemu.cannot_run("building the arm64 image needs root (debootstrap, chroot, binfmt_misc)")
    if not qemu.qemu_available("aarch64") or shutil.which("debootstrap") is None \
            or shutil.which("qemu-aarch64-static") is None:
        qemu.cannot_run("qemu-system-aarch64 / qemu-user-static / debootstrap not installed (scripts/test-vm.sh)")
    started = time.monotonic()
    done = subprocess.run(["bash", str(BUILD)], check=False, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        pytest.fail(f"arm64 image build failed ({done.returncode}):\n{done.stderr[-4000:]}")
    TIMINGS["image_s"] = time.monotonic() - started
    return qemu.Image(Path(done.stdout.strip().splitlines()[-1]))


def pins_on_pl061(config: Path) -> None:
    """The bundle's outputs moved onto the PL061's free lines (the site put them on gpio-sim's 17, 27, 23)."""
    text = config.read_text()
    for old, new in ((f"green_pin = {GREEN_PIN}\n", f"green_pin = {PL061_PINS['green_pin']}\n"),
                     (f"red_pin = {RED_PIN}\n", f"red_pin = {PL061_PINS['red_pin']}\n"),
                     ("\n[feedback]\n", f"\n[feedback]\nbuzzer_pin = {PL061_PINS['buzzer_pin']}\n"),
                     (f"\n[relay]\npin = {RELAY_PIN}\n", f"\n[relay]\npin = {PL061_PINS['relay']}\n")):
        assert text.count(old) == 1, (old, text)
        text = text.replace(old, new)
    config.write_text(text)


@pytest.fixture(scope="module")
def arm64_door(arm64_image: qemu.Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    assert arm64_image.arch == "aarch64", arm64_image.folder
    site = Site(tmp_path_factory.mktemp("arm64-site")).create(BADGES)
    pins_on_pl061(site.bundle / "config.toml")
    site.start_broker()
    site.start_collector()
    work = tmp_path_factory.mktemp("arm64-door")
    burst_frames(work / "share" / "frames" / "burst", CODES)
    vm = qemu.Vm(arm64_image, qemu.make_overlay(arm64_image.base, work / "arm64.qcow2"), work, name="arm64")
    try:
        try:
            door = install_door(vm, site)
        except BaseException:
            keep_logs(vm)  # the console and journal of a failed boot or install, before QEMU is stopped
            raise
        TIMINGS.update(door.timings)
        TIMINGS["ready_at"] = time.monotonic()
        yield door
    finally:
        qemu.stop_all()
        site.stop()
        report = {k: round(v, 1) for k, v in TIMINGS.items() if k != "ready_at"}
        print(f"arm64 timings: {report}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "arm64-timings.json").write_text(json.dumps(report) + "\n")


def keep_logs(vm: qemu.Vm) -> None:
    folder = ARTIFACTS / "arm64-setup"
    folder.mkdir(parents=True, exist_ok=True)
    if vm.proc is not None and vm.proc.poll() is None:
        (folder / "journal.txt").write_text(vm.journal(lines=3000))
    for path in (vm.console, vm.workdir / f"{vm.name}-qemu.log"):
        if path.exists():
            shutil.copy(path, folder / path.name)


def decisions(db: Path) -> list[tuple[int, str, str]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [(int(r[0]), str(r[1]), str(r[2])) for r in
                conn.execute("SELECT seq, decision, reason FROM entries ORDER BY seq")]


def test_the_door_decides_its_frames_on_arm64(arm64_door: Door) -> None:
    # First, so that the time from READY to the last decision at the collector is the frames' own.
    deadline = time.monotonic() + DECIDE_TIMEOUT_S
    while time.monotonic() < deadline and len(decisions(arm64_door.site.db)) < len(CODES):
        time.sleep(2)
    TIMINGS["decide_s"] = time.monotonic() - TIMINGS["ready_at"]
    seen = decisions(arm64_door.site.db)
    want = [("deny", "not_allowed") if code in UNKNOWN else ("accept", "ok") for code in CODES]
    assert [(d, r) for _, d, r in seen] == want, (seen, arm64_door.vm.journal("entryscan", 80))
    assert [seq for seq, _, _ in seen] == list(range(1, len(CODES) + 1))


PROBE = r"""
import importlib.metadata as md, json, pathlib, platform, sys
out = {"machine": platform.machine(), "dists": {}}
for name in sys.argv[1:]:
    dist = md.distribution(name)
    sos = [dist.locate_file(f) for f in dist.files or [] if str(f).endswith(".so")]
    if not sos and name == "numpy":  # Debian's egg-info lists no files: its package folder instead
        sos = list(pathlib.Path(dist.locate_file("numpy")).rglob("*.so"))
    wheel = dist.read_text("WHEEL") or ""
    out["dists"][name] = {
        "version": dist.version, "where": str(dist.locate_file("")),
        "tags": [line.split(": ", 1)[1] for line in wheel.splitlines() if line.startswith("Tag: ")],
        # ELF e_machine 183 = AArch64, read from every compiled module the distribution installed
        "elf": sorted({int.from_bytes(pathlib.Path(p).read_bytes()[18:20], "little") for p in sos}),
    }
import zxingcpp, cryptography.hazmat.bindings._rust, numpy, PIL.Image, cbor2, lgpio  # they load here
print(json.dumps(out))
"""


def pins() -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (REPO / "constraints-bookworm.txt").read_text(), re.MULTILINE)
    return {name.lower(): version for name, version in found}


def test_the_wheels_resolved_for_aarch64(arm64_door: Door) -> None:
    # install-pi.sh ran pip with no index (pip.conf: the image's wheelhouse only): every dependency had to
    # resolve from aarch64 wheels at the Bookworm pins, or the install would have failed.
    probe = arm64_door.sh(f"{VENV}/bin/python - {' '.join(WHEELS)} <<'EOF'\n{PROBE}\nEOF", 300).check("probe")
    seen = json.loads(probe.out.strip().splitlines()[-1])
    print(f"arm64 dists: {seen}")
    assert seen["machine"] == "aarch64"
    pinned = pins()
    for name in WHEELS:
        dist = seen["dists"][name]
        assert dist["version"] == pinned[name], (name, dist)
        assert dist["elf"] == [183], (name, dist)  # compiled for AArch64, nothing else
        if name == "numpy":  # the system's python3-numpy (arm64 deb), as python3-picamera2 brings it on a Pi
            assert dist["where"].startswith("/usr/lib/python3/dist-packages"), dist
        else:
            assert dist["where"].startswith(f"{VENV}/"), dist
            assert dist["tags"] and all(t.endswith("aarch64") for t in dist["tags"]), dist


def test_unit_ready_and_driving_the_pl061(arm64_door: Door) -> None:
    state = arm64_door.wait_ready(timeout=120)
    assert state["ActiveState"] == "active" and state["SubState"] == "running", state
    assert "ready: first frame" in arm64_door.vm.journal("entryscan", 200)
    # The door's lines, claimed through lgpio by the service (seen in gpiolib's debugfs, outside its process).
    gpio = arm64_door.sh("mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug; "
                         "cat /sys/kernel/debug/gpio").check("debugfs gpio").out
    claimed = [line for line in gpio.splitlines() if re.search(r"\)\s+out\s", line)]
    assert len(claimed) == len(PL061_PINS), gpio
