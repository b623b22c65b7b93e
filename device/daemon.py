"""The daemon's lifecycle: start threads, tell systemd, feed the watchdog, stop cleanly."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
import time
import weakref
from types import FrameType

from entryscan.device.builder import Components
from entryscan.device.hardware.sdnotify import SystemdNotifier

log = logging.getLogger(__name__)

MIN_FRAME_STALENESS_S = 5.0
READY_POLL_S = 0.02
STOP_PUBACK_S = 1.0
EX_SOFTWARE = 70  # the scan thread gave up: exit so that systemd starts a fresh process (Restart=on-failure)


class StopRequest:
    """A stop flag that a signal handler may set at any moment: ``set`` takes no lock.

    ``threading.Event.set`` takes the event's lock, and the main thread holds that lock for a few bytecodes of every
    ``Event.wait``; a SIGTERM whose handler ran there deadlocked the main thread in its own handler, while the scan and
    delivery threads carried on (issue 17: "stop requested (signal 15)", then minutes of camera retries). Here the
    waiter sleeps in ``select`` on a pipe that ``set`` writes one byte to: a plain flag and a system call.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._set = False
        self.signum = 0
        # Closed with the object, never earlier: a byte written to a closed descriptor number could land in
        # whatever file reuses it.
        weakref.finalize(self, _close_pipe, self._read, self._write)

    def set(self, signum: int = 0) -> None:
        self.signum = self.signum or signum
        self._set = True
        with contextlib.suppress(OSError):  # full pipe: a wake-up is pending already
            os.write(self._write, b"\0")

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Sleep until set or ``timeout``; True once set (interrupted selects are retried, PEP 475, and see the
        byte the handler wrote)."""
        if not self._set:
            select.select([self._read], [], [], max(timeout, 0.0))
        return self._set


def _close_pipe(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class Daemon:
    """Supervises the scan thread and the publisher thread from the main thread."""

    def __init__(self, parts: Components, notifier: SystemdNotifier, watchdog_interval: float | None) -> None:
        self.parts = parts
        self._notifier = notifier
        self._tick = watchdog_interval or 1.0
        self._watchdog = watchdog_interval is not None
        self._stop = StopRequest()
        self.exit_code = 0
        self.ready = threading.Event()
        timeout = parts.config.camera.timeout_s
        self._max_frame_age = max(3 * timeout, MIN_FRAME_STALENESS_S)

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """The signal handler (and the tests' stop): sets a flag only. Logging here could also block, on the
        handler lock of a logging call that this very signal interrupted; the main loop says it instead."""
        self._stop.set(signum)

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
        return self.exit_code

    def _supervise(self) -> None:
        health = self.parts.scan.health
        while not self._stop.is_set():
            if health.failed and not self.parts.scan.alive():
                # Without a watchdog (WatchdogSec unset, --simulate) nothing else would notice: the door would
                # stay up and decide nothing.
                log.error("the scan loop gave up after repeated errors; exiting %d so that it is restarted",
                          EX_SOFTWARE)
                self.exit_code = EX_SOFTWARE
                return
            if not self.ready.is_set() and health.first_frame.is_set():
                self.ready.set()
                self._notifier.ready()
                log.info("ready: first frame after %.2f s", time.monotonic() - health.started)
            if self._watchdog and self.ready.is_set() and self.healthy():
                self._notifier.watchdog()
            # Poll fast until READY so systemd (and the start-to-ready figure) is not kept waiting a tick.
            self._stop.wait(self._tick if self.ready.is_set() else READY_POLL_S)
        log.info("stop requested (signal %s)", self._stop.signum)

    def shutdown(self) -> None:
        self._notifier.stopping()
        self.parts.scan.stop()
        if self.parts.tamper is not None:
            self.parts.tamper.close()
        self.parts.feedback.close()
        self.parts.publisher.stop(timeout=STOP_PUBACK_S)  # the final offline PUBACK: systemctl stop within 2 s
        log.info("stopped")


def watchdog_interval(environ: dict[str, str]) -> float | None:
    """Half of systemd's WatchdogSec (WATCHDOG_USEC), as sd_watchdog_enabled(3) advises."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000
