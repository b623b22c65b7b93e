"""A rate limit for alerts raised by untrusted input, bounded in memory whatever the input names.

Two limits at once: one alert per key (e.g. list name and reason) per interval, and at most ``budget`` alerts per
interval over all keys. Only keys that were alerted within the interval are remembered, so memory stays at most
``budget`` entries however many distinct keys a hostile publisher invents. Whatever is held back is counted in
one total, reported (and reset) with the next alert that goes out.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable


class AlertBudget:
    """Not thread-safe: the caller holds its own lock."""

    def __init__(self, interval_s: float, budget: int, monotonic: Callable[[], float]) -> None:
        self._interval_s = interval_s
        self._budget = budget
        self._monotonic = monotonic
        self._recent: dict[Hashable, float] = {}  # key -> when it last alerted, within the interval only
        self.suppressed = 0

    def __len__(self) -> int:
        return len(self._recent)

    def take(self, key: Hashable) -> int | None:
        """None: stay quiet (counted). Else the number held back since the last alert: raise one now."""
        now = self._monotonic()
        horizon = now - self._interval_s
        if len(self._recent) >= self._budget:
            # Alerts are spent in time order: drop the expired ones from the front.
            for old in [k for k, at in self._recent.items() if at <= horizon]:
                del self._recent[old]
        last = self._recent.get(key)
        if (last is not None and last > horizon) or len(self._recent) >= self._budget:
            self.suppressed += 1
            return None
        self._recent.pop(key, None)  # re-insert at the end: the dict stays in time order
        self._recent[key] = now
        held, self.suppressed = self.suppressed, 0
        return held
