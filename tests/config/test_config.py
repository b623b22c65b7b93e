from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from entryscan.device.config.settings import PolicyMode, load_config, parse_config
from entryscan.device.errors import ConfigError

ISSUE_EXAMPLE = """\
[device]
id = "door-1"
site = "hq"
door = "main"
[camera]
source = "dir:frames"        # or "picamera2"
[mqtt]
url = "mqtt://127.0.0.1:1883"   # mqtts:// for TLS
[journal]
path = "journal.db"
[policy]
mode = "allowlist"
[credentials.badge]
codes_file = "badges.txt"    # one code per line, '#' comments; stored and compared as keyed hashes
"""


def test_issue_example_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(ISSUE_EXAMPLE)
    cfg = load_config(path)
    assert cfg.device.id == "door-1" and cfg.policy.mode is PolicyMode.ALLOWLIST
    assert cfg.camera.replay_dir == tmp_path / "frames"  # relative to the config file, as the README says
    assert cfg.journal.path == tmp_path / "journal.db"
    assert cfg.credentials.badge is not None and cfg.credentials.badge.codes_file == tmp_path / "badges.txt"
    assert cfg.decoder.backend == "auto" and cfg.decoder.debounce_s == 3.0 and cfg.camera.fps == 15
    with pytest.raises(AttributeError):
        cfg.device.id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (('id = "door-1"', 'id = "Door 1"'), "device.id", "must match"),
        (("[policy]", "[policy]\ncolour = 1"), "policy.colour", "unknown key"),
        (('mode = "allowlist"', 'mode = "everyone"'), "policy.mode", "must be one of"),
        (('[camera]', '[camera]\nfps = "fast"'), "camera.fps", "must be a number"),
        (('[camera]', '[camera]\nfps = -1'), "camera.fps", "0..120"),
        (('source = "dir:frames"', 'source = "usb0"'), "camera.source", "picamera2"),
        (('mqtt://127.0.0.1:1883', 'mqtt://broker.example.com'), "mqtt.url", "mqtts://"),
        (('mqtt://127.0.0.1:1883', 'mqtt://u:secret@127.0.0.1'), "mqtt.url", "password_file"),
        (('mqtt://127.0.0.1:1883', 'http://127.0.0.1'), "mqtt.url", "mqtt://"),
        (('[journal]', '[journal]\nmax_rows = true'), "journal.max_rows", "integer"),
        (('[credentials.badge]\ncodes_file = "badges.txt"', ''), "credentials.badge", "required"),
        (('[device]\nid = "door-1"', '[device]'), "device.id", "is required"),
        (('[camera]', '[relay]\npin = 5\npulse_s = 30\n[camera]'), "relay.pulse_s", "0.1..10"),
        (('[camera]', '[feedback]\ngreen_pin = 5\nred_pin = 5\n[camera]'), "feedback", "share one GPIO"),
        (('[camera]', '[privacy]\nshare = ["face"]\n[camera]'), "privacy.share[0]", "must be one of"),
        (('[camera]', '[tamper]\npin = 17\n[camera]'), "tamper.pin", "already uses"),
        (('[camera]', '[relay]\npin = 27\n[camera]'), "relay.pin", "already uses"),
    ],
)
def test_bad_values_name_the_key(change: tuple[str, str], key: str, problem: str) -> None:
    text = ISSUE_EXAMPLE.replace(*change)
    assert text != ISSUE_EXAMPLE
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("/etc/entryscan"))
    assert info.value.key == key
    assert problem in info.value.problem


def test_toml_syntax_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="toml"):
        parse_config("[device\nid=", Path("/"))


def test_tls_to_a_remote_broker_is_accepted() -> None:
    cfg = parse_config(ISSUE_EXAMPLE.replace("mqtt://127.0.0.1:1883", "mqtts://broker.example.com"), Path("/"))
    assert cfg.mqtt.tls and cfg.mqtt.port == 8883 and cfg.mqtt.host == "broker.example.com"


@pytest.mark.parametrize("content", ['[device]\nid = "x"\nsite = "y"\n', "not toml at all [[[", "\xff\xfe"])
def test_malformed_config_exits_78_with_one_clear_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content.encode("latin-1"))
    out = subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "run", "--config", str(path)],
                         check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 78
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("entryscan: config error: ")
    assert out.stdout == ""


def test_missing_config_file_exits_78(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "run", "--config", str(tmp_path / "nope.toml")],
                         check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 78 and "config file not found" in out.stderr
