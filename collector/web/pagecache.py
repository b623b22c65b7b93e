"""A short-lived cache for the documents every dashboard shows (the fleet table, the open alerts).

Building the fleet's view of 1,000 doors reads five tables and joins them in Python; the dashboard,
``/api/fleet`` and every reload asked for it again. A cached document is used only while both hold:

- nothing was written since it was built: the store's ``generation`` rises after every write this process
  commits (an ingested batch, a raised or cleared alert, a citizen's report), so an entry or alert that
  arrived is on the next page, not ``TTL_S`` later;
- it is younger than ``TTL_S``: what no write of this process announces (another collector writing the same
  PostgreSQL database, ages that grow with the clock) is at most that old.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from entryscan.collector.store import StoreBase
from entryscan.collector.web import api

TTL_S = 5.0
MAX_ENTRIES = 16  # a handful of document kinds; bounded however the keys are chosen


@dataclass(frozen=True)
class _Entry:
    generation: int
    built_at: float
    value: Any


class PageCache:
    def __init__(self, store: StoreBase, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()  # one build at a time: concurrent reloads wait for it, not build it again
        self.builds = 0

    def get(self, key: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit.generation == self.store.generation \
                    and self.clock() - hit.built_at < self.ttl_s:
                return hit.value
            # The generation is read before the build: a write committed while building makes this stale at once.
            generation, started = self.store.generation, self.clock()
            value = build()
            self.builds += 1
            if len(self._entries) >= MAX_ENTRIES and key not in self._entries:
                self._entries.clear()
            self._entries[key] = _Entry(generation, started, value)
            return value


def _dashboard(store: StoreBase) -> dict[str, Any]:
    """The fleet table and the open alerts from one read of the doors (each read them again before)."""
    rows = store.devices()
    return {"fleet": api.fleet(store, rows=rows), "alerts": api.alerts(store, True, devices=rows)}


def fleet_doc(cache: PageCache) -> dict[str, Any]:
    """``/api/fleet``'s document (the dashboard's door table)."""
    doc: dict[str, Any] = cache.get("dashboard", lambda: _dashboard(cache.store))["fleet"]
    return doc


def open_alerts(cache: PageCache) -> list[dict[str, Any]]:
    """The dashboard's open alerts: the rules' and the doors' own."""
    rows: list[dict[str, Any]] = cache.get("dashboard", lambda: _dashboard(cache.store))["alerts"]
    return rows
