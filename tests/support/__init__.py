"""Test support: a controllable clock and a real mosquitto broker on loopback."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable


class StepClock:
    """A Clock whose wall time can be moved by tests; monotonic time is real.

    ``now()`` is the real time plus an offset, so code that waits on real time
    (paho, thread timeouts) and code that reads the wall clock stay consistent
    until a test deliberately shifts the offset.
    """

    def __init__(self, synced: bool = True) -> None:
        self._offset = dt.timedelta()
        self._mono_offset = 0.0
        self._synced = synced
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return dt.datetime.now(dt.UTC) + self._offset

    def monotonic(self) -> float:
        return time.monotonic() + self._mono_offset

    def advance_monotonic(self, seconds: float) -> None:
        """Move the monotonic clock forward (time passing), independently of wall-clock steps."""
        with self._lock:
            self._mono_offset += max(seconds, 0.0)

    def synced(self) -> bool:
        return self._synced

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate()`` until it is truthy or ``timeout`` passes; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)
