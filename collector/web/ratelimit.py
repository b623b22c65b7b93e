"""Per-client-address rate limits (citizens' report form, login attempts), bounded in memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class RateLimiter:
    """At most ``count`` events per ``window_s`` per key; remembers at most ``max_keys`` keys."""

    def __init__(self, count: int, window_s: float, max_keys: int = 10_000) -> None:
        self.count = count
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def exhausted(self, key: str) -> bool:
        """Whether ``allow(key)`` would refuse now (nothing is counted)."""
        now = time.monotonic()
        with self._lock:
            return len([t for t in self._hits.get(key, []) if now - t < self.window_s]) >= self.count

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = [t for t in self._hits.pop(key, []) if now - t < self.window_s]
            allowed = len(hits) < self.count
            if allowed:
                hits.append(now)
            self._hits[key] = hits
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return allowed
