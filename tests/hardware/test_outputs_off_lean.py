"""``entryscan outputs-off`` is lean (issue 17, scenario 4): after a SIGKILL mid-pulse the relay stays energised
until this command has claimed its line, so it imports no more than it needs and claims through lgpio directly.

The subprocess runs the console script's own code (``cli.entry.main``) with lgpio's Python API replaced by
tests/support/lgpio_stub, which logs every claim, as there is no /dev/gpiochip here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from entryscan.device.cli import entry
from entryscan.device.config.settings import DEFAULT_CONFIG_PATH, FeedbackConfig
from entryscan.device.hardware import outputs_off
from tests.paths import REPO

CONFIG = "[feedback]\ngreen_pin = 5\n[relay]\npin = 26\nactive_low = true\n[mqtt]\nurl =\n"  # broken elsewhere
# What the Pi's path must never pay for: the decoders, the broker client, the schema, the full command line.
HEAVY = ("gpiozero", "paho", "zxingcpp", "pyzbar", "numpy", "PIL", "cryptography", "cbor2", "sqlite3",
         "importlib.metadata", "argparse", "logging", "entryscan.device.config", "entryscan.device.scan",
         "entryscan.device.delivery", "entryscan.device.access", "entryscan.device.cli.main",
         "entryscan.device.hardware.pins", "entryscan.device.hardware.feedback")
CONSOLE_SCRIPT = "import sys; from entryscan.device.cli.entry import main; sys.exit(main())"


def run_off(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    log = tmp_path / "lgpio.jsonl"
    environ = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
    environ.update(PYTHONPATH=os.pathsep.join([str(REPO / "tests" / "support" / "lgpio_stub"), str(REPO)]),
                   ENTRYSCAN_TEST_LGPIO_LOG=str(log), **env)
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", CONSOLE_SCRIPT, "outputs-off", *args],
                          env=environ, capture_output=True, text=True, timeout=60, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls


def imported(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and "self [us]" not in line}


def test_the_units_command_claims_each_line_once_at_its_off_level_and_imports_nothing_heavy(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    done, calls = run_off(tmp_path, "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls[0] == {"call": "gpiochip_open", "chip": 0}
    claims = {c["gpio"]: c["level"] for c in calls if c["call"] == "gpio_claim_output"}
    assert claims == {5: 0, 27: 0, 22: 0, 26: 1}  # the active-low relay claimed high: off, with no low blip
    assert len(calls) == 5  # one claim per line, nothing written afterwards
    heavy = sorted(m for m in imported(done.stderr) if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
    assert "relay GPIO 26 driven high (off)" in done.stdout


def test_a_line_that_cannot_be_claimed_fails_the_command_and_the_others_still_go_off(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    done, calls = run_off(tmp_path, f"--config={config}", ENTRYSCAN_TEST_LGPIO_FAIL="26")
    assert done.returncode == 1
    assert {c["gpio"] for c in calls if c["call"] == "gpio_claim_output"} == {5, 27, 22}
    assert "relay GPIO 26: error: GPIO busy" in done.stdout
    assert "relay GPIO 26 driven" not in done.stdout  # not claimed to have been driven


def test_without_lgpio_it_says_so_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    monkeypatch.setitem(sys.modules, "lgpio", None)  # import lgpio raises ImportError, as off a Pi
    assert outputs_off.run_outputs_off(config, environ={}) == 1
    assert "no GPIO: ModuleNotFoundError" in capsys.readouterr().out


def test_any_other_factory_goes_through_gpiozero_as_the_daemon_does(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    from entryscan.device.hardware import pins

    made: list[MockFactory] = []
    real = pins.hardware_pin_factory

    def recording() -> Any:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(pins, "hardware_pin_factory", recording)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert entry.main(["outputs-off", "--config", str(config)]) == 0
    (factory,) = made
    assert isinstance(factory, MockFactory)
    assert (factory.pin(26).function, factory.pin(26).state) == ("output", True)
    assert (factory.pin(5).function, factory.pin(5).state) == ("output", False)


@pytest.mark.parametrize(("argv", "expected"), [
    (["outputs-off", "--config", "/x.toml"], "/x.toml"),
    (["outputs-off", "--config=/x.toml"], "/x.toml"),
    (["outputs-off"], "/from-env.toml"),
    (["outputs-off", "--help"], None),          # argparse's help, from the full command line
    (["-v", "outputs-off"], None),
    (["outputs-off", "--config"], None),        # the full parser's usage error, exit 2
    (["run", "--config", "/x.toml"], None),
    ([], None),
])
def test_only_the_plain_forms_take_the_lean_path(argv: list[str], expected: str | None) -> None:
    assert entry.outputs_off_config(argv, {"ENTRYSCAN_CONFIG": "/from-env.toml"}) == expected


def test_the_lean_copies_of_the_defaults_match_the_schema() -> None:
    defaults = FeedbackConfig()
    assert {k: getattr(defaults, k) for k in outputs_off.DEFAULT_FEEDBACK} == outputs_off.DEFAULT_FEEDBACK
    assert Path(outputs_off.DEFAULT_CONFIG_PATH) == DEFAULT_CONFIG_PATH
    assert entry.outputs_off_config(["outputs-off"], {}) == str(DEFAULT_CONFIG_PATH)


def test_the_chip_is_the_one_gpiozero_opens(tmp_path: Path) -> None:
    assert outputs_off.gpiochip_number(0xC04170, exists=lambda p: True) == 4   # Pi 5, RP1 as gpiochip4
    assert outputs_off.gpiochip_number(0xC04170, exists=lambda p: False) == 0  # Pi 5, newer kernels: chip 0
    assert outputs_off.gpiochip_number(0xC03111, exists=lambda p: True) == 0   # Pi 4
    assert outputs_off.gpiochip_number(None, exists=lambda p: True) == 0
    tree, cpuinfo = tmp_path / "linux,revision", tmp_path / "cpuinfo"
    tree.write_bytes((0xC04170).to_bytes(4, "big"))
    assert outputs_off.pi_revision(str(tree), str(cpuinfo)) == 0xC04170
    cpuinfo.write_text("processor\t: 0\nRevision\t: 1000002\n")  # over-volted: the "100" prefix is dropped
    assert outputs_off.pi_revision(str(tmp_path / "absent"), str(cpuinfo)) == 0x0002
    cpuinfo.write_text("Revision\t: zz\n")
    assert outputs_off.pi_revision(str(tmp_path / "absent"), str(cpuinfo)) is None
