"""entryscan-firstboot and its unit (issues 17, 18: "First boot needs the network once"): the install that needs apt
and PyPI retries with bounded back-off until it succeeds, refuses an unusable bundle once, and leaves a marker a
technician and a test can wait on. Against a fake root (tests/support/fakepi.py) after the real vendor-data ran."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from entryscan.device.cli.main import main as entryscan
from tests.paths import REPO
from tests.provisioning.test_cloud_init import run_vendor_data, seeded

UNIT = REPO / "systemd" / "entryscan-firstboot.service"
SCRIPT = REPO / "provisioning" / "cloud-init" / "firstboot.sh"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the first-boot install runs as root (CI runs as root)")
# --check passes; each real attempt fails until the count in $ATTEMPTS reaches $SUCCEED_AT.
FLAKY_INSTALLER = """#!/bin/sh
[ "$1" = --check ] && exit 0
n=$(( $(cat "$ATTEMPTS" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$ATTEMPTS"
echo "installer attempt $n" >> "$STUB_LOG"
[ "$n" -ge "$SUCCEED_AT" ]
"""


class Door:
    def __init__(self, tmp: Path, *, drop: str | None = None) -> None:
        self.pi, self.folder = seeded(tmp, drop=drop)
        assert run_vendor_data(self.pi).returncode == 0
        self.state = self.pi.root / "var" / "lib" / "entryscan-firstboot"
        sleep = self.pi.stubs / "fake-sleep"
        sleep.write_text('#!/bin/sh\necho "sleep $1" >> "$STUB_LOG"\n')
        sleep.chmod(0o755)
        self.env = {**self.pi.env, "ENTRYSCAN_BOOT": str(self.folder), "ENTRYSCAN_SRC": str(REPO),
                    "FIRSTBOOT_SLEEP": str(sleep), "ATTEMPTS": str(tmp / "attempts")}

    def flaky(self, succeed_at: int) -> None:
        installer = self.pi.stubs / "flaky-installer"
        installer.write_text(FLAKY_INSTALLER)
        installer.chmod(0o755)
        self.env.update(ENTRYSCAN_INSTALLER=str(installer), SUCCEED_AT=str(succeed_at))

    def firstboot(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.pi.log.write_text("")
        return subprocess.run([str(self.pi.root / "usr/local/sbin/entryscan-firstboot"), *args],
                              env={**self.env, **env}, capture_output=True, text=True, timeout=120, check=False)

    def status(self) -> str:
        return (self.state / "status").read_text()


def test_first_boot_installs_the_door_the_documented_way(tmp_path: Path) -> None:
    door = Door(tmp_path)
    done = door.firstboot("run")
    assert done.returncode == 0, done.stdout + done.stderr
    etc = door.pi.etc
    modes = {p.name: p.stat().st_mode & 0o777 for p in etc.iterdir()}
    assert modes == {"config.toml": 0o640, "ca.pem": 0o640, "device.pem": 0o640, "issuer.pub": 0o640,
                     "lists.pub": 0o640, "badges.txt": 0o640, "device.key": 0o600, "site.key": 0o600}
    calls = door.pi.calls()
    update = calls.index("apt-get -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 update")
    assert update < next(i for i, c in enumerate(calls) if " install " in f" {c} ")  # lists first: a fresh image has none
    assert calls[-4:] == ["systemctl enable entryscan.service", "sync", "systemctl restart --no-block entryscan.service",
                          f"sync -- {door.state}/installed.new"]  # the marker only after the door's files
    marker = (door.state / "installed").read_text()
    assert re.fullmatch(r"version=0\.1\.0\ninstalled_at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nattempts=1\n", marker)
    assert not (door.state / "bundle").exists()  # the private copy of the keys is gone once installed
    assert door.status().endswith("installed after 1 attempt(s)\n")
    # every file the config names is installed: the policy builds (a deny is a job done: exit 0, not 78)
    config = (etc / "config.toml").read_text().replace("/etc/entryscan", str(etc))
    (tmp_path / "state").mkdir()
    rewritten = tmp_path / "config.toml"
    rewritten.write_text(config.replace("/var/lib/entryscan", str(tmp_path / "state")))
    assert entryscan(["check", "--config", str(rewritten), "--text", "not-a-badge"]) == 0
    again = door.firstboot("run")
    assert again.returncode == 0 and "already installed" in again.stdout and door.pi.calls() == []


def test_a_failing_install_is_retried_with_bounded_back_off_until_it_succeeds(tmp_path: Path) -> None:
    door = Door(tmp_path)
    door.flaky(succeed_at=4)
    done = door.firstboot("run", FIRSTBOOT_BASE_DELAY="15", FIRSTBOOT_MAX_DELAY="40")
    assert done.returncode == 0, done.stdout + done.stderr
    calls = door.pi.calls()
    assert [c for c in calls if c.startswith("sleep")] == ["sleep 15", "sleep 30", "sleep 40"]  # doubled, capped
    assert [c for c in calls if c.startswith("installer")] == [f"installer attempt {n}" for n in (1, 2, 3, 4)]
    assert (door.state / "installed").read_text().endswith("attempts=4\n")
    assert "attempt 3 failed (exit 1); retrying in 40 s" in done.stdout


def test_a_run_that_gives_up_keeps_the_keys_and_the_next_run_installs(tmp_path: Path) -> None:
    door = Door(tmp_path)
    door.flaky(succeed_at=3)
    gave_up = door.firstboot("run", FIRSTBOOT_MAX_ATTEMPTS="2")
    assert gave_up.returncode == 1  # systemd's Restart=on-failure starts the next run
    assert "attempt 2 failed (exit 1); giving up this run" in door.status()
    assert not (door.state / "installed").exists()
    assert (door.state / "bundle" / "device.key").stat().st_mode & 0o777 == 0o600  # the only copy: kept
    assert door.firstboot("status").stdout == door.status()
    assert door.firstboot("wait", "0").returncode == 1
    done = door.firstboot("run", FIRSTBOOT_MAX_ATTEMPTS="2")
    assert done.returncode == 0 and (door.state / "installed").exists()
    waited = door.firstboot("wait", "5")
    assert waited.returncode == 0 and "attempts=1" in waited.stdout


def test_no_network_is_a_failed_attempt_not_the_end(tmp_path: Path) -> None:
    door = Door(tmp_path)
    door.flaky(succeed_at=1)
    apt = door.pi.stubs / "apt-get"  # the package lists cannot be fetched on the first try
    apt.write_text('#!/bin/sh\necho "apt-get $*" >> "$STUB_LOG"\n[ -e "$ATTEMPTS.apt" ] && exit 0\n'
                   'touch "$ATTEMPTS.apt"; exit 100\n')
    done = door.firstboot("run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "attempt 1 failed (exit 100); retrying in 15 s" in done.stdout
    assert (door.state / "installed").read_text().endswith("attempts=2\n")


def test_an_unusable_bundle_is_refused_once_and_not_retried(tmp_path: Path) -> None:
    door = Door(tmp_path, drop="lists.pub")
    done = door.firstboot("run")
    assert done.returncode == 78  # RestartPreventExitStatus=78: systemd does not start it again
    assert "lists.pub is missing" in done.stderr and "refused" in door.status()
    assert door.pi.calls() == []  # no apt, no pip: nothing was attempted
    assert "RestartPreventExitStatus=78" in UNIT.read_text().splitlines()


def unit_values(key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if line.startswith(f"{key}=")]


def test_the_unit_retries_forever_and_holds_up_neither_boot_nor_cloud_final() -> None:
    assert unit_values("Type") == ["exec"]  # not oneshot: multi-user.target and cloud-final never wait for it
    assert unit_values("Restart") == ["on-failure"] and unit_values("StartLimitIntervalSec") == ["0"]
    assert unit_values("RemainAfterExit") == ["yes"]
    after = " ".join(unit_values("After")).split()
    assert "network-online.target" in after and "network-online.target" in unit_values("Wants")
    assert "cloud-final.service" not in after  # Debian's cloud-final is After=multi-user.target: a cycle
    marker = re.search(r'^MARKER="\$STATE/(\S+)"$', SCRIPT.read_text(), re.MULTILINE)
    state = re.search(r'^STATE="\$ROOT(\S+)"$', SCRIPT.read_text(), re.MULTILINE)
    assert marker and state
    assert unit_values("ConditionPathExists") == [f"!{state.group(1)}/{marker.group(1)}"]
    assert unit_values("ExecStart") == ["/usr/local/sbin/entryscan-firstboot run"]


def test_both_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (CI installs systemd)")
    true = shutil.which("true")
    assert true
    units = []
    for name in ("entryscan.service", "entryscan-firstboot.service"):
        text = (REPO / "systemd" / name).read_text()
        # verify checks that each ExecStart binary exists: the installed paths do not exist here
        text = re.sub(r"^(Exec\w+=)(\S+)", lambda m: m.group(1) + true, text, flags=re.MULTILINE)
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    done = subprocess.run([analyze, "verify", *units], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_key_is_flushed_to_the_card_before_its_boot_partition_copy_is_shredded(tmp_path: Path) -> None:
    """A cut between the copy and the shred must not leave a key of length 0 and none on the boot partition."""
    pi, folder = seeded(tmp_path)
    # This sync records, for each file it flushes, whether the boot partition still holds that file.
    (pi.stubs / "sync").write_text('#!/bin/sh\nfor f; do [ "$f" = -- ] || { [ -e "$FAT/$(basename "$f")" ] '
                                   '&& echo "sync $f (boot copy present)" || echo "sync $f"; } >> "$STUB_LOG"; done\n')
    pi.env["FAT"] = str(folder)
    done = run_vendor_data(pi)
    assert done.returncode == 0, done.stdout + done.stderr
    bundle = pi.root / "var" / "lib" / "entryscan-firstboot" / "bundle"
    flushed = pi.calls()
    for key in ("device.key", "site.key"):
        assert f"sync {bundle / key} (boot copy present)" in flushed, flushed
        assert not (folder / key).exists()
