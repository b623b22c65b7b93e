"""The lgpio pin factory claims each output at its initial level: an active-low relay is never energised on start.

lgpio needs /dev/gpiochip*, so gpiozero's lgpio module runs here against ``FakeLgpio``, a stand-in with lgpio's
Python API that records every level a line is driven to (a logic analyser on the header).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entryscan.device.config.settings import FeedbackConfig, RelayConfig
from entryscan.device.hardware.feedback import GpioFeedback
from entryscan.device.hardware.outputs_off import run_outputs_off

PI4_REVISION = 0xC03111
RELAY = 26


class FakeLgpio(types.ModuleType):
    """lgpio's calls gpiozero makes, per line: ``driven[gpio]`` lists each level it was driven to, in order."""

    SET_PULL_NONE, SET_PULL_UP, SET_PULL_DOWN = 0x80, 0x20, 0x40
    SET_BIAS_DISABLE, SET_BIAS_PULL_UP, SET_BIAS_PULL_DOWN = 0x80, 0x20, 0x40
    RISING_EDGE, FALLING_EDGE, BOTH_EDGES = 1, 2, 3
    error = RuntimeError

    def __init__(self) -> None:
        super().__init__("lgpio")
        self.driven: dict[int, list[int]] = {}
        self._out: set[int] = set()

    def gpiochip_open(self, chip: int) -> int:
        return 7

    def gpiochip_close(self, handle: int) -> None:
        pass

    def gpio_claim_input(self, handle: int, gpio: int, flags: int = 0) -> int:
        self._out.discard(gpio)
        return 0

    def gpio_claim_output(self, handle: int, gpio: int, level: int = 0, flags: int = 0) -> int:
        self._out.add(gpio)
        self.driven.setdefault(gpio, []).append(level)
        return 0

    def gpio_write(self, handle: int, gpio: int, level: int) -> int:
        assert gpio in self._out, f"GPIO {gpio} written before it was claimed as an output"
        self.driven.setdefault(gpio, []).append(level)
        return 0

    def gpio_read(self, handle: int, gpio: int) -> int:
        levels = self.driven.get(gpio, [0])
        return levels[-1]

    def gpio_get_mode(self, handle: int, gpio: int) -> int:
        return 1 << 1 if gpio in self._out else 0

    def gpio_free(self, handle: int, gpio: int) -> int:
        self._out.discard(gpio)
        return 0


@pytest.fixture
def lgpio(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLgpio]:
    fake = FakeLgpio()
    monkeypatch.setitem(sys.modules, "lgpio", fake)
    monkeypatch.delitem(sys.modules, "gpiozero.pins.lgpio", raising=False)  # imported afresh, against the fake
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)  # lgpio, as on the Pi
    from gpiozero.pins.local import LocalPiFactory

    monkeypatch.setattr(LocalPiFactory, "_get_revision", lambda self: PI4_REVISION)
    yield fake


def feedback_on(factory: Any) -> GpioFeedback:
    return GpioFeedback(FeedbackConfig(green_pin=5, red_pin=6, buzzer_pin=13),
                        RelayConfig(pin=RELAY, active_low=True, pulse_s=0.3), pin_factory=factory)


def test_gpiozero_own_lgpio_factory_energises_an_active_low_relay_on_start(lgpio: FakeLgpio) -> None:
    """The witness: this is what the daemon, selftest and outputs-off did on a Pi before."""
    from gpiozero.pins.lgpio import LGPIOFactory

    factory = LGPIOFactory()
    try:
        feedback_on(factory).close()
    finally:
        factory.close()
    assert lgpio.driven[RELAY][:2] == [0, 1]  # claimed low (energised), then written high


def test_the_daemon_claims_an_active_low_relay_high(lgpio: FakeLgpio) -> None:
    from entryscan.device.hardware.pins import hardware_pin_factory

    factory = hardware_pin_factory()
    try:
        feedback = feedback_on(factory)
        assert lgpio.driven[RELAY] == [1]  # straight to off
        assert all(levels == [0] for gpio, levels in lgpio.driven.items() if gpio != RELAY)
        feedback.close()
    finally:
        factory.close()
    assert 0 not in lgpio.driven[RELAY]  # never energised, start to close


def test_outputs_off_drives_an_active_low_relay_off_without_a_blip(lgpio: FakeLgpio, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[feedback]\ngreen_pin = 5\nred_pin = 6\nbuzzer_pin = 13\n[relay]\npin = {RELAY}\n"
                      "active_low = true\n")
    assert run_outputs_off(config) == 0
    assert lgpio.driven[RELAY] == [1]
    assert lgpio.driven[5] == lgpio.driven[6] == lgpio.driven[13] == [0]


def test_run_without_lgpio_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Before: `entryscan run` without --simulate on a machine without lgpio ended in a traceback."""
    import shutil

    from entryscan.device.cli.main import main
    from tests.paths import SAMPLE_DOOR

    shutil.copytree(SAMPLE_DOOR, tmp_path / "door")
    config = tmp_path / "door" / "config.toml"  # its broker is never reached: the pins come first
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setitem(sys.modules, "lgpio", None)  # import lgpio raises ImportError, as off a Pi
    assert main(["run", "--config", str(config)]) == 70
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("entryscan: GPIO pin factory 'lgpio' unavailable") and "--simulate" in err[-1]
    assert not any("Traceback" in line for line in err)
