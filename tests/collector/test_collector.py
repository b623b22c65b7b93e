"""The collector: dedupe, garbage tolerance, persistent session, end to end from a journal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from entryscan.collector.store import Store
from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher
from tests.paths import REPO
from tests.support import StepClock, wait_for
from tests.support.events import TOPIC, entry
from tests.support.mosquitto import Listener, Mosquitto

ROOT = REPO


class CollectorProc:
    def __init__(self, url: str, db: Path, *extra: str, client_id: str = "test-collector") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "entryscan.collector", "--url", url, "--db", str(db), "--client-id", client_id, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def wait_connected(self) -> None:
        assert self.proc.stderr is not None
        err: IO[str] = self.proc.stderr
        for line in err:  # the collector logs one line once the broker acknowledged its subscription
            if "collector: subscribed" in line:
                return
        raise AssertionError(f"collector exited early ({self.proc.poll()})")

    def finish(self, timeout: float = 15) -> tuple[int, list[str]]:
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, [line for line in out.splitlines() if line]

    def terminate(self) -> tuple[int, list[str]]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.finish()


@pytest.fixture
def publisher_client(mosquitto: Mosquitto) -> Iterator[Listener]:
    client = Listener(mosquitto.url, ["unused/#"])
    yield client
    client.close()


def test_store_terminal_safe_lines_and_status_changes(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    line = store.ingest(f"{TOPIC}/entry", entry(3, reason="ok\x1b[2J\n")).line
    assert "\x1b" not in line and "\n" not in line
    assert store.ingest(f"{TOPIC}/status", b"online").new
    assert not store.ingest(f"{TOPIC}/status", b"online").new
    assert store.ingest(f"{TOPIC}/status", b"offline").line == "hq/door-1 status offline"
    assert store.status() == {"hq/door-1": "offline"}


def test_collector_dedupes_and_survives_garbage(mosquitto: Mosquitto, tmp_path: Path,
                                                publisher_client: Listener) -> None:
    db = tmp_path / "c.db"
    proc = CollectorProc(mosquitto.url, db, "--once-count", "2")
    proc.wait_connected()
    dup = entry(1)
    for topic, payload in [(f"{TOPIC}/entry", dup), (f"{TOPIC}/entry", b"\x00garbage"),
                           (f"{TOPIC}/entry", dup), (f"{TOPIC}/alert", b"{}"), ("entryscan/hq/door-9/entry", dup),
                           (f"{TOPIC}/entry", entry(2))]:
        publisher_client.publish(topic, payload)
    rc, lines = proc.finish()
    assert rc == 0
    assert [ln for ln in lines if "#" in ln] == [
        "[collector] hq/door-1 #1 accept ok badge 2026-11-28T18:00:00.123Z",
        "[collector] hq/door-1 #2 accept ok badge 2026-11-28T18:00:00.123Z",
    ]
    store = Store(db)
    assert [e["seq"] for e in store.entries()] == [1, 2]
    assert store.receipts() == {"entry": 3, "garbage": 3}
    assert [r["reason"] for r in store.quarantine()[1]] == ["topic_mismatch", "topic_mismatch", "bad_json"]


def test_persistent_session_gets_what_was_published_while_offline(
        mosquitto: Mosquitto, tmp_path: Path, publisher_client: Listener) -> None:
    db = tmp_path / "c.db"
    first = CollectorProc(mosquitto.url, db, client_id="persistent-c")
    first.wait_connected()
    rc, _ = first.terminate()
    assert rc == 0
    for seq in range(1, 6):  # nobody is subscribed now; the broker queues for the session
        publisher_client.publish(f"{TOPIC}/entry", entry(seq))
    second = CollectorProc(mosquitto.url, db, "--once-count", "5", client_id="persistent-c")
    rc, lines = second.finish()
    assert rc == 0 and len([ln for ln in lines if "#" in ln]) == 5
    assert [e["seq"] for e in Store(db).entries()] == [1, 2, 3, 4, 5]


def test_end_to_end_journal_to_collector(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """The README's simulated door path: journal -> publisher -> broker -> collector DB."""
    clock = StepClock()
    path = tmp_path / "dev" / "j.db"
    journal = Journal(path, device="door-1", site="hq", door="main", max_rows=1000, clock=clock)
    db = tmp_path / "c.db"
    proc = CollectorProc(mosquitto.url, db, "--once-count", "30")
    proc.wait_connected()
    publisher = MqttPublisher(MqttConfig(url=mosquitto.url, keepalive_s=5, discovery=False, delivery="broker"),
                              device="door-1",
                              site="hq", door="main", journal_path=path, max_rows=1000, clock=clock,
                              state_provider=dict, firmware="t")
    publisher.start()
    try:
        for _ in range(30):
            journal.record_entry({"decision": "deny", "reason": "not_allowed", "credential_type": "badge"})
            publisher.notify()
        rc, lines = proc.finish(20)
        assert rc == 0
        assert "[collector] hq/door-1 status online" in lines
        assert [e["seq"] for e in Store(db).entries("hq", "door-1")] == list(range(1, 31))
        assert wait_for(lambda: journal.backlog() == 0)
    finally:
        publisher.stop(2)
        journal.close()


def test_fleet_view_counts_and_finds_missing_decisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from entryscan.collector.__main__ import main
    from entryscan.collector.fleet import fleet

    store = Store(tmp_path / "c.db")
    for seq in (1, 2, 3, 5, 6):  # seq 4 never arrived
        store.ingest(f"{TOPIC}/entry", entry(seq, decision="deny" if seq == 2 else "accept"))
    store.ingest(f"{TOPIC}/status", b"online")
    store.ingest("entryscan/hq/door-2/status", b"offline")
    store.close()
    rows = {r.device: r for r in fleet(Store(tmp_path / "c.db"))}
    door1 = rows["door-1"]
    assert (door1.status, door1.entries, door1.accepts, door1.denies, door1.missing) == ("online", 5, 4, 1, 1)
    assert (rows["door-2"].status, rows["door-2"].entries, rows["door-2"].missing) == ("offline", 0, 0)
    assert main(["--report", "--db", str(tmp_path / "c.db")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:7] == ["door", "status", "entries", "accept", "deny", "missing", "unsynced"]
    assert out[1].split()[:6] == ["hq/door-1", "online", "5", "4", "1", "1"]
