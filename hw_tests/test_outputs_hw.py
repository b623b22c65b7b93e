"""The real LEDs, buzzer and relay, confirmed by the technician watching and listening."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from entryscan.device.config.settings import Config
from entryscan.device.hardware.feedback import GpioFeedback
from entryscan.device.hardware.pins import hardware_pin_factory
from entryscan.device.model import CredentialSummary, Decision, Reason
from hw_tests.conftest import ask


@pytest.fixture
def feedback(hw_config: Config) -> Iterator[GpioFeedback]:
    fb = GpioFeedback(hw_config.feedback, hw_config.relay, pin_factory=hardware_pin_factory())
    yield fb
    fb.close()


def test_relay_stays_off_while_the_outputs_are_claimed(hw_config: Config) -> None:
    """No click when the door takes its outputs (an active-low relay was energised for a moment before)."""
    if hw_config.relay.pin is None:
        pytest.skip("no relay configured")
    fb = GpioFeedback(hw_config.feedback, hw_config.relay, pin_factory=hardware_pin_factory())
    fb.close()
    assert ask("Did the relay stay silent (no click) just now, as the outputs were claimed and released?")


def test_accept_pattern_is_seen(feedback: GpioFeedback) -> None:
    feedback.show(Decision.accept(CredentialSummary(type="badge")))
    assert ask("Did the GREEN LED light and the buzzer beep once (and the relay click, if fitted)?")


def test_deny_pattern_is_seen(feedback: GpioFeedback) -> None:
    feedback.show(Decision.deny(Reason.NOT_ALLOWED, CredentialSummary(type="badge")))
    assert ask("Did the RED LED light and the buzzer beep three times (relay silent)?")


def test_relay_released_after_pulse(feedback: GpioFeedback, hw_config: Config) -> None:
    if "relay" not in feedback.devices:
        pytest.skip("no [relay] pin configured")
    import time

    feedback.show(Decision.accept(CredentialSummary(type="badge")))
    time.sleep(hw_config.relay.pulse_s + 0.5)
    assert not feedback.devices["relay"].value
    assert ask("Did the relay click on and then off again?")
