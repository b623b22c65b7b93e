"""systemd integration: READY after the first frame, WATCHDOG only while healthy, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

from entryscan.device.builder import build
from entryscan.device.config.settings import load_config
from entryscan.device.daemon import Daemon, watchdog_interval
from entryscan.device.errors import CameraStalled
from entryscan.device.hardware.sdnotify import SystemdNotifier
from entryscan.device.model import Frame
from tests.conftest import MosquittoFactory
from tests.support import wait_for
from tests.support.door import Door, frames_dir


class NotifySocket:
    """The systemd side of sd_notify: a datagram socket collecting messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_notifier_is_a_noop_outside_systemd() -> None:
    assert not SystemdNotifier.from_environment({}).ready()


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None  # not for us
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0


def test_daemon_speaks_sd_notify(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory()
    notify = NotifySocket(tmp_path / "notify.sock")
    door = Door(tmp_path / "door", broker.url, frames_dir(tmp_path / "f", ["000-empty.png", "002-staff-0001.png"]))
    os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"] = str(notify.path), "400000"
    try:
        door.start()
    finally:
        del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
    try:
        assert wait_for(lambda: "READY=1" in notify.messages, timeout=20), door.output
        assert wait_for(lambda: notify.messages.count("WATCHDOG=1") >= 3, timeout=10)
        assert notify.messages.index("READY=1") < notify.messages.index("WATCHDOG=1")
        assert door.stop() == 0
        assert "STOPPING=1" in notify.messages
    finally:
        notify.close()


class StallingCamera:
    """Delivers frames until ``stall`` is set, then times out like a camera whose cable moved."""

    name = "stalling"

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.stall = threading.Event()

    def open(self) -> None:
        pass

    def capture(self, timeout: float) -> Frame | None:
        if self.stall.is_set():
            time.sleep(timeout)
            raise CameraStalled("no frame")
        time.sleep(0.02)
        return self.frame

    def close(self) -> None:
        pass


def test_watchdog_stops_when_frames_stop(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    import numpy as np

    broker = mosquitto_factory()
    door = Door(tmp_path / "door", broker.url, tmp_path)
    cfg = load_config(door.config)
    camera = StallingCamera(Frame(np.full((480, 640), 128, np.uint8), 1, 0.0))
    parts = build(cfg, simulate=True, camera=camera)
    sent: list[str] = []

    class Recorder(SystemdNotifier):
        def send(self, message: str) -> bool:
            sent.append(message)
            return True

    daemon = Daemon(parts, Recorder(None), watchdog_interval=0.05)
    daemon._max_frame_age = 0.5  # the camera timeout is 0.5 s in this config; shorten the staleness limit
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        assert wait_for(lambda: sent.count("WATCHDOG=1") >= 3, timeout=15)
        assert daemon.healthy()
        camera.stall.set()
        assert wait_for(lambda: not daemon.healthy(), timeout=5)
        time.sleep(0.2)
        before = sent.count("WATCHDOG=1")
        time.sleep(0.5)
        assert sent.count("WATCHDOG=1") == before  # no pings while the camera is stalled
        assert parts.scan.health.camera == "fault"
    finally:
        daemon.request_stop(signal.SIGTERM)
        runner.join(15)
    assert not runner.is_alive()
