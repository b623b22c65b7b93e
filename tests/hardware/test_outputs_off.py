"""``entryscan outputs-off`` (issue 7): after any exit, the relay, LEDs and buzzer are driven off,
even when the config is broken outside [feedback] / [relay] (the daemon exited 78)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from entryscan.device.cli.main import main
from entryscan.device.hardware.outputs_off import run_outputs_off

GOOD = """\
[device]
id = "door-1"
site = "hq"
door = "main"
[feedback]
green_pin = 5
[relay]
pin = 26
active_low = true
"""


def energised(factory: MockFactory, relay_pin: int = 26, relay_on_high: bool = False) -> None:
    """What a daemon killed mid-pulse leaves behind: every output driven on."""
    for pin in (5, 27, 22):
        factory.pin(pin).output_with_state(True)
    factory.pin(relay_pin).output_with_state(relay_on_high)


def states(factory: MockFactory, pins: tuple[int, ...] = (5, 27, 22, 26)) -> dict[int, tuple[str, bool]]:
    return {pin: (factory.pin(pin).function, factory.pin(pin).state) for pin in pins}


@pytest.fixture
def factory() -> MockFactory:
    return MockFactory()


def test_every_output_is_driven_off_honouring_active_low(tmp_path: Path, factory: MockFactory,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(GOOD)
    energised(factory)
    assert run_outputs_off(config, factory) == 0
    # LEDs and buzzer low; the active-low relay high (off); all still driven outputs, not floating inputs
    assert states(factory) == {5: ("output", False), 27: ("output", False), 22: ("output", False),
                               26: ("output", True)}
    assert "relay GPIO 26 driven high (off)" in capsys.readouterr().out


def test_active_high_relay_is_driven_low(tmp_path: Path, factory: MockFactory) -> None:
    config = tmp_path / "config.toml"
    config.write_text(GOOD.replace("active_low = true", "active_low = false"))
    energised(factory, relay_on_high=True)
    assert run_outputs_off(config, factory) == 0
    assert states(factory)[26] == ("output", False)


@pytest.mark.parametrize("breakage", [
    "[mqtt]\nurl = \n",                       # not TOML at all
    "[mqtt]\nno_such_key = 1\n",              # valid TOML, invalid config (the daemon exits 78)
    "[policy]\nmode = \"nonsense\"\n",
    "[device]\nid = \"door 1\"\n",            # a duplicate table: invalid TOML
])
def test_a_config_broken_elsewhere_still_switches_everything_off(tmp_path: Path, factory: MockFactory,
                                                                 breakage: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(GOOD + breakage)
    assert main(["run", "--config", str(config)]) == 78
    energised(factory)
    assert run_outputs_off(config, factory) == 0
    assert states(factory)[26] == ("output", True)
    assert states(factory)[5] == ("output", False)


def test_an_unknowable_relay_polarity_is_left_alone_and_reported(tmp_path: Path, factory: MockFactory,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(GOOD.replace("active_low = true", 'active_low = "yes"'))
    energised(factory)
    assert run_outputs_off(config, factory) == 1
    assert states(factory)[26] == ("output", False)  # untouched: driving it either way could energise it
    assert states(factory)[5] == ("output", False)  # the LEDs still go off
    assert "relay.active_low" in capsys.readouterr().out


def test_a_relay_section_that_does_not_parse_is_reported(tmp_path: Path, factory: MockFactory) -> None:
    config = tmp_path / "config.toml"
    config.write_text(GOOD.replace("pin = 26", "pin = 26 26") + "[mqtt]\nurl =\n")
    energised(factory)
    assert run_outputs_off(config, factory) == 1
    assert states(factory)[27] == ("output", False)


def test_a_missing_config_still_switches_the_default_leds_off(tmp_path: Path, factory: MockFactory) -> None:
    for pin in (17, 27, 22):
        factory.pin(pin).output_with_state(True)
    assert run_outputs_off(tmp_path / "absent.toml", factory) == 1
    assert states(factory, (17, 27, 22)) == {17: ("output", False), 27: ("output", False), 22: ("output", False)}


def test_the_cli_command_uses_the_named_pin_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(GOOD + "[mqtt]\nurl = \n")
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert main(["outputs-off", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "relay GPIO 26 driven high (off)" in out and "green GPIO 5 driven low (off)" in out
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    assert main(["outputs-off", "--config", str(config)]) == 1
