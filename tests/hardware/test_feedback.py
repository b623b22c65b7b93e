from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from entryscan.device.config.settings import FeedbackConfig, RelayConfig
from entryscan.device.hardware.feedback import ConsoleLights, GpioFeedback
from entryscan.device.model import CredentialSummary, Decision, Reason

ACCEPT = Decision.accept(CredentialSummary(type="badge"))
DENY = Decision.deny(Reason.NOT_ALLOWED, CredentialSummary(type="badge"))


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


def make(factory: MockFactory, relay_pin: int | None = 23, active_low: bool = False) -> GpioFeedback:
    fb = FeedbackConfig(green_pin=17, red_pin=27, buzzer_pin=22, accept_s=0.2, deny_s=0.2)
    return GpioFeedback(fb, RelayConfig(pin=relay_pin, active_low=active_low, pulse_s=0.3), pin_factory=factory)


def join_blinks(feedback: GpioFeedback) -> None:
    for dev in feedback.devices.values():
        thread = getattr(dev, "_blink_thread", None)
        if thread is not None:
            thread.join(3)


def test_accept_pattern_green_beep_and_relay_pulse(factory: MockFactory) -> None:
    fb = make(factory)
    fb.show(ACCEPT)
    join_blinks(fb)
    factory.pin(17).assert_states([False, True, False])
    factory.pin(27).assert_states([False])
    factory.pin(22).assert_states([False, True, False])
    factory.pin(23).assert_states([False, True, False])
    fb.close()


def test_deny_pattern_red_triple_beep_no_relay(factory: MockFactory) -> None:
    fb = make(factory)
    fb.show(DENY)
    join_blinks(fb)
    factory.pin(27).assert_states([False, True, False])
    factory.pin(22).assert_states([False, True, False, True, False, True, False])
    factory.pin(23).assert_states([False])
    fb.close()


def test_show_never_blocks_the_loop(factory: MockFactory) -> None:
    import time

    fb = make(factory)
    start = time.monotonic()
    fb.show(ACCEPT)
    fb.show(DENY)
    assert time.monotonic() - start < 0.05
    fb.close()


def test_active_low_relay_is_released_at_start_and_exit(factory: MockFactory) -> None:
    fb = make(factory, active_low=True)
    relay = factory.pin(23)
    assert relay.state is True  # active-low: high level = relay off
    fb.show(ACCEPT)
    fb.close()
    assert relay.state is True


def test_relay_pulse_times_are_capped(factory: MockFactory) -> None:
    fb = GpioFeedback(FeedbackConfig(), RelayConfig(pin=23, pulse_s=0.25), pin_factory=factory)
    fb.show(ACCEPT)
    join_blinks(fb)
    states = factory.pin(23).states
    on_at = next(s.timestamp for s in states if s.state)
    off_at = states[-1].timestamp
    assert 0.2 <= off_at - on_at <= 0.45
    fb.close()


def test_fault_blinks_red_and_holds_relay_off_even_on_accept(factory: MockFactory) -> None:
    fb = make(factory)
    fb.fault(True)
    fb.show(ACCEPT)
    join_blinks(fb)
    factory.pin(23).assert_states([False])
    fb.fault(False)
    assert factory.pin(27).state is False
    fb.close()


def test_console_lights_render_pin_state(factory: MockFactory) -> None:
    fb = make(factory)
    lights = ConsoleLights(fb)
    assert "green ○" in lights.render() and "relay shut" in lights.render()
    fb.devices["green"].on()
    assert "green \033[32m●" in lights.render()
    fb.close()


def test_a_burst_of_accepts_never_holds_the_relay_longer_than_one_pulse(factory: MockFactory) -> None:
    import time

    fb = GpioFeedback(FeedbackConfig(), RelayConfig(pin=23, pulse_s=0.3), pin_factory=factory)
    for _ in range(8):  # accepts every 0.1 s for 0.8 s
        fb.show(ACCEPT)
        time.sleep(0.1)
    join_blinks(fb)
    states = factory.pin(23).states
    spans, on_at = [], None
    for change in states:
        if change.state and on_at is None:
            on_at = change.timestamp
        elif not change.state and on_at is not None:
            spans.append(change.timestamp - on_at)
            on_at = None
    assert spans and max(spans) <= 0.3 + 0.06
    fb.close()
