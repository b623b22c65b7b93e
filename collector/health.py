"""Whether the collector is doing its job: the database answers and ingest advances (``/healthz``).

``ok`` is false when the database does not answer, the commit thread has ended, a batch has been
retried for longer than ``STALL_S``, messages wait in the queue while nothing is committed, or the
broker has been away for longer than ``STALL_S``. A web front end answers 503 then, so a load balancer
or a monitor sees a collector that is up but no longer storing anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from entryscan.collector.store import StoreBase

STALL_S = 60.0

IngestProbe = Callable[[], dict[str, Any]]


@dataclass
class IngestProgress:
    """What the ingest has done; written by its threads, read by ``/healthz`` and ``/metrics``."""

    started_at: float = field(default_factory=time.monotonic)
    committed: int = 0  # messages committed (stored or quarantined) and acknowledged
    batches: int = 0
    last_commit_at: float | None = None  # monotonic
    last_commit_wall: float | None = None  # epoch seconds
    waiting_since: float | None = None  # monotonic: the batch being committed was taken then
    failures: int = 0  # failed commit attempts
    guard_errors: int = 0  # exceptions the commit loop's guard caught
    last_error: str = ""
    stopped_by: str = ""  # why the commit thread ended, when it did
    connected: bool = False
    disconnected_since: float | None = None  # monotonic
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def committed_batch(self, messages: int) -> None:
        with self.lock:
            self.committed += messages
            self.batches += 1
            self.last_commit_at, self.last_commit_wall = time.monotonic(), time.time()
            self.waiting_since = None

    def link(self, connected: bool) -> None:
        with self.lock:
            self.connected = connected
            self.disconnected_since = None if connected else (self.disconnected_since or time.monotonic())


def ingest_health(p: IngestProgress, alive: bool, queued: int, now: float, stall_s: float = STALL_S) -> dict[str, Any]:
    """The ingest's part of ``/healthz``; ``ok`` false when it is not advancing."""
    with p.lock:
        last = p.last_commit_at
        doc: dict[str, Any] = {
            "ok": True, "ingest": "ok", "committed": p.committed, "queued": queued,
            "last_commit_age_s": None if last is None else round(now - last, 1),
            "broker": "connected" if p.connected else "disconnected"}
        if p.last_error:
            doc.update(last_error=p.last_error, failed_attempts=p.failures, guard_errors=p.guard_errors)
        since_progress = now - (last if last is not None else p.started_at)
        if not alive:
            doc.update(ok=False, ingest="dead", reason=p.stopped_by or "the commit thread ended")
        elif p.waiting_since is not None and now - p.waiting_since > stall_s:
            doc.update(ok=False, ingest="stalled", stalled_s=round(now - p.waiting_since, 1))
        elif queued > 0 and p.waiting_since is None and since_progress > stall_s:
            doc.update(ok=False, ingest="stalled", stalled_s=round(since_progress, 1))
        elif p.disconnected_since is not None and now - p.disconnected_since > stall_s:
            doc.update(ok=False, ingest="no_broker", stalled_s=round(now - p.disconnected_since, 1))
    return doc


def check(store: StoreBase, ingest: IngestProbe | None = None) -> dict[str, Any]:
    """The ``/healthz`` document. Never raises."""
    try:
        store.receipts()
        doc: dict[str, Any] = {"ok": True, "db": "ok"}
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        doc = {"ok": False, "db": type(exc).__name__}
    if ingest is not None:
        try:
            part = ingest()
        except Exception as exc:  # noqa: BLE001
            part = {"ok": False, "ingest": f"unknown ({type(exc).__name__})"}
        doc = {**doc, **{k: v for k, v in part.items() if k != "ok"}, "ok": doc["ok"] and part["ok"]}
    return doc
