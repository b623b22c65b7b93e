"""scripts/install-pi.sh in a fake root: apt-get, systemctl, useradd, usermod, getent, chown and python3 are
recording stubs on PATH; install, cmp, chmod and mv are real. What only a Pi shows is in the README."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from entryscan.provisioning.__main__ import main as provision
from tests.paths import REPO

SCRIPT = REPO / "scripts" / "install-pi.sh"
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
"""
STUBS = {
    "apt-get": STUB, "systemctl": STUB, "chown": STUB, "usermod": STUB,
    "useradd": STUB + 'for last; do :; done; echo "$last" >> "$FAKE_PASSWD"\n',
    "getent": STUB + 'case "$1" in passwd) grep -qx "$2" "$FAKE_PASSWD" 2>/dev/null;; group) [ "$2" = video ];;'
                     ' *) exit 2;; esac\n',
    # python3 -m venv --system-site-packages DIR: a venv whose pip records, and "installs" a dist-info whose
    # RECORD is $PIP_RECORD (a new version of entryscan is a different RECORD).
    "python3": STUB + 'for last; do :; done; mkdir -p "$last/bin"\n'
                      'printf \'#!/bin/sh\\necho "pip $*" >> "$STUB_LOG"\\n'
                      'd=$(dirname "$0")/../lib/python3.11/site-packages/entryscan.dist-info\\n'
                      'mkdir -p "$d"; [ "$(cat "$d/RECORD" 2>/dev/null)" = "$PIP_RECORD" ] || '
                      'printf %s "$PIP_RECORD" > "$d/RECORD"\\n\' > "$last/bin/pip"\n'
                      'cp "$last/bin/pip" "$last/bin/python"; chmod +x "$last/bin/pip" "$last/bin/python"\n',
}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install-pi.sh insists on root")


class FakePi:
    def __init__(self, tmp: Path) -> None:
        tmp.mkdir(exist_ok=True)
        self.root = tmp / "root"
        self.log = tmp / "calls.log"
        self.stubs = tmp / "stubs"
        self.stubs.mkdir()
        for name, text in STUBS.items():
            (self.stubs / name).write_text(text)
            (self.stubs / name).chmod(0o755)
        self.env = {**os.environ, "PATH": f"{self.stubs}:{os.environ['PATH']}", "ENTRYSCAN_ROOT": str(self.root),
                    "STUB_LOG": str(self.log), "FAKE_PASSWD": str(tmp / "passwd")}

    def install(self, bundle: Path, record: str = "entryscan 0.1.0") -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        return subprocess.run(["bash", str(SCRIPT), str(bundle)], env={**self.env, "PIP_RECORD": record},
                              capture_output=True, text=True, timeout=60, check=False)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "entryscan"

    def snapshot(self) -> dict[str, tuple[bytes, int, int]]:
        return {str(p.relative_to(self.root)): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
                for p in self.root.rglob("*") if p.is_file()}


def make_bundle(tmp: Path, device: str, *extra: str) -> Path:
    site = tmp / "site"
    if not site.exists():
        assert provision(["site", "init", "--site", "hq", "--dir", str(site)]) == 0
    out = tmp / f"bundle-{device}"
    assert provision(["device", "add", "--site-dir", str(site), "--device", device, "--door", "main",
                      "--broker", "mqtts://broker.hq:8883", "--out", str(out), *extra]) == 0
    return out


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
    assert "apt-get install -y --no-install-recommends python3-picamera2 python3-lgpio python3-venv libzbar0" in calls
    assert any(c.startswith("useradd --system") and c.endswith(" entryscan") for c in calls)
    assert "usermod -a -G video entryscan" in calls and not any("gpio" in c for c in calls if "usermod" in c)
    assert f"python3 -m venv --system-site-packages {pi.root}/opt/entryscan/venv" in calls
    assert f"pip install --quiet entryscan[pi] @ file://{REPO}" in calls
    assert f"chown entryscan:entryscan {pi.etc}/device.key" in calls
    assert f"chown root:entryscan {pi.etc}/config.toml" in calls
    unit = pi.root / "etc" / "systemd" / "system" / "entryscan.service"
    assert unit.read_bytes() == (REPO / "systemd" / "entryscan.service").read_bytes()
    assert calls[-3:] == ["systemctl daemon-reload", "systemctl enable entryscan.service",
                          "systemctl restart --no-block entryscan.service"]


def test_install_is_idempotent(tmp_path: Path) -> None:
    pi, bundle = FakePi(tmp_path), make_bundle(tmp_path, "door-1")
    assert pi.install(bundle).returncode == 0
    before = pi.snapshot()
    again = pi.install(bundle)
    assert again.returncode == 0, again.stderr
    assert pi.snapshot() == before  # not a byte, mode or mtime changed
    calls = pi.calls()
    assert not any(c.startswith(("useradd", "python3")) for c in calls)  # user and venv exist already
    assert calls[-1] == "systemctl start --no-block entryscan.service"  # nothing changed: no restart


def test_a_new_version_of_entryscan_restarts_the_service(tmp_path: Path) -> None:
    # The virtual door's upgrade (tests/vm/test_upgrade.py) found the old door running on after N+1 was installed.
    pi, bundle = FakePi(tmp_path), make_bundle(tmp_path, "door-1")
    assert pi.install(bundle).returncode == 0
    upgrade = pi.install(bundle, record="entryscan 0.2.0")
    assert upgrade.returncode == 0, upgrade.stderr
    assert pi.calls()[-1] == "systemctl restart --no-block entryscan.service"
    assert pi.install(bundle, record="entryscan 0.2.0").returncode == 0
    assert pi.calls()[-1] == "systemctl start --no-block entryscan.service"


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
