"""An unexpected error in the scan loop (issue 18, "The door"): before, any exception other than CameraError ended
the scan thread silently; with no watchdog the door stayed up and decided nothing. Now it is logged, alerted
(``scan_error``, journaled) and the loop restarts with back-off; after MAX_LOOP_RESTARTS in a row (each within
LOOP_QUIET_S of the last) the thread gives up and the daemon exits 70, so systemd starts a fresh process."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from entryscan.device.builder import build
from entryscan.device.config.settings import load_config
from entryscan.device.daemon import Daemon
from entryscan.device.hardware.sdnotify import SystemdNotifier
from entryscan.device.model import Frame
from entryscan.device.scan.loop import MAX_LOOP_RESTARTS
from tests.conftest import MosquittoFactory
from tests.scan.test_scanloop import Notified, ScriptedCamera, alert_kinds, frame, make_loop
from tests.support import wait_for
from tests.support.door import Door


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


class CrashingCamera(ScriptedCamera):
    """A scripted camera whose script may also hold exceptions to raise from capture (a library's own errors)."""

    def capture(self, timeout: float) -> Frame | None:
        if self.script and isinstance(self.script[0], Exception):
            raise self.script.pop(0)  # type: ignore[misc]
        return super().capture(timeout)


class BrokenCamera(ScriptedCamera):
    def open(self) -> None:
        self.opens += 1
        raise ValueError("picamera2 raised something that is not a CameraError")


def test_an_unexpected_error_is_logged_alerted_and_the_loop_goes_on_deciding(
        tmp_path: Path, factory: MockFactory, caplog: pytest.LogCaptureFixture) -> None:
    camera = CrashingCamera([frame("002-staff-0001.png", 1, 1.0), RuntimeError("libcamera went away"),
                             frame("008-staff-0002.png", 2, 10.0)])
    notified = Notified()
    loop = make_loop(tmp_path, camera, factory, notified)
    loop.start()
    try:
        assert wait_for(lambda: len(notified.decisions) == 2, timeout=10), alert_kinds(tmp_path)
        assert loop.alive()
    finally:
        loop.stop()
        loop.feedback.close()
    assert [d["decision"] for d in notified.decisions] == ["accept", "accept"]
    assert "scan_error" in alert_kinds(tmp_path)
    assert loop.health.loop_restarts == 1 and not loop.health.failed
    assert camera.closes >= 1 and camera.opens == 2  # released and opened afresh
    assert any("scan loop failed (RuntimeError: libcamera went away); restarting" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)


def test_errors_in_a_row_are_bounded_then_the_thread_gives_up(tmp_path: Path, factory: MockFactory) -> None:
    camera = BrokenCamera([])
    loop = make_loop(tmp_path, camera, factory, Notified())
    loop.start()
    try:
        assert wait_for(lambda: not loop.alive(), timeout=15)
    finally:
        loop.stop()
        loop.feedback.close()
    assert loop.health.failed and camera.opens == MAX_LOOP_RESTARTS
    assert alert_kinds(tmp_path).count("scan_error") == MAX_LOOP_RESTARTS


def test_the_daemon_exits_70_when_the_scan_loop_gave_up(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory()
    door = Door(tmp_path / "door", broker.url, tmp_path)
    parts = build(load_config(door.config), simulate=True, camera=BrokenCamera([]))
    parts.scan._settings = dataclasses.replace(parts.scan._settings, retry_min_s=0.05)
    daemon = Daemon(parts, SystemdNotifier(None), watchdog_interval=None)  # no watchdog: nothing else notices
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(daemon.run()))
    runner.start()
    runner.join(30)
    assert not runner.is_alive() and result == [70]


def test_a_quiet_spell_between_errors_starts_the_count_again(tmp_path: Path, factory: MockFactory,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("entryscan.device.scan.loop.LOOP_QUIET_S", 0.01)  # every pause is longer than this
    still = Frame(np.full((480, 640), 128, np.uint8), 1, 0.0)
    script: list[object] = []
    for n in range(MAX_LOOP_RESTARTS + 2):  # more errors than the bound, each after a quiet spell
        script += [Frame(still.image, 2 * n + 1, float(n)), RuntimeError(f"error {n}")]
    camera = CrashingCamera(script)
    loop = make_loop(tmp_path, camera, factory, Notified())
    loop.start()
    try:
        assert wait_for(lambda: loop.health.loop_restarts == MAX_LOOP_RESTARTS + 2, timeout=15)
        assert loop.alive() and not loop.health.failed
    finally:
        loop.stop()
        loop.feedback.close()


def test_errors_close_together_count_even_with_frames_between(tmp_path: Path, factory: MockFactory) -> None:
    """An error after every frame must not restart the loop (and alert) every second for ever."""
    still = Frame(np.full((480, 640), 128, np.uint8), 1, 0.0)
    script: list[object] = []
    for n in range(MAX_LOOP_RESTARTS + 2):
        script += [Frame(still.image, 2 * n + 1, float(n)), RuntimeError(f"error {n}")]
    loop = make_loop(tmp_path, CrashingCamera(script), factory, Notified())
    loop.start()
    try:
        assert wait_for(lambda: not loop.alive(), timeout=15)
    finally:
        loop.stop()
        loop.feedback.close()
    assert loop.health.failed and loop.health.loop_restarts == MAX_LOOP_RESTARTS
