"""The scan loop while something is broken: a camera that will not open, a journal that cannot be written."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from entryscan.device.delivery.journal import Journal
from entryscan.device.errors import JournalError
from entryscan.device.hardware.feedback import GpioFeedback
from entryscan.device.hardware.tamper import TamperSwitch
from tests.scan.test_scanloop import Notified, ScriptedCamera, alert_kinds, frame, make_loop
from tests.support import wait_for


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


class DeadCamera(ScriptedCamera):
    """A camera that never opens (ribbon cable out)."""

    def open(self) -> None:
        self.script = ["fail-open"]
        super().open()


def record_faults(feedback: GpioFeedback) -> list[bool]:
    """Every fault(active) call the loop makes, passed on to the real outputs."""
    calls: list[bool] = []
    real = feedback.fault

    def fault(active: bool) -> None:
        calls.append(active)
        real(active)

    feedback.fault = fault  # type: ignore[method-assign]
    return calls


def after_fault(tmp_path: Path) -> list[str]:
    kinds = alert_kinds(tmp_path)
    return kinds[kinds.index("camera_fault") + 1:] if "camera_fault" in kinds else []


def test_tamper_is_journaled_at_once_while_the_camera_is_failing(tmp_path: Path, factory: MockFactory) -> None:
    camera = DeadCamera([])
    loop = make_loop(tmp_path, camera, factory, Notified())
    # Long camera retries: the tamper alert must not wait for the next camera attempt.
    loop._settings = dataclasses.replace(loop._settings, retry_min_s=60.0, retry_max_s=60.0)
    tamper = TamperSwitch(5, loop.tamper_changed, pin_factory=factory)  # a mock pin reads open at first
    factory.pin(5).drive_low()  # case shut
    loop.start()
    try:
        assert wait_for(lambda: loop.health.camera == "fault", timeout=10)
        assert wait_for(lambda: "camera_fault" in alert_kinds(tmp_path) and not loop.health.tamper, timeout=10)
        factory.pin(5).drive_high()  # case opened while the camera is down
        assert wait_for(lambda: after_fault(tmp_path)[-1:] == ["tamper"], timeout=5), alert_kinds(tmp_path)
        assert loop.health.tamper
        factory.pin(5).drive_low()
        assert wait_for(lambda: after_fault(tmp_path)[-1:] == ["tamper_cleared"], timeout=5)
    finally:
        loop.stop()
        tamper.close()
        loop.feedback.close()
    kinds = alert_kinds(tmp_path)
    # The switch reads open for a moment at start-up, racing the first camera failure; what matters is the order
    # after the camera fault: opened and shut again, both journaled while the camera was still down.
    assert kinds.count("camera_fault") == 1 and kinds[kinds.index("camera_fault") + 1:][-2:] == [
        "tamper", "tamper_cleared"]


def test_tamper_goes_out_from_memory_when_the_journal_cannot_be_opened(tmp_path: Path,
                                                                       factory: MockFactory) -> None:
    def broken_open() -> Journal:
        raise JournalError("disk I/O error")

    loop = make_loop(tmp_path, ScriptedCamera([]), factory, Notified())
    loop._open_journal = broken_open
    sent: list[str] = []
    loop._on_storage_fault = lambda kind, detail: sent.append(kind)
    tamper = TamperSwitch(5, loop.tamper_changed, pin_factory=factory)
    factory.pin(5).drive_low()
    loop.start()
    try:
        factory.pin(5).drive_high()
        assert wait_for(lambda: "tamper" in sent, timeout=5), sent
    finally:
        loop.stop()
        tamper.close()
        loop.feedback.close()


def test_a_storage_fault_lights_the_fault_indicator_and_recovery_clears_it(tmp_path: Path,
                                                                           factory: MockFactory) -> None:
    from entryscan.device.scan import loop as scanloop

    attempts: list[int] = []

    def flaky_open() -> Journal:
        attempts.append(1)
        if len(attempts) <= 2:  # at thread start and for the first decision
            raise JournalError("disk I/O error")
        return Journal(tmp_path / "j.db", device="door-1", site="hq", door="main", max_rows=1000,
                       clock=scanloop_clock())

    script = [frame("002-staff-0001.png", 1, 10.0), frame("006-visitor-unknown.png", 2, 10.1)]
    loop = make_loop(tmp_path, ScriptedCamera(script), factory, Notified())
    loop._open_journal = flaky_open
    faults = record_faults(loop.feedback)  # type: ignore[arg-type]
    saved, scanloop.JOURNAL_REOPEN_S = scanloop.JOURNAL_REOPEN_S, 0.0
    try:
        loop.start()
        assert wait_for(lambda: loop.health.scans == 2, timeout=10)
    finally:
        loop.stop()
        scanloop.JOURNAL_REOPEN_S = saved
        loop.feedback.close()
    assert faults == [True, False]  # lit by the unrecorded decision, cleared when the journal came back


def scanloop_clock() -> object:
    from tests.support import StepClock

    return StepClock()
