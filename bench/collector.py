"""Collector ingest throughput (events/s), SQLite and PostgreSQL side by side.

A persistent collector session is registered, ``N`` entries from ``D`` doors are queued in the
broker while the collector is away, then the collector is started and timed until every message is
committed, acknowledged and confirmed: the drain a district collector does after an outage, and the
steady ceiling of one collector process. PostgreSQL is a throwaway local cluster (initdb, loopback) with
the durable defaults (fsync, synchronous_commit on); SQLite runs WAL with synchronous FULL, as shipped.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import Mode, emit, mosquitto
from entryscan.collector.ingest import IngestOptions, Ingestor
from entryscan.collector.store import open_store

DOORS = 200


def publish_entries(url: str, events: int, doors: int) -> None:
    parts = urllib.parse.urlsplit(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}",
                         protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    incarnations = [uuid.uuid4().hex for _ in range(doors)]
    infos = []
    for n in range(events):
        door = n % doors
        doc = {"event_id": str(uuid.uuid4()), "seq": n // doors + 1, "ts": "2026-11-28T18:00:00.123Z",
               "device": f"d{door:04d}", "site": "bench", "door": "main", "decision": "accept", "reason": "ok",
               "credential_type": "badge", "subject": f"p-{n % 997}", "policy_version": "1", "clock_synced": True,
               "incarnation": incarnations[door]}
        infos.append(client.publish(f"entryscan/bench/d{door:04d}/entry", json.dumps(doc), qos=1))
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def drain(url: str, db: str, events: int, batch: int) -> float:
    """Seconds for a collector to commit ``events`` queued entries."""
    store = open_store(db)
    opts = IngestOptions(url=url, client_id="bench-collector", batch_size=batch)
    first = Ingestor(opts, store)  # registers the persistent session, then goes away
    thread = threading.Thread(target=first.run, daemon=True)
    thread.start()
    first.subscribed.wait(10)
    first.done.set()
    thread.join(10)
    publish_entries(url, events, DOORS)
    ingestor = Ingestor(opts, store)
    t0 = time.perf_counter()
    thread = threading.Thread(target=ingestor.run, daemon=True)
    thread.start()
    while ingestor.committed < events:
        time.sleep(0.01)
    seconds = time.perf_counter() - t0
    ingestor.done.set()
    thread.join(10)
    stored = sum(d["entries"] for d in store.devices())
    store.close()
    if stored != events:
        raise RuntimeError(f"stored {stored} of {events}")
    return seconds


def main(mode: Mode) -> None:
    events = mode.pick(2000, 50_000)
    with tempfile.TemporaryDirectory(prefix="entryscan-bench-collector-") as tmp:
        from tests.support.postgres import PostgresCluster  # the same throwaway cluster the tests use

        cluster = PostgresCluster(durable=True).start()  # fsync and synchronous commit on
        try:
            for name, db in (("sqlite", str(Path(tmp) / "c.db")), ("postgres", cluster.new_database())):
                with mosquitto(Path(tmp) / f"broker-{name}") as url:
                    seconds = drain(url, db, events, batch=500)
                emit("collector", "ingest_events_per_s", events / seconds, "events/s", store=name,
                     events=events, doors=DOORS, batch=500)
        finally:
            cluster.stop()
