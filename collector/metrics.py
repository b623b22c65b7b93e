"""Prometheus metrics of one collector process (``prometheus_client``, a registry of its own).

Counted by the ingest as it commits: messages by kind, new entries, the lag from a door's ``ts`` to the
commit, the time a batch's commit took, messages quarantined. Read from the store at each scrape: doors
per status, open alerts and reports, quarantined messages in all (so a restart does not reset them), and
from the ingest's progress: committed, queued, the commit thread alive, the broker connected.
Served behind the operators' login or the API token on ``--http`` (``GET /metrics``), or without login
on its own ``--metrics HOST:PORT`` (bind it to a private address only).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from entryscan.collector.store import Batch, StoreBase

log = logging.getLogger("collector")

LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
DOOR_STATUSES = ("online", "offline", "stopped", "unknown")

IngestProbe = Callable[[], dict[str, Any]]


def _epoch(ts: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(ts).timestamp()
    except (ValueError, OverflowError):
        return None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("entryscan_ingest_messages", "Messages committed, by what they turned out to be",
                                ["kind"], registry=r)
        self.new_entries = Counter("entryscan_ingest_new_entries", "Entries stored for the first time", registry=r)
        self.lag = Histogram("entryscan_ingest_lag_seconds", "From a new entry's door ts to its commit",
                             buckets=LAG_BUCKETS, registry=r)
        self.commit_time = Histogram("entryscan_batch_commit_seconds", "Time to commit one batch (with retries)",
                                     buckets=COMMIT_BUCKETS, registry=r)
        self.quarantined = Counter("entryscan_ingest_quarantined", "Messages quarantined by this process",
                                   registry=r)

    def observe_batch(self, batch: Batch, seconds: float) -> None:
        """The ingest's observer: called after each commit with the batch and how long it took."""
        now = time.time()
        self.commit_time.observe(seconds)
        for result in batch.results:
            self.messages.labels(result.kind).inc()
            if result.kind == "quarantine":
                self.quarantined.inc()
            elif result.kind == "entry" and result.new:
                self.new_entries.inc()
                at = _epoch(result.ts) if result.ts else None
                if at is not None:
                    self.lag.observe(max(0.0, now - at))  # a door clock ahead is no negative lag

    def watch(self, store: StoreBase, ingest: IngestProbe | None) -> None:
        """Read the fleet's counts from ``store`` (and the ingest's state) at each scrape."""
        self.registry.register(_ScrapeTime(store, ingest))

    def render(self) -> tuple[bytes, str]:
        """The exposition (body, content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ScrapeTime(Collector):
    def __init__(self, store: StoreBase, ingest: IngestProbe | None) -> None:
        self.store = store
        self.ingest = ingest

    def describe(self) -> list[Metric]:
        return []  # read at collect time only: registering must not query the store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("entryscan_store_up", "1 when the store answered this scrape")
        try:
            counts = self.store.fleet_counts()
        except Exception as exc:  # noqa: BLE001 - a scrape reports, never raises
            log.warning("collector: metrics cannot read the store: %s", exc)
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield from _fleet(counts)
        if self.ingest is not None:
            yield from _ingest(self.ingest())


def _fleet(counts: dict[str, Any]) -> Iterator[Metric]:
    doors = GaugeMetricFamily("entryscan_doors", "Doors by last status", labels=["status"])
    for status in sorted(set(DOOR_STATUSES) | set(counts["doors"])):
        doors.add_metric([status], counts["doors"].get(status, 0))
    yield doors
    yield GaugeMetricFamily("entryscan_open_alerts", "Open fleet alerts", value=counts["open_alerts"])
    yield GaugeMetricFamily("entryscan_open_reports", "Open citizens' reports", value=counts["open_reports"])
    yield GaugeMetricFamily("entryscan_quarantine_messages", "Messages in the quarantine table (all collectors)",
                            value=counts["quarantined"])


def _ingest(doc: dict[str, Any]) -> Iterator[Metric]:
    yield GaugeMetricFamily("entryscan_ingest_ok", "1 while ingest advances (as /healthz)", value=int(doc["ok"]))
    yield GaugeMetricFamily("entryscan_ingest_queued", "Messages received and not yet committed",
                            value=doc.get("queued", 0))
    yield GaugeMetricFamily("entryscan_broker_connected", "1 while connected to the broker",
                            value=int(doc.get("broker") == "connected"))
    age = doc.get("last_commit_age_s")
    if age is not None:
        yield GaugeMetricFamily("entryscan_ingest_last_commit_age_seconds", "Seconds since the last commit",
                                value=age)
