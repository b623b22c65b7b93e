"""Through a real mosquitto: one message never holds the fleet's ingest back, and a commit thread that errs
or dies is seen (issue 18, "One message stops the fleet's ingest")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from entryscan.collector.commit import RetryPolicy
from entryscan.collector.ingest import INGEST_ALERT, IngestOptions, Ingestor
from entryscan.collector.store import Batch, StoreBase, open_store
from tests.support import wait_for
from tests.support.events import TOPIC, entry
from tests.support.mosquitto import Listener, Mosquitto

INC = "e" * 32
FAST = RetryPolicy(split_after=3, first_delay_s=0.05, max_delay_s=0.2)


class Running:
    def __init__(self, url: str, store: StoreBase, client_id: str, on_batch: Any = None) -> None:
        self.ingestor = Ingestor(IngestOptions(url=url, client_id=client_id), store, on_batch)
        self.ingestor._committer.policy = FAST
        self.thread = threading.Thread(target=self.ingestor.run, daemon=True)
        self.thread.start()
        assert self.ingestor.subscribed.wait(10)

    def stop(self) -> None:
        self.ingestor.done.set()
        self.thread.join(15)
        assert not self.thread.is_alive()


@pytest.fixture
def door(mosquitto: Mosquitto) -> Iterator[Listener]:
    c = Listener(mosquitto.url, ["entryscan/+/+/confirm"])
    yield c
    c.close()


def _confirmed(door: Listener, through: int) -> bool:
    return {"incarnation": INC, "through_seq": through, "seqs": [], "alert_ids": []} in door.json_on("/confirm")


def test_a_nul_in_an_entry_is_quarantined_and_every_other_door_goes_on(mosquitto: Mosquitto, store: StoreBase,
                                                                      door: Listener) -> None:
    """Before: PostgreSQL refused the batch with DataError and the ingest retried it forever."""
    running = Running(mosquitto.url, store, "c-nul")
    try:
        door.publish(f"{TOPIC}/entry", entry(1, incarnation=INC, door="main\u0000x"))
        for seq in (2, 3):
            door.publish(f"{TOPIC}/entry", entry(seq, incarnation=INC))
        door.publish("entryscan/hq/door-2/entry", entry(1, device="door-2", incarnation=INC))
        assert wait_for(lambda: len(store.entries()) == 3, timeout=15)
        assert store.quarantine()[1][0]["reason"] == "control_char:door"
        assert running.ingestor.health()["ok"]
    finally:
        running.stop()


def test_a_message_the_store_refuses_is_split_out_and_quarantined(mosquitto: Mosquitto, store: StoreBase,
                                                                 door: Listener,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure nobody foresaw (here: the store refuses any entry of door "cursed"): after three failed tries
    the batch is halved until that message is alone, which is quarantined; the others are stored and confirmed."""
    real = store._insert_entries

    def refusing(records: Any, received_at: str) -> Any:
        if any(r.door == "cursed" for r in records):
            raise ValueError("refused by the database")
        return real(records, received_at)

    monkeypatch.setattr(store, "_insert_entries", refusing)
    batch_seen: list[int] = []
    running = Running(mosquitto.url, store, "c-split", on_batch=lambda b: batch_seen.append(len(b.results)))
    try:
        messages = [entry(seq, incarnation=INC, door="cursed" if seq == 4 else "main") for seq in range(1, 9)]
        for payload in messages:
            door.publish(f"{TOPIC}/entry", payload)
        assert wait_for(lambda: len(store.entries()) == 7, timeout=20)
        assert [(q["reason"], q["size"]) for q in store.quarantine()[1]] == [("store_refused:ValueError",
                                                                              len(messages[3]))]
        assert wait_for(lambda: {"incarnation": INC, "through_seq": 3, "seqs": [5, 6, 7, 8], "alert_ids": []}
                        in door.json_on("/confirm"))
        assert running.ingestor._committer.quarantined == 1
    finally:
        running.stop()
    assert store.receipts()["garbage"] == 1


