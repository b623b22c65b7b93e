"""First boot through cloud-init (issue 7): the shipped vendor-data runs against a fake root with
the real provisioning bundle. Only the package manager, systemd and the venv are stand-ins (they log
their arguments); install, shred and the file modes are real."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from entryscan.device.cli.main import main
from entryscan.provisioning.__main__ import main as provision

ROOT = Path(__file__).resolve().parents[2]
CLOUD_INIT = ROOT / "provisioning" / "cloud-init"
VENDOR_DATA = CLOUD_INIT / "vendor-data"
STUB = '#!/bin/sh\necho "$(basename "$0") $*" >> "$STUB_LOG"\n'
# python3 -m venv DIR: a venv whose pip only logs
PYTHON_STUB = STUB + 'for venv; do :; done\nmkdir -p "$venv/bin" && printf \'%s\' "$PIP_STUB" > "$venv/bin/pip" && chmod +x "$venv/bin/pip"\n'


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def first_boot(tmp_path: Path) -> tuple[Path, Path, str]:
    """A fake root with the bundle on its boot partition; runs the vendor-data; returns (root, boot, log)."""
    if os.geteuid() != 0:
        pytest.skip("vendor-data installs files owned by root (CI runs as root)")
    root = tmp_path / "root"
    boot = root / "boot" / "firmware" / "entryscan"
    site = tmp_path / "site"
    assert provision(["site", "init", "--site", "hq", "--dir", str(site)]) == 0
    assert provision(["device", "add", "--site-dir", str(site), "--device", "door-1", "--door", "main",
                      "--broker", "mqtts://broker.example:8883", "--out", str(boot)]) == 0
    (boot / "src").symlink_to(ROOT)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in {"apt-get": STUB, "systemctl": STUB, "systemd-sysusers": STUB, "python3": PYTHON_STUB}.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    log = tmp_path / "commands.log"
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "ROOT": str(root), "OWNER": "root",
           "STUB_LOG": str(log), "PIP_STUB": STUB.replace("$(basename \"$0\")", "pip")}
    out = subprocess.run(["sh", str(VENDOR_DATA)], env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return root, boot, log.read_text()


def test_secrets_leave_the_boot_partition_with_private_modes(first_boot: tuple[Path, Path, str]) -> None:
    root, boot, _ = first_boot
    etc = root / "etc" / "entryscan"
    assert mode(etc) == 0o750
    for secret in ("device.key", "site.key"):
        assert not (boot / secret).exists()
        assert mode(etc / secret) == 0o600
    for public in ("config.toml", "ca.pem", "device.pem", "badges.txt", "issuer.pub", "lists.pub"):
        assert mode(etc / public) == 0o640


def test_the_installed_bundle_builds_a_door(first_boot: tuple[Path, Path, str], tmp_path: Path) -> None:
    root, _, _ = first_boot
    etc = root / "etc" / "entryscan"
    config = (etc / "config.toml").read_text().replace("/etc/entryscan", str(etc))
    config = config.replace("/var/lib/entryscan", str(tmp_path / "state"))
    (tmp_path / "state").mkdir()
    rewritten = tmp_path / "config.toml"
    rewritten.write_text(config)
    # every file the config names is installed: the policy builds (a deny is a job done: exit 0, not 78)
    assert main(["check", "--config", str(rewritten), "--text", "not-a-badge"]) == 0


def test_service_is_enabled_and_started_without_blocking_cloud_final(first_boot: tuple[Path, Path, str]) -> None:
    root, _, log = first_boot
    assert "systemctl enable entryscan.service" in log.splitlines()
    assert "systemctl start --no-block entryscan.service" in log.splitlines()
    assert "--now" not in log
    assert (root / "etc" / "systemd" / "system" / "entryscan.service").read_text() == \
        (ROOT / "systemd" / "entryscan.service").read_text()
    (pip,) = [line for line in log.splitlines() if line.startswith("pip ")]
    assert f"-c {ROOT}/constraints.txt" in pip.replace(str(root / "boot/firmware/entryscan/src"), str(ROOT))
    assert (root / "etc" / "sysusers.d" / "entryscan.conf").exists()
    assert (ROOT / "constraints.txt").is_file()


def test_what_imager_wrote_is_left_alone() -> None:
    # Shipped as vendor-data, never as user-data: Imager's user-data (user, SSH, hostname) is not replaced.
    assert not list(CLOUD_INIT.glob("user-data*"))
    assert VENDOR_DATA.read_text().startswith("#!/bin/sh\n")
    commands = [line for line in VENDOR_DATA.read_text().splitlines() if not line.lstrip().startswith("#")]
    forbidden = re.compile(r"useradd|usermod|chpasswd|passwd|hostname|ssh|authorized_keys|user-data")
    assert not [line for line in commands if forbidden.search(line)]
