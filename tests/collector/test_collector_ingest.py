"""Ingest through a real mosquitto into both stores: batches, acks after commit, confirmations, shared groups."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from entryscan.collector.ingest import IngestOptions, Ingestor, subscriptions
from entryscan.collector.store import StoreBase, open_store
from tests.conftest import MosquittoFactory
from tests.support import wait_for
from tests.support.events import TOPIC, alert, entry
from tests.support.mosquitto import Listener, Mosquitto

INC = "c" * 32


class Running:
    def __init__(self, url: str, store: StoreBase, **kw: Any) -> None:
        self.ingestor = Ingestor(IngestOptions(url=url, **kw), store)
        self.thread = threading.Thread(target=self.ingestor.run, daemon=True)
        self.thread.start()
        assert self.ingestor.subscribed.wait(10)

    def stop(self) -> None:
        self.ingestor.done.set()
        self.thread.join(10)


@pytest.fixture
def client(mosquitto: Mosquitto) -> Iterator[Listener]:
    c = Listener(mosquitto.url, ["entryscan/+/+/confirm"])
    yield c
    c.close()


def test_subscriptions_through_a_shared_group() -> None:
    assert subscriptions("p", "g1") == [f"$share/g1/p/+/+/{leaf}" for leaf in ("entry", "alert", "status", "state")]


def test_confirmations_arrive_retained_after_commit(mosquitto: Mosquitto, store: StoreBase,
                                                    client: Listener) -> None:
    running = Running(mosquitto.url, store, client_id="c-confirm")
    try:
        alert_id = "4f0c2a53-8a56-4d33-9d4e-0d6f7c3a1b2e"
        for seq in (1, 2, 4):
            client.publish(f"{TOPIC}/entry", entry(seq, incarnation=INC))
        client.publish(f"{TOPIC}/alert", alert("camera_fault", alert_id=alert_id, incarnation=INC))
        want = {"incarnation": INC, "through_seq": 2, "seqs": [4], "alert_ids": [alert_id]}
        assert wait_for(lambda: want in client.json_on("/confirm"))
    finally:
        running.stop()
    # Retained: a door that (re)connects later gets the latest confirm at once.
    late = Listener(mosquitto.url, ["entryscan/hq/door-1/confirm"])
    try:
        assert wait_for(lambda: late.json_on("/confirm") == [want])
        assert all(retained for _, _, retained in late.messages)
    finally:
        late.close()


def test_garbage_is_quarantined_and_ingest_goes_on(mosquitto: Mosquitto, store: StoreBase,
                                                  client: Listener) -> None:
    running = Running(mosquitto.url, store, client_id="c-garbage")
    try:
        client.publish(f"{TOPIC}/entry", b"\x00\xffnot json")
        client.publish(f"{TOPIC}/entry", json.dumps({"seq": "one"}).encode())
        client.publish("entryscan/hq/door-9/entry", entry(1))  # topic and body disagree
        client.publish(f"{TOPIC}/entry", b"x" * (200 * 1024))
        client.publish(f"{TOPIC}/entry", entry(1))
        assert wait_for(lambda: len(store.entries()) == 1 and store.quarantine()[0] == 4)
        reasons = sorted(r["reason"] for r in store.quarantine()[1])
        assert reasons == ["bad_json", "oversized", "topic_mismatch", "topic_mismatch"]
    finally:
        running.stop()


def test_a_batch_the_store_refused_is_retried_before_any_ack(mosquitto: Mosquitto, db_url: str,
                                                             client: Listener) -> None:
    """A batch the store could not commit is neither acknowledged nor confirmed until a retry commits it."""
    store = open_store(db_url)
    calls = {"n": 0}
    real = store.ingest_batch

    def failing_once(messages: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full")
        return real(messages)

    store.ingest_batch = failing_once  # type: ignore[method-assign]
    running = Running(mosquitto.url, store, client_id="c-redeliver")
    try:
        client.publish(f"{TOPIC}/entry", entry(1, incarnation=INC))
        assert wait_for(lambda: [e["seq"] for e in store.entries()] == [1], timeout=20)
        assert calls["n"] == 2
        assert wait_for(lambda: len(client.json_on("/confirm")) == 1)
    finally:
        running.stop()
        store.close()


def test_two_collectors_in_a_shared_group_split_the_stream(mosquitto: Mosquitto, db_url: str,
                                                           client: Listener) -> None:
    stores = [open_store(db_url), open_store(db_url)]
    running = [Running(mosquitto.url, s, client_id=f"c-shared-{i}", shared_group="g") for i, s in enumerate(stores)]
    try:
        for seq in range(1, 201):
            client.publish(f"{TOPIC}/entry", entry(seq, incarnation=INC))
        assert wait_for(lambda: len(stores[0].entries()) == 200, timeout=30)
        # A collector counts a batch after its commit (and acks): the rows can be seen a moment before.
        assert wait_for(lambda: sum(r.ingestor.committed for r in running) == 200, timeout=10)
        assert all(r.ingestor.committed > 0 for r in running)
        assert wait_for(lambda: {"incarnation": INC, "through_seq": 200, "seqs": [], "alert_ids": []}
                        in client.json_on("/confirm"))
    finally:
        for r in running:
            r.stop()
        for s in stores:
            s.close()


def test_shared_group_and_confirms_within_the_provisioned_acl(mosquitto_factory: MosquittoFactory,
                                                              tmp_path: Path) -> None:
    """The ACL entryscan-provision writes lets a shared-group collector read doors and write confirms."""
    from entryscan.provisioning.broker import collector_acl, device_acl

    acl = "\n".join([*collector_acl("entryscan"), *device_acl("entryscan", "hq", "door-1")]) + "\n"
    broker = mosquitto_factory(acl=acl)
    store = open_store(tmp_path / "c.db")
    running = Running(broker.url, store, client_id="c-acl", shared_group="g", username="collector")
    confirms: list[bytes] = []
    door = paho.Client(CallbackAPIVersion.VERSION2, client_id="door-1", protocol=paho.MQTTv5)
    door.username_pw_set("door-1")
    door.on_message = lambda client, userdata, msg: confirms.append(bytes(msg.payload))
    door.connect("127.0.0.1", broker.port)
    door.loop_start()
    try:
        door.subscribe(f"{TOPIC}/confirm", qos=1)
        door.publish(f"{TOPIC}/entry", entry(1, incarnation=INC), qos=1).wait_for_publish(5)
        assert wait_for(lambda: [e["seq"] for e in store.entries()] == [1])
        want = {"incarnation": INC, "through_seq": 1, "seqs": [], "alert_ids": []}
        assert wait_for(lambda: [json.loads(c) for c in confirms] == [want])
    finally:
        door.disconnect()
        door.loop_stop()
        running.stop()
        store.close()


def test_postgres_connection_lost_mid_stream_is_reopened(mosquitto: Mosquitto, postgres_cluster: Any,
                                                         client: Listener,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """The database drops the collector's connection: the batch stays unacknowledged, is retried, nothing lost."""
    import psycopg

    url = postgres_cluster.new_database()
    store, reader = open_store(url), open_store(url)
    running = Running(mosquitto.url, store, client_id="c-pg-lost")
    try:
        client.publish(f"{TOPIC}/entry", entry(1, incarnation=INC))
        assert wait_for(lambda: len(reader.entries()) == 1)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                          " AND pid <> pg_backend_pid() AND pid <> %s", (reader._db.info.backend_pid,))  # type: ignore[attr-defined]
        for seq in (2, 3):
            client.publish(f"{TOPIC}/entry", entry(seq, incarnation=INC))
        assert wait_for(lambda: [e["seq"] for e in reader.entries()] == [1, 2, 3], timeout=30)
        want = {"incarnation": INC, "through_seq": 3, "seqs": [], "alert_ids": []}
        assert wait_for(lambda: want in client.json_on("/confirm"))
        assert "not acknowledged, retrying" in caplog.text
    finally:
        running.stop()
        store.close()
        reader.close()
