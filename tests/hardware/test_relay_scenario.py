"""Scenario 16, the relay: released by the unit's stop hook after a SIGKILL mid-pulse, off at boot, and one
pulse at most however many accepts arrive.

The real daemon (``entryscan run``, not --simulate) drives its outputs through a mock GPIO chip whose levels
outlive the process (tests/support/gpio_levels.py), selected with GPIOZERO_PIN_FACTORY as the unit selects
lgpio; the stop hook is the unit file's own ExecStopPost command line, run after the kill as systemd would.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from entryscan.device.config.settings import FeedbackConfig, RelayConfig
from entryscan.device.hardware.feedback import GpioFeedback
from entryscan.device.model import CredentialSummary, Decision
from tests.paths import REPO, SAMPLE_DOOR, SAMPLE_FRAMES
from tests.support import wait_for
from tests.support.gpio_levels import ENV, Level, install, last_levels, read_levels
from tests.support.mosquitto import free_port

RELAY, GREEN, RED, BUZZER = "GPIO26", "GPIO5", "GPIO6", "GPIO13"
CONFIG = """\
[device]
id = "door-1"
site = "hq"
door = "main"
[camera]
source = "dir:{frames}"
fps = 2
timeout_s = 0.5
[mqtt]
url = "mqtt://127.0.0.1:{port}"
discovery = false
[journal]
path = "journal.db"
[policy]
mode = "allowlist"
[credentials.badge]
codes_file = "{badges}"
[feedback]
green_pin = 5
red_pin = 6
buzzer_pin = 13
[relay]
pin = 26
active_low = true
pulse_s = 10
"""


def door_config(folder: Path, frames: list[str]) -> Path:
    frame_dir = folder / "frames"
    frame_dir.mkdir(parents=True)
    for i, name in enumerate(frames):
        shutil.copy(SAMPLE_FRAMES / name, frame_dir / f"{i:03d}-{name}")
    config = folder / "config.toml"
    config.write_text(CONFIG.format(frames=frame_dir, port=free_port(), badges=SAMPLE_DOOR / "badges.txt"))
    return config


def start_daemon(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "entryscan.device.cli.main", "run", "--config", str(config)],
                            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, cwd=config.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_hook(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The unit's ExecStopPost line, with the install paths pointed at this checkout's venv and config."""
    unit = (REPO / "systemd" / "entryscan.service").read_text()
    (line,) = [x.split("=", 1)[1] for x in unit.splitlines() if x.startswith("ExecStopPost=")]
    argv = shlex.split(line)
    assert argv[0] == "/opt/entryscan/venv/bin/entryscan" and argv[-1] == "/etc/entryscan/config.toml"
    argv[0], argv[-1] = str(Path(sys.executable).parent / "entryscan"), str(config)
    return subprocess.run(argv, check=False, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)


def energised(levels: dict[str, Level]) -> bool:
    relay = levels.get(RELAY)
    return relay is not None and relay.function == "output" and relay.state is False  # active low


def released(levels: dict[str, Level]) -> bool:
    relay = levels.get(RELAY)
    return relay is not None and relay.function == "output" and relay.state is True


@pytest.fixture
def gpio(tmp_path: Path) -> dict[str, str]:
    return install(tmp_path / "gpio")


def test_sigkill_mid_pulse_holds_the_relay_until_the_units_stop_hook_releases_it(
        tmp_path: Path, gpio: dict[str, str]) -> None:
    levels = Path(gpio[ENV])
    config = door_config(tmp_path / "door", ["000-empty.png", "002-staff-0001.png", "005-empty.png"])
    daemon = start_daemon(config, gpio)
    try:
        assert wait_for(lambda: energised(last_levels(levels)), timeout=60), daemon.stdout
        daemon.send_signal(signal.SIGKILL)  # mid-pulse: pulse_s = 10
        daemon.wait(10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
    assert energised(last_levels(levels))  # what a Pi keeps after the kill: the door stays open
    hook = stop_hook(config, gpio)
    assert hook.returncode == 0, hook.stdout + hook.stderr
    after = last_levels(levels)
    assert released(after) and after[RELAY].pid not in (daemon.pid, os.getpid())
    assert [(after[p].function, after[p].state) for p in (GREEN, RED, BUZZER)] == [("output", False)] * 3
    assert "relay GPIO 26 driven high (off)" in hook.stdout


def test_the_relay_is_off_at_boot_even_if_the_line_was_left_energised(tmp_path: Path, gpio: dict[str, str]) -> None:
    levels = Path(gpio[ENV])
    config = door_config(tmp_path / "door", ["000-empty.png", "001-empty.png"])
    # What a power cut or a kill without the hook leaves: the relay line driven on.
    levels.write_text(f'{{"at": 0, "pin": "{RELAY}", "function": "output", "state": false, "pid": 1}}\n')
    daemon = start_daemon(config, gpio)
    try:
        assert wait_for(lambda: any(lv.pid == daemon.pid for lv in read_levels(levels)), timeout=60)
        assert wait_for(lambda: released(last_levels(levels)), timeout=10)
        # Started and scanning frames: the relay line was never driven on by the daemon.
        assert wait_for(lambda: (tmp_path / "door" / "journal.db").exists(), timeout=30)
        assert not any(lv.pin == RELAY and not lv.state and lv.pid == daemon.pid and lv.function == "output"
                       for lv in read_levels(levels))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(20)
    assert stop_hook(config, gpio).returncode == 0
    assert released(last_levels(levels))


ACCEPT = Decision.accept(CredentialSummary(type="badge"))


def on_spans(factory: MockFactory, pin: int) -> list[float]:
    """How long each activation of an active-high output lasted.

    gpiozero's MockPin records each change with the time since the previous change, so the entry that
    turns the pin off carries how long it was on.
    """
    return [after.timestamp for before, after in itertools.pairwise(factory.pin(pin).states)
            if before.state and not after.state]


def test_1000_accepts_in_a_burst_never_hold_the_relay_longer_than_one_pulse() -> None:
    factory = MockFactory()
    pulse_s = 0.2
    feedback = GpioFeedback(FeedbackConfig(accept_s=0.05), RelayConfig(pin=23, pulse_s=pulse_s),
                            pin_factory=factory)
    try:
        start = time.monotonic()
        for _ in range(1000):  # about 1.2 s of accepts: six pulses' worth
            feedback.show(ACCEPT)
            time.sleep(0.0012)
        burst_s = time.monotonic() - start
        relay_thread = getattr(feedback.devices["relay"], "_blink_thread", None)
        if relay_thread is not None:
            relay_thread.join(5)
        spans = on_spans(factory, 23)
        # Extending a running pulse would hold the relay for the whole burst (over a second); each pulse
        # ends after pulse_s instead, and a new one starts only after it ended.
        assert spans and max(spans) < 2 * pulse_s < burst_s, (spans, burst_s)
        assert len(spans) <= burst_s / pulse_s + 1
        assert factory.pin(23).state is False
    finally:
        feedback.close()
        factory.reset()
