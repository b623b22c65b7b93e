"""Hostile values in the config: each is a config error (exit 78) on one short line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from entryscan.device.config.settings import parse_config
from entryscan.device.errors import ConfigError
from tests.config.test_config import ISSUE_EXAMPLE

MAX_LINE = 300


def run_cli(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "run", "--config", str(config)],
                          check=False, capture_output=True, text=True, timeout=60)


def assert_one_short_config_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 78, out.stderr[-2000:]
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("entryscan: config error: "), out.stderr[:600]
    assert len(lines[0]) < MAX_LINE, len(lines[0])
    return lines[0]


@pytest.mark.parametrize(("name", "text"), [
    ("integer over 4300 digits", ISSUE_EXAMPLE.replace("[camera]", "[camera]\nfps = " + "9" * 5000)),
    ("tables nested thousands deep", ISSUE_EXAMPLE + "x = " + "[" * 5000 + "]" * 5000 + "\n"),
    ("inline tables nested thousands deep", ISSUE_EXAMPLE + "y = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"),
])
def test_parser_limits_are_config_errors_not_tracebacks(tmp_path: Path, name: str, text: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    line = assert_one_short_config_line(run_cli(config))
    assert "toml:" in line, (name, line)


def test_a_2mb_device_id_is_quoted_as_a_short_prefix(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(ISSUE_EXAMPLE.replace('id = "door-1"', 'id = "' + "D" * 2_000_000 + '"'))
    line = assert_one_short_config_line(run_cli(config))
    assert line.startswith("entryscan: config error: device.id: ") and "DDDD" in line


@pytest.mark.parametrize(("change", "key"), [
    (('[policy]', '[policy]\n"bad\\nkey' + "k" * 5000 + '" = 1'), "policy.bad\\nkey"),
    (('mode = "allowlist"', 'mode = "' + "x\\n" * 100_000 + '"'), "policy.mode"),
    (('[camera]', '[camera]\nfps = inf'), "camera.fps"),
    (('[camera]', '[camera]\nlens_position = nan'), "camera.lens_position"),
    (('[camera]', '[camera]\ntimeout_s = 1e400'), "camera.timeout_s"),
    (('path = "journal.db"', 'path = "' + "a" * 300 + '/journal.db"'), "journal.path"),
    (('path = "journal.db"', 'path = "j\\u0000.db"'), "journal.path"),
    (('mqtt://127.0.0.1:1883', 'mqtt://[::1'), "mqtt.url"),
    (('[mqtt]', '[mqtt]\ndiscovery_prefix = "home/#"'), "mqtt.discovery_prefix"),
    (('[mqtt]', '[mqtt]\nstate_interval_s = 1e300'), "mqtt.state_interval_s"),
])
def test_hostile_values_name_the_key_on_one_short_line(change: tuple[str, str], key: str) -> None:
    text = ISSUE_EXAMPLE.replace(*change)
    assert text != ISSUE_EXAMPLE
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("/etc/entryscan"))
    message = str(info.value)
    assert message.startswith(key), message[:200]
    assert "\n" not in message and len(message) < MAX_LINE - len("entryscan: config error: ")


def test_camera_dir_resolves_relative_to_the_config_file(tmp_path: Path) -> None:
    from entryscan.device.config.settings import load_config

    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "config.toml"
    config.write_text(ISSUE_EXAMPLE.replace('source = "dir:frames"', 'source = "dir:../frames"'))
    cfg = load_config(config)
    assert cfg.camera.replay_dir == tmp_path / "etc" / ".." / "frames"
    assert cfg.camera.source == f"dir:{tmp_path / 'etc' / '..' / 'frames'}"


def test_a_journal_folder_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "badges.txt").write_text("STAFF-0001\n")
    (tmp_path / "occupied").write_text("a file where the state folder should be")
    config = tmp_path / "config.toml"
    config.write_text(ISSUE_EXAMPLE.replace('path = "journal.db"', 'path = "occupied/journal.db"'))
    line = assert_one_short_config_line(run_cli(config))
    assert line.startswith("entryscan: config error: journal.path: cannot create ")
