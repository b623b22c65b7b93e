"""Exactly once under failure: two collectors in a shared group, one SIGKILLed and restarted several times,
the broker restarted once, while virtual doors (the device's real journal and publisher) send entries.

The short variant runs in CI; the full size (200 doors, 20,000 entries) runs with ``pytest -m soak``. Both run against SQLite and PostgreSQL and print the counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entryscan.collector.store import open_store
from tests.conftest import MosquittoFactory
from tests.support import wait_for
from tests.support.collector import Collector


def exactly_once(tmp_path: Path, db_url: str, mosquitto_factory: MosquittoFactory, doors_n: int,
                 events: int, kills: int, rate: float) -> None:
    broker = mosquitto_factory(persistence=True, extra_conf="max_queued_messages 0\n")
    store = open_store(db_url)  # migrates once before the collectors start
    collectors = [Collector(broker.url, db_url, tmp_path / f"c-{n}.log", f"c-{n}", shared="g") for n in "ab"]
    for c in collectors:
        c.start()
    drain_s = max(120.0, events / 50)
    simulator = subprocess.Popen(
        [sys.executable, "-m", "entryscan.collector", "simulate", "--url", broker.url, "--site", "load",
         "--devices", str(doors_n), "--events", str(events), "--rate", str(rate), "--dir", str(tmp_path / "doors"),
         "--drain-timeout", str(drain_s)], stdout=subprocess.PIPE, text=True)
    victim = collectors[0]
    try:
        for round_ in range(kills):
            time.sleep(1.5)
            victim.kill()
            if round_ == kills // 2:
                broker.stop()  # a clean broker restart: its persistence keeps the sessions and queues
                broker.start()
            time.sleep(0.3)
            victim.start()
        out, _ = simulator.communicate(timeout=drain_s + 120)
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["undelivered"] == 0, summary
        assert wait_for(lambda: sum(d["entries"] for d in store.devices()) >= events,
                        timeout=max(60.0, events / 100), interval=0.5)
        rows = store.entries()
        ids = {r["event_id"] for r in rows}
        seqs = {(r["device"], r["incarnation"], r["seq"]) for r in rows}
        missing = sum(d["missing"] for d in store.devices())
        print(f"\nexactly-once [{'postgres' if db_url.startswith('postgres') else 'sqlite'}]: {doors_n} doors, "
              f"{summary['events']} entries journaled, {len(rows)} stored, {len(ids)} distinct event_ids, "
              f"{len(seqs)} distinct seqs, {missing} missing, receipts {store.receipts()}, "
              f"collector SIGKILLs {victim.kills}, broker restarts 1")
        assert len(rows) == len(ids) == len(seqs) == events and missing == 0
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait()
        for c in collectors:
            c.stop()
        store.close()


def test_exactly_once_short(tmp_path: Path, db_url: str, mosquitto_factory: MosquittoFactory) -> None:
    exactly_once(tmp_path, db_url, mosquitto_factory, doors_n=20, events=2000, kills=3, rate=400.0)


@pytest.mark.soak
def test_exactly_once_200_doors_20000_entries(tmp_path: Path, db_url: str,
                                              mosquitto_factory: MosquittoFactory) -> None:
    exactly_once(tmp_path, db_url, mosquitto_factory, doors_n=200, events=20_000, kills=5, rate=1500.0)