def test_the_database_down_quarantines_nothing(mosquitto: Mosquitto, store: StoreBase, door: Listener,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that fails every write (the quarantine too) keeps the batch whole and unacknowledged."""
    broken = {"on": True}
    real_ingest, real_quarantine = store.ingest_batch, store.quarantine_message

    def ingest(messages: Any) -> Batch:
        if broken["on"]:
            raise store.unavailable_errors[0]("the database went away")
        return real_ingest(messages)

    def quarantine(*args: Any) -> Any:
        if broken["on"]:
            raise OSError("no database")
        return real_quarantine(*args)

    monkeypatch.setattr(store, "ingest_batch", ingest)
    monkeypatch.setattr(store, "quarantine_message", quarantine)
    running = Running(mosquitto.url, store, "c-down")
    running.ingestor.stall_s = 0.5
    try:
        for seq in (1, 2):
            door.publish(f"{TOPIC}/entry", entry(seq, incarnation=INC))
        assert wait_for(lambda: running.ingestor.health()["ingest"] == "stalled")
        health = running.ingestor.health()
        assert not health["ok"] and health["failed_attempts"] >= 3
        broken["on"] = False
        assert wait_for(lambda: [e["seq"] for e in store.entries()] == [1, 2], timeout=15)
        assert wait_for(lambda: _confirmed(door, 2)) and store.quarantine()[0] == 0
        assert wait_for(lambda: running.ingestor.health()["ok"])
    finally:
        running.stop()


def test_a_redelivered_message_that_wedged_an_old_collector_is_quarantined(mosquitto: Mosquitto, db_url: str,
                                                                          door: Listener) -> None:
    """A collector that could not store a message (as before: OverflowError from its ts) never acknowledged it;
    restarted with the same session, the redelivered message is quarantined and the doors' entries go on."""
    store = open_store(db_url)
    real = store.ingest_batch
    store.ingest_batch = lambda messages: (_ for _ in ()).throw(OverflowError("date value out of range"))  # type: ignore[method-assign]
    first = Running(mosquitto.url, store, "c-restart")
    door.publish(f"{TOPIC}/entry", entry(1, incarnation=INC, ts="0001-01-01T00:00:00+14:00"))
    assert wait_for(lambda: first.ingestor.progress.failures >= 1)
    first.stop()
    store.ingest_batch = real  # type: ignore[method-assign]
    second = Running(mosquitto.url, store, "c-restart")
    try:
        door.publish(f"{TOPIC}/entry", entry(2, incarnation=INC))
        assert wait_for(lambda: store.quarantine()[0] == 1 and len(store.entries()) == 1, timeout=15)
        assert store.quarantine()[1][0]["reason"] == "wrong_type:ts"
    finally:
        second.stop()
        store.close()


def test_an_error_after_the_commit_neither_stops_ingest_nor_goes_unseen(mosquitto: Mosquitto, store: StoreBase,
                                                                       door: Listener) -> None:
    """Before: ``print`` to a broken pipe in on_batch ended the commit thread; later messages were never stored."""
    broken = {"on": True}

    def on_batch(batch: Batch) -> None:
        if broken["on"]:
            raise BrokenPipeError(32, "Broken pipe")

    running = Running(mosquitto.url, store, "c-guard", on_batch=on_batch)
    try:
        door.publish(f"{TOPIC}/entry", entry(1, incarnation=INC))
        assert wait_for(lambda: [a["rule"] for a in store.alerts(open_only=True)] == [INGEST_ALERT])
        door.publish(f"{TOPIC}/entry", entry(2, incarnation=INC))
        assert wait_for(lambda: len(store.entries()) == 2)
        assert running.ingestor.health()["guard_errors"] >= 2 and running.ingestor.health()["ok"]
        broken["on"] = False
        door.publish(f"{TOPIC}/entry", entry(3, incarnation=INC))
        assert wait_for(lambda: store.alerts(open_only=True) == [])  # a clean batch clears it
    finally:
        running.stop()


class _Fatal(BaseException):
    """What no guard may catch (as KeyboardInterrupt): the thread ends, and health must say so."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_health_sees_a_dead_commit_thread(mosquitto: Mosquitto, store: StoreBase, door: Listener) -> None:
    def on_batch(batch: Batch) -> None:
        raise _Fatal("gone")

    running = Running(mosquitto.url, store, "c-dead", on_batch=on_batch)
    try:
        assert running.ingestor.health()["ok"]
        door.publish(f"{TOPIC}/entry", entry(1, incarnation=INC))
        assert wait_for(lambda: running.ingestor.health()["ingest"] == "dead")
        health = running.ingestor.health()
        assert not health["ok"] and "_Fatal" in health["reason"]
    finally:
        running.stop()
