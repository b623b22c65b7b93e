"""Wipe and provision: personal data and keys gone, the daemon refuses to run, provisioning restores it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from entryscan.device.cli import main as cli
from entryscan.device.config.settings import load_config
from entryscan.device.errors import NotProvisioned
from entryscan.device.lifecycle.wipe import ensure_provisioned, wipe, wipe_targets
from tests.conftest import MosquittoFactory
from tests.support import wait_for
from tests.support.door import Door, Subscriber, frames_dir

FRAMES = ["002-staff-0001.png", "006-visitor-unknown.png"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_wipe_then_run_refuses_78_then_provision_runs_again(
        tmp_path: Path, mosquitto_factory: MosquittoFactory, capsys: pytest.CaptureFixture[str]) -> None:
    broker = mosquitto_factory()
    sub = Subscriber(broker.url)
    alerts = Subscriber(broker.url, topic="entryscan/+/+/alert", client_id="test-alerts")
    door = Door(tmp_path / "door", broker.url, frames_dir(tmp_path / "frames", FRAMES))
    cfg_path = str(door.config)
    # A TLS-style secret named in the config is wiped as well; the config itself never is.
    (door.workdir / "mqtt.password").write_text("s3cret\n")
    os.chmod(door.workdir / "mqtt.password", 0o600)
    secret = 'keepalive_s = 5\nusername = "door-1"\npassword_file = "mqtt.password"'
    door.config.write_text(door.config.read_text().replace("keepalive_s = 5", secret))
    try:
        door.start()
        assert wait_for(lambda: len(sub.entries()) >= 2, timeout=30), door.output
        assert door.stop() == 0
        subjects = [e["subject"] for e in sub.entries()]

        assert run_cli(capsys, "wipe", "--config", cfg_path)[0] == 2  # needs --yes
        code, _, err = run_cli(capsys, "wipe", "--config", cfg_path, "--yes")
        assert code == 0, err
        assert door.config.exists()
        left = {p.name for p in door.workdir.iterdir()}
        assert left == {"config.toml", "WIPED"}, left
        blob = b"".join(p.read_bytes() for p in door.workdir.rglob("*") if p.is_file())
        for subject in subjects:
            assert subject.encode() not in blob

        refused = subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "run", "--simulate", "--config", cfg_path],
                                 check=False, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 78
        assert refused.stderr.strip().splitlines() == ["entryscan: device was wiped; provision it again"]
        code, _, err = run_cli(capsys, "check", "--config", cfg_path, "--text", "STAFF-0001")
        assert code == 78 and "provision it again" in err

        # Provisioning needs the config's secrets back in place.
        code, _, err = run_cli(capsys, "provision", "--config", cfg_path)
        assert code == 78 and "mqtt.password_file" in err
        (door.workdir / "mqtt.password").write_text("s3cret\n")
        os.chmod(door.workdir / "mqtt.password", 0o600)
        site_key = tmp_path / "site.key"
        site_key.write_bytes(b"S" * 32)
        code, _, err = run_cli(capsys, "provision", "--config", cfg_path, "--subject-key", str(site_key))
        assert code == 0, err
        key_file = door.workdir / "subject.key"
        assert key_file.read_bytes() == b"S" * 32 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert not (door.workdir / "WIPED").exists()

        door.start()
        assert wait_for(lambda: len(sub.entries()) >= 4, timeout=30), door.output
        assert wait_for(lambda: any(a.get("kind") == "device_wiped" or "device_wiped" in str(a)
                                    for a in alerts.json_on("/alert")), timeout=15), alerts.raw
        assert door.stop() == 0
        # The new journal is a new incarnation whose seq starts again at 1: the collector counts gaps per
        # incarnation, so the restart is not a negative gap (it was, before incarnations).
        before, after = sub.entries()[:2], sub.entries()[2:4]
        assert [e["seq"] for e in before] == [1, 2] and [e["seq"] for e in after] == [1, 2]
        assert before[0]["incarnation"] == before[1]["incarnation"] != after[0]["incarnation"]
    finally:
        if door.proc is not None and door.proc.poll() is None:
            door.kill()
        sub.close()
        alerts.close()


def test_wipe_targets_cover_state_and_secrets_but_not_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("""
[device]
id = "d"
site = "s"
door = "x"
[mqtt]
url = "mqtts://broker.example"
cert_file = "device.pem"
key_file = "device.key"
password_file = "config.toml"
[journal]
path = "state/journal.db"
[policy]
mode = "visitors"
visitors = "registered"
[credentials.cccd]
registered_file = "visitors.txt"
[lists]
trusted_keys = ["lists.pub"]
""")
    cfg = load_config(config)
    names = {p.relative_to(tmp_path).as_posix() for p in wipe_targets(cfg, config)}
    assert {"state/journal.db", "state/journal.db-wal", "state/lists.db", "state/reuse.db", "state/subject.key",
            "device.key", "visitors.txt"} <= names
    assert "config.toml" not in names and "device.pem" not in names
    for name in ("state/journal.db", "device.key", "visitors.txt", "device.pem"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("001099012345\n")
    report = wipe(cfg, config)
    assert len(report.removed) == 3 and not report.failed
    assert config.exists() and (tmp_path / "device.pem").exists()
    with pytest.raises(NotProvisioned):
        ensure_provisioned(cfg)
