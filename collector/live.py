"""A change counter the dashboard's server-sent events wait on: bumped after each batch with news."""

from __future__ import annotations

import threading


class Live:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.version = 0

    def bump(self) -> None:
        with self._cond:
            self.version += 1
            self._cond.notify_all()

    def wait_past(self, version: int, timeout: float) -> int:
        """Block until the counter moves past ``version`` (or ``timeout``); return the counter."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != version, timeout)
            return self.version
