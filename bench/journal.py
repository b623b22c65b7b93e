"""journal: events/s through journal commit -> publish -> PUBACK (-> collector confirmation) -> delete, and a drain.

Real pieces: entryscan.device.delivery.journal.Journal (WAL, synchronous=FULL) on this disk and entryscan.device.delivery.publisher.MqttPublisher
(its own delivery thread, QoS 1, MQTT v5) against a private mosquitto on 127.0.0.1.
* ``burst``: N entries recorded back to back from this thread (each one its own commit, then
  ``notify()``, as the scan thread does); the rate is N / time until the journal is empty again,
  i.e. every entry committed, published, PUBACKed and deleted by the publisher.
* ``drain``: a backlog recorded while the publisher is stopped (broker unreachable), then the time
  from ``start()`` until the journal is empty. Deleting after PUBACK is the publisher's job; here it
  is only measured.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import Mode, door_config, emit, mosquitto, stop
from entryscan.device.access.clock import SystemClock
from entryscan.device.config.settings import Config, load_config
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher

POLL_S = 0.01
MAX_ROWS = 200_000  # above the 50k backlog; the shipped default is 100k
FIELDS: dict[str, object] = {"decision": "accept", "reason": "ok", "credential_type": "badge",
                             "subject": "5f0c3e9a1b2d4c6e8f7a9b0c1d2e3f40", "policy_version": "1",
                             "clock_synced": True}


def publisher(cfg: Config, path: Path) -> MqttPublisher:
    return MqttPublisher(cfg.mqtt, device=cfg.device.id, site=cfg.device.site, door=cfg.device.door,
                         journal_path=path, max_rows=MAX_ROWS, clock=SystemClock(),
                         state_provider=lambda: {"bench": True}, firmware="bench")


def open_journal(cfg: Config, path: Path) -> Journal:
    return Journal(path, device=cfg.device.id, site=cfg.device.site, door=cfg.device.door,
                   max_rows=MAX_ROWS, clock=SystemClock())


def wait_empty(journal: Journal, timeout: float) -> float:
    end = time.monotonic() + timeout
    while journal.backlog() > 0:
        if time.monotonic() > end:
            raise RuntimeError(f"journal not drained within {timeout:.0f} s ({journal.backlog()} rows left)")
        time.sleep(POLL_S)
    return time.monotonic()


def wait_connected(pub: MqttPublisher, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pub.connected:
        if time.monotonic() > end:
            raise RuntimeError("publisher did not connect")
        time.sleep(POLL_S)


def burst(cfg: Config, work: Path, n: int) -> None:
    path = work / "burst" / "journal.db"
    journal = open_journal(cfg, path)
    pub = publisher(cfg, path)
    pub.start()
    try:
        wait_connected(pub)
        wait_empty(journal, 10)  # the status/state/discovery rows of the connect
        t0 = time.monotonic()
        for _ in range(n):
            journal.record_entry(FIELDS)
            pub.notify()
        t_recorded = time.monotonic()
        t_end = wait_empty(journal, 300)
    finally:
        pub.stop()
        journal.close()
    emit("journal", "burst_events_per_s", n / (t_end - t0), "events/s", n=n, delivery=cfg.mqtt.delivery)
    emit("journal", "burst_commit_only_per_s", n / (t_recorded - t0), "events/s", n=n, delivery=cfg.mqtt.delivery)


def drain(cfg: Config, work: Path, n: int) -> None:
    path = work / "drain" / "journal.db"
    journal = open_journal(cfg, path)
    for _ in range(n):
        journal.record_entry(FIELDS)
    pub = publisher(cfg, path)
    t0 = time.monotonic()
    pub.start()
    try:
        t_end = wait_empty(journal, 600)
    finally:
        pub.stop()
        journal.close()
    emit("journal", "drain_s", t_end - t0, "s", backlog=n, delivery=cfg.mqtt.delivery)
    emit("journal", "drain_rows_per_s", n / (t_end - t0), "rows/s", backlog=n, delivery=cfg.mqtt.delivery)


@contextmanager
def subscriber(url: str) -> Iterator[None]:
    """A QoS 1 subscriber on the entry topic, so the broker answers 0x00 (with nobody subscribed it says 0x10,
    "no matching subscribers", and the door rightly keeps the rows)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sink", protocol=paho.MQTTv5)
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    client.connect(host, int(port))
    client.subscribe("entryscan/+/+/entry", qos=1)
    client.loop_start()
    try:
        yield
    finally:
        client.disconnect()
        client.loop_stop()


@contextmanager
def collector(url: str, work: Path) -> Iterator[None]:
    """The real collector (SQLite store), which confirms what it commits: the door's rows leave only then."""
    log = work / "collector.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "entryscan.collector", "--url", url, "--db",
                                 str(work / "collector.db"), "--quiet", "--rules-interval", "3600"],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        end = time.monotonic() + 20
        while "collector: subscribed" not in log.read_text(errors="replace"):
            if time.monotonic() > end or proc.poll() is not None:
                raise RuntimeError(f"collector did not start: {log.read_text(errors='replace')[-500:]}")
            time.sleep(POLL_S)
        yield
    finally:
        stop(proc)


def main(mode: Mode) -> None:
    """Both delivery modes side by side, each from a fresh journal: ``broker`` (a row leaves on its PUBACK; a plain
    subscriber keeps the broker from answering 0x10) and ``confirmed`` (a row leaves when the real collector's
    confirmation names it: one more journal write per row, and the collector's batch commit in the loop)."""
    for delivery in ("broker", "confirmed"):
        with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp_name:
            tmp = Path(tmp_name)
            with mosquitto(tmp / "broker") as url:
                sink = subscriber(url) if delivery == "broker" else collector(url, tmp)
                with sink:
                    loaded = load_config(door_config(tmp, url, tmp / "frames", 0))
                    cfg = dataclasses.replace(loaded, mqtt=dataclasses.replace(loaded.mqtt, delivery=delivery))
                    burst(cfg, tmp, mode.pick(500, 5_000))
                    drain(cfg, tmp, mode.pick(2_000, 50_000))
