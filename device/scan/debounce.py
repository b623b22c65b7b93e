"""One person holding one code in view is one scan.

A code counts again only after it has been out of view for ``window`` seconds:
its timer restarts on every frame that still shows it. Time is monotonic, so
a wall-clock step never re-admits or suppresses a code.
"""

from __future__ import annotations


class Debouncer:
    def __init__(self, window: float, max_tracked: int = 256) -> None:
        self._window = window
        self._max = max_tracked
        self._last_seen: dict[bytes, float] = {}

    def admit(self, raw: bytes, now: float) -> bool:
        """Record a sighting at monotonic time ``now``; True when it is a new scan."""
        last = self._last_seen.get(raw)
        self._last_seen[raw] = now
        if last is not None and now - last < self._window:
            return False
        if len(self._last_seen) > self._max:
            self._expire(now)
        return True

    def _expire(self, now: float) -> None:
        stale = [k for k, t in self._last_seen.items() if now - t >= self._window]
        for key in stale:
            del self._last_seen[key]
        # A flood of distinct codes must not grow memory without bound.
        while len(self._last_seen) > self._max:
            del self._last_seen[next(iter(self._last_seen))]
