"""The daemon's lifecycle: start threads, tell systemd, feed the watchdog, stop cleanly."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType

from entryscan.device.builder import Components
from entryscan.device.hardware.sdnotify import SystemdNotifier

log = logging.getLogger(__name__)

MIN_FRAME_STALENESS_S = 5.0
READY_POLL_S = 0.02


class Daemon:
    """Supervises the scan thread and the publisher thread from the main thread."""

    def __init__(self, parts: Components, notifier: SystemdNotifier, watchdog_interval: float | None) -> None:
        self.parts = parts
        self._notifier = notifier
        self._tick = watchdog_interval or 1.0
        self._watchdog = watchdog_interval is not None
        self._stop = threading.Event()
        self.ready = threading.Event()
        timeout = parts.config.camera.timeout_s
        self._max_frame_age = max(3 * timeout, MIN_FRAME_STALENESS_S)

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        log.info("stop requested (signal %s)", signum)
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def healthy(self) -> bool:
        """Frames are flowing and both worker threads are alive (the WATCHDOG=1 condition)."""
        scan = self.parts.scan
        return scan.alive() and scan.health.frame_age() < self._max_frame_age and self.parts.publisher.alive()

    def run(self) -> int:
        self.parts.publisher.start()
        self.parts.scan.start()
        try:
            self._supervise()
        finally:
            self.shutdown()
        return 0

    def _supervise(self) -> None:
        health = self.parts.scan.health
        while not self._stop.is_set():
            if not self.ready.is_set() and health.first_frame.is_set():
                self.ready.set()
                self._notifier.ready()
                log.info("ready: first frame after %.2f s", time.monotonic() - health.started)
            if self._watchdog and self.ready.is_set() and self.healthy():
                self._notifier.watchdog()
            # Poll fast until READY so systemd (and the start-to-ready figure) is not kept waiting a tick.
            self._stop.wait(self._tick if self.ready.is_set() else READY_POLL_S)

    def shutdown(self) -> None:
        self._notifier.stopping()
        self.parts.scan.stop()
        if self.parts.tamper is not None:
            self.parts.tamper.close()
        self.parts.feedback.close()
        self.parts.publisher.stop()
        log.info("stopped")


def watchdog_interval(environ: dict[str, str]) -> float | None:
    """Half of systemd's WatchdogSec (WATCHDOG_USEC), as sd_watchdog_enabled(3) advises."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000
