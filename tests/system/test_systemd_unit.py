"""The shipped systemd unit (issue 7): hardening score, settings that break the Pi, and a real
Python run under the unit's own SystemCallFilter= (expanded by systemd-analyze, loaded with libseccomp).

What cannot be tested here: DevicePolicy/DeviceAllow (needs a cgroup-managing systemd as PID 1 and a
Pi's devices), ProtectSystem/ProtectProc mounts, and picamera2/lgpio themselves. The hw_tests/ suite
covers the hardware on a Pi; the README says how to run it under the unit.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from entryscan.device.cli.entry import outputs_off_config
from entryscan.device.cli.main import make_parser
from tests.support.seccomp import libseccomp

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "entryscan.service"
MAX_EXPOSURE = 2.5
# Each breaks the door on a Pi: PrivateDevices hides /dev/video*, /dev/media*, /dev/gpiochip*;
# PrivateUsers breaks the video/gpio group access; ProcSubset=pid hides /proc/device-tree;
# ProtectClock's seccomp filter refuses even reading adjtimex.
FORBIDDEN = ("PrivateDevices", "PrivateUsers", "ProcSubset", "ProtectClock")


def service_settings() -> list[tuple[str, str]]:
    settings, section = [], ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            settings.append((key.strip(), value.strip()))
    return settings


def values(key: str) -> list[str]:
    return [v for k, v in service_settings() if k == key]


def analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (CI installs systemd)")
    return exe


def exposure() -> float:
    out = subprocess.run([analyze(), "security", "--offline=true", "--no-pager", str(UNIT)],
                         check=False, capture_output=True, text=True, timeout=120)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout)
    assert match, out.stdout + out.stderr
    return float(match.group(1))


def test_exposure_is_ok_and_the_unit_quotes_it() -> None:
    score = exposure()
    assert score <= MAX_EXPOSURE
    # The comment at the top of the unit and the README quote the measured score.
    assert f"scores {score:.1f} (OK)" in UNIT.read_text()
    readme = (UNIT.parents[1] / "README.md").read_text()
    assert f"scores the unit **{score:.1f} (OK)**" in readme


def test_no_setting_that_breaks_camera_gpio_clock_or_device_tree() -> None:
    present = {k for k, _ in service_settings()}
    assert not present & set(FORBIDDEN)


def test_device_allow_names_devices_not_directories() -> None:
    entries = values("DeviceAllow")
    assert entries
    for entry in entries:
        spec = entry.split()[0]
        if spec.startswith(("char-", "block-")):
            continue
        assert spec.startswith("/dev/") and not spec.endswith("/"), entry
        assert spec not in {"/dev/dma_heap", "/dev/dri", "/dev/v4l", "/dev/snd"}, entry
        assert not Path(spec).is_dir(), entry
    classes = {e.split()[0] for e in entries}
    assert {"char-video4linux", "char-media", "char-gpiochip", "char-dma_heap"} <= classes


def test_gpio_gets_a_writable_working_directory_and_an_explicit_pin_factory() -> None:
    runtime = values("RuntimeDirectory")
    state = values("StateDirectory")
    writable = {f"/run/{d}" for d in runtime} | {f"/var/lib/{d}" for d in state}
    (workdir,) = values("WorkingDirectory")
    assert workdir in writable
    env = dict(item.split("=", 1) for line in values("Environment") for item in shlex.split(line))
    assert env["GPIOZERO_PIN_FACTORY"] == "lgpio"
    assert env["LG_WD"] == workdir


def test_every_exit_drives_the_outputs_off_with_the_same_config() -> None:
    (start,) = values("ExecStart")
    (stop_post,) = values("ExecStopPost")
    start_args, post_args = shlex.split(start), shlex.split(stop_post)
    assert post_args[0] == start_args[0]
    args = make_parser().parse_args(post_args[1:])
    assert args.command == "outputs-off"
    assert args.config == make_parser().parse_args(start_args[1:]).config
    assert "-" not in stop_post.split()[0][:1]  # not "-/path": its failure must show in the unit's status
    assert outputs_off_config(post_args[1:], {}) == args.config  # the lean path (cli.entry), not the full CLI


def syscall_groups() -> dict[str, list[str]]:
    out = subprocess.run([analyze(), "syscall-filter", "--no-pager"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("    ") and not line.strip().startswith("#") and current is not None:
            current.append(line.strip())
        elif not line.strip():
            current = None
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    calls: set[str] = set()
    for name in names:
        calls |= expand(groups[name], groups) if name.startswith("@") else {name}
    return calls


def unit_allow_list() -> set[str]:
    """systemd's reading of the unit's SystemCallFilter= lines, in order (the first is an allow list)."""
    groups = syscall_groups()
    allowed: set[str] = set()
    for line in values("SystemCallFilter"):
        if line.startswith("~"):
            allowed -= expand(line[1:].split(), groups)
        else:
            allowed |= expand(line.split(), groups)
    return allowed


CHILD = """
import errno, json, os, socket, sqlite3, sys, threading
import tests.support.seccomp as seccomp
seccomp.allow_only(json.loads(sys.argv[1]))
import numpy, segno, zxingcpp
from gpiozero import LED
from gpiozero.pins.mock import MockFactory
from entryscan.device.access.clock import read_adjtimex
from entryscan.device.scan.decoders import make_decoder
result = {}
result["adjtimex_errno"] = read_adjtimex()[1]
db = sqlite3.connect(sys.argv[2]); db.execute("create table t (x)"); db.execute("insert into t values (1)")
db.commit(); result["sqlite"] = db.execute("select count(*) from t").fetchone()[0]
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
client = socket.create_connection(server.getsockname(), timeout=5); conn, _ = server.accept()
client.sendall(b"ping"); result["tcp"] = conn.recv(4).decode()
led = LED(17, pin_factory=MockFactory()); led.blink(0.01, 0.01, n=2, background=False)
result["gpio"] = led.pin.state
qr = segno.make("hello door", micro=False)
image = numpy.array(qr.matrix, dtype=numpy.uint8).repeat(8, 0).repeat(8, 1)
image = numpy.pad(255 - image * 255, 32, constant_values=255).astype(numpy.uint8)
result["decoded"] = [c.text for c in make_decoder("zxing").decode(image)]
try:
    os.setpriority(os.PRIO_PROCESS, 0, 5)
    result["setpriority"] = "allowed"
except OSError as exc:
    result["setpriority"] = errno.errorcode[exc.errno]
print(json.dumps(result))
"""


def test_python_door_work_runs_under_the_units_syscall_filter(tmp_path: Path) -> None:
    if libseccomp() is None:
        pytest.skip("libseccomp.so.2 is not installed (it comes with systemd)")
    assert values("SystemCallErrorNumber") == ["EPERM"]  # refused calls fail, they do not kill the door
    allowed = sorted(unit_allow_list())
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(allowed), str(tmp_path / "j.db")],
                         cwd=ROOT, check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["adjtimex_errno"] == 0  # the clock's sync state stays readable
    assert result["sqlite"] == 1 and result["tcp"] == "ping" and result["gpio"] is False
    assert result["decoded"] == ["hello door"]
    assert result["setpriority"] == "EPERM"  # the filter is really in force (@resources is refused)
