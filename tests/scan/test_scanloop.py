"""The scan thread in-process: real decoder, policy, journal (SQLite) and MockFactory feedback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from entryscan.device.access.credentials.badge import BadgeList
from entryscan.device.access.credentials.base import Pseudonymizer
from entryscan.device.access.policy import Policy, PolicySettings
from entryscan.device.config.settings import FeedbackConfig, PolicyMode, RelayConfig
from entryscan.device.delivery.journal import Journal
from entryscan.device.errors import CameraError, CameraStalled
from entryscan.device.hardware.feedback import GpioFeedback
from entryscan.device.model import Frame
from entryscan.device.scan.camera import DirCamera
from entryscan.device.scan.debounce import Debouncer
from entryscan.device.scan.decoders import ZxingDecoder, load_grey
from entryscan.device.scan.loop import ScanLoop, ScanSettings
from tests.paths import SAMPLE_DOOR, SAMPLE_FRAMES
from tests.support import StepClock, wait_for

KEY = b"s" * 32


class ScriptedCamera:
    """A camera whose capture results are scripted: frames, stalls, or a failure to open."""

    name = "scripted"

    def __init__(self, script: list[object]) -> None:
        self.script = list(script)
        self.opens = 0
        self.closes = 0

    def open(self) -> None:
        self.opens += 1
        if self.script and self.script[0] == "fail-open":
            self.script.pop(0)
            raise CameraError("no camera")

    def capture(self, timeout: float) -> Frame | None:
        if not self.script:
            import time

            time.sleep(timeout)
            return None
        item = self.script.pop(0)
        if item == "stall":
            raise CameraStalled("stalled")
        assert isinstance(item, Frame)
        return item

    def close(self) -> None:
        self.closes += 1


class Notified:
    def __init__(self) -> None:
        self.count = 0
        self.tags: list[str] = []
        self.decisions: list[dict[str, object]] = []

    def notify(self) -> None:
        self.count += 1

    def tag_scanned(self, tag_id: str) -> None:
        self.tags.append(tag_id)

    def decided(self, event: dict[str, object]) -> None:
        self.decisions.append(event)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


def frame(name: str, seq: int, at: float) -> Frame:
    return Frame(image=load_grey(SAMPLE_FRAMES / name), seq=seq, monotonic=at)


def make_loop(tmp_path: Path, camera: object, factory: MockFactory, notified: Notified) -> ScanLoop:
    clock = StepClock(synced=True)
    badges = BadgeList.from_file(KEY, SAMPLE_DOOR / "badges.txt")
    settings = PolicySettings(mode=PolicyMode.ALLOWLIST, site="hq", door="main", max_payload_bytes=4096)
    feedback = GpioFeedback(FeedbackConfig(), RelayConfig(pin=23, pulse_s=0.2), pin_factory=factory)

    def open_journal() -> Journal:
        return Journal(tmp_path / "j.db", device="door-1", site="hq", door="main", max_rows=1000, clock=clock)

    return ScanLoop(camera, ZxingDecoder(), Debouncer(3.0), Policy(settings, [badges], clock, Pseudonymizer(KEY)),
                    feedback, open_journal, notified, ScanSettings(capture_timeout_s=0.1, retry_min_s=0.05))


def journal_rows(tmp_path: Path) -> list[dict[str, object]]:
    clock = StepClock()
    j = Journal(tmp_path / "j.db", device="door-1", site="hq", door="main", max_rows=1000, clock=clock)
    try:
        return j.rows()
    finally:
        j.close()


def test_decisions_are_journaled_shown_and_notified(tmp_path: Path, factory: MockFactory) -> None:
    script = [frame("002-staff-0001.png", 1, 10.0), frame("003-staff-0001-still.png", 2, 10.1),
              frame("006-visitor-unknown.png", 3, 10.2), frame("000-empty.png", 4, 10.3)]
    notified = Notified()
    loop = make_loop(tmp_path, ScriptedCamera(script), factory, notified)
    loop.start()
    assert wait_for(lambda: loop.health.frames == 4, timeout=10)
    loop.stop()
    rows = [r for r in journal_rows(tmp_path) if r["kind"] == "entry"]
    assert [(r["decision"], r["reason"]) for r in rows] == [("accept", "ok"), ("deny", "not_allowed")]
    assert notified.count == 2 and loop.health.scans == 2
    assert factory.pin(23).states[1].state is True  # the relay pulsed for the accept
    loop.feedback.close()


def test_camera_fault_is_alerted_once_and_recovers(tmp_path: Path, factory: MockFactory) -> None:
    camera = ScriptedCamera(["stall", "fail-open", "fail-open", frame("000-empty.png", 1, 1.0)])
    loop = make_loop(tmp_path, camera, factory, Notified())
    loop.start()
    assert wait_for(lambda: loop.health.frames == 1, timeout=10)
    assert loop.health.camera == "ok"
    loop.stop()
    kinds = [r["kind"] for r in journal_rows(tmp_path)]
    alerts = [r for r in journal_rows(tmp_path) if r["kind"] == "alert"]
    assert kinds.count("alert") == 2, kinds  # camera_fault once (not per retry), then camera_recovered
    assert camera.opens == 4 and camera.closes == 1  # retries reopen; only stop() closes (adapters recover in open)
    assert len(alerts) == 2
    loop.feedback.close()


def test_a_frame_that_breaks_the_decoder_does_not_stop_the_loop(tmp_path: Path, factory: MockFactory) -> None:
    import numpy as np

    bad = Frame(image=np.zeros((0, 0), np.uint8), seq=1, monotonic=1.0)
    script = [bad, frame("002-staff-0001.png", 2, 2.0)]
    loop = make_loop(tmp_path, ScriptedCamera(script), factory, Notified())
    loop.start()
    assert wait_for(lambda: loop.health.scans == 1, timeout=10)
    assert loop.health.errors == 1
    loop.stop()
    loop.feedback.close()


def test_dir_camera_drives_the_loop_end_to_end(tmp_path: Path, factory: MockFactory) -> None:
    loop = make_loop(tmp_path, DirCamera(SAMPLE_FRAMES, fps=0), factory, Notified())
    loop.start()
    assert wait_for(lambda: loop.health.frames == 14, timeout=20)
    loop.stop()
    rows = [r for r in journal_rows(tmp_path) if r["kind"] == "entry"]
    assert [r["reason"] for r in rows] == ["ok", "not_allowed", "ok", "not_allowed", "ok"]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    loop.feedback.close()


def test_storage_fault_keeps_deciding_alerts_once_and_recovers(tmp_path: Path, factory: MockFactory) -> None:
    from entryscan.device.errors import JournalError

    clock = StepClock()
    attempts: list[int] = []

    def flaky_open() -> Journal:
        attempts.append(1)
        if len(attempts) <= 2:  # at thread start and for the first decision
            raise JournalError("disk I/O error")
        return Journal(tmp_path / "j.db", device="door-1", site="hq", door="main", max_rows=1000, clock=clock)

    alerts: list[tuple[str, dict[str, object]]] = []
    script = [frame("002-staff-0001.png", 1, 10.0), frame("006-visitor-unknown.png", 2, 10.1)]
    loop = make_loop(tmp_path, ScriptedCamera(script), factory, Notified())
    loop._open_journal = flaky_open
    loop._on_storage_fault = lambda kind, detail: alerts.append((kind, detail))
    from entryscan.device.scan import loop as scanloop

    scanloop_reopen, scanloop.JOURNAL_REOPEN_S = scanloop.JOURNAL_REOPEN_S, 0.0
    try:
        loop.start()
        assert wait_for(lambda: loop.health.frames == 2, timeout=10)
        loop.stop()
    finally:
        scanloop.JOURNAL_REOPEN_S = scanloop_reopen
    assert loop.health.scans == 2  # the door kept deciding
    assert [a[0] for a in alerts] == ["storage_fault"] and loop.health.unpersisted == 1
    rows = journal_rows(tmp_path)
    assert [r["kind"] for r in rows] == ["entry", "alert"]  # the second decision, then storage_recovered
    assert loop.health.storage == "ok"
    loop.feedback.close()


def test_tamper_open_is_journaled_and_locks_out_when_configured(tmp_path: Path, factory: MockFactory) -> None:
    import time

    from entryscan.device.hardware.tamper import TamperSwitch

    gate = ScriptedCamera([])
    loop = make_loop(tmp_path, gate, factory, Notified())
    loop.set_tamper_lockout(True)
    # A mock pin reads open (pulled up) until driven, as a real one does until the case is shut:
    # that first open-then-closed pair is journaled like any other.
    tamper = TamperSwitch(5, loop.tamper_changed, pin_factory=factory)
    switch_pin = factory.pin(5)
    switch_pin.drive_low()  # case shut: the switch closes to ground
    assert not tamper.open
    loop.start()
    switch_pin.drive_high()  # case opened
    time.sleep(0.2)
    gate.script.append(frame("002-staff-0001.png", 1, 10.0))  # a listed badge while the case is open
    assert wait_for(lambda: loop.health.scans == 1, timeout=10)
    switch_pin.drive_low()
    gate.script.append(frame("008-staff-0002.png", 2, 20.0))
    assert wait_for(lambda: loop.health.scans == 2, timeout=10)
    assert wait_for(lambda: not loop.health.tamper, timeout=5)
    loop.stop()
    tamper.close()
    rows = journal_rows(tmp_path)
    entries = [(r["decision"], r["reason"]) for r in rows if r["kind"] == "entry"]
    assert entries == [("deny", "policy_mode"), ("accept", "ok")]  # locked out only while open
    assert alert_kinds(tmp_path) == ["tamper", "tamper_cleared", "tamper", "tamper_cleared"]
    loop.feedback.close()


def alert_kinds(tmp_path: Path) -> list[str]:
    import json
    import sqlite3

    db = sqlite3.connect(tmp_path / "j.db")
    try:
        payloads = db.execute("SELECT payload FROM outbox WHERE kind = 'alert' ORDER BY row_id").fetchall()
    finally:
        db.close()
    return [json.loads(p[0])["kind"] for p in payloads]


def test_tamper_switch_open_at_start_counts_as_tamper(factory: MockFactory) -> None:
    from entryscan.device.hardware.tamper import TamperSwitch

    factory.pin(6).drive_high()  # a cut wire reads as open
    changes: list[bool] = []
    switch = TamperSwitch(6, changes.append, pin_factory=factory)
    assert switch.open and changes == [True]
    switch.close()


@pytest.mark.parametrize(("deny_unpersisted", "relay_pulsed"), [(False, True), (True, False)])
def test_storage_fault_policy_decide_or_deny(tmp_path: Path, factory: MockFactory, deny_unpersisted: bool,
                                             relay_pulsed: bool) -> None:
    import dataclasses

    from entryscan.device.errors import JournalError

    def broken_open() -> Journal:
        raise JournalError("database or disk is full")

    loop = make_loop(tmp_path, ScriptedCamera([frame("002-staff-0001.png", 1, 10.0)]), factory, Notified())
    loop._open_journal = broken_open
    loop._settings = dataclasses.replace(loop._settings, deny_unpersisted=deny_unpersisted)
    events: list[dict[str, object]] = []
    loop._on_event = events.append
    loop.start()
    assert wait_for(lambda: loop.health.scans == 1, timeout=10)
    loop.stop()
    assert loop.health.storage == "fault" and loop.health.unpersisted == 1
    assert events[0]["decision"] == ("deny" if deny_unpersisted else "accept")
    assert any(s.state for s in factory.pin(23).states) is relay_pulsed
    loop.feedback.close()
