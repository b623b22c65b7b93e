"""The collector's stores, each test against SQLite and a real PostgreSQL cluster (fixture ``db_url``)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.store.schema import SQLITE_MIGRATIONS
from tests.support.events import TOPIC, alert, entry

INC_A, INC_B = "a" * 32, "b" * 32


def test_dedupes_and_counts_receipts(store: StoreBase) -> None:
    payload = entry(1)
    first = store.ingest(f"{TOPIC}/entry", payload)
    again = store.ingest(f"{TOPIC}/entry", payload)
    assert first.new and not again.new
    assert first.line == "hq/door-1 #1 accept ok badge 2026-11-28T18:00:00.123Z"
    assert len(store.entries()) == 1 and store.receipts()["entry"] == 2


def test_batch_with_one_event_twice_stores_and_counts_it_once(store: StoreBase) -> None:
    payload = entry(1, incarnation=INC_A)
    batch = store.ingest_batch([(f"{TOPIC}/entry", payload), (f"{TOPIC}/entry", payload)])
    assert [r.new for r in batch.results] == [True, False]
    assert batch.touched == [("entryscan", "hq", "door-1")]
    assert store.devices()[0]["entries"] == 1
    assert store.confirmation("hq", "door-1") == {"incarnation": INC_A, "through_seq": 1, "seqs": [],
                                                  "alert_ids": []}


@pytest.mark.parametrize("topic, payload, reason", [
    (f"{TOPIC}/entry", b"not json", "bad_json"),
    (f"{TOPIC}/entry", b"\xff\xfe\x00garbage", "bad_json"),
    (f"{TOPIC}/entry", b"[1, 2, 3]", "not_object"),
    (f"{TOPIC}/entry", b'{"seq": 1}', "topic_mismatch"),
    (f"{TOPIC}/entry", entry(2**70), "wrong_type:seq"),
    (f"{TOPIC}/entry", entry(-1), "wrong_type:seq"),
    (f"{TOPIC}/entry", entry(True), "wrong_type:seq"),  # type: ignore[arg-type]
    (f"{TOPIC}/entry", entry(1, event_id="x" * 500), "wrong_type:event_id"),
    (f"{TOPIC}/entry", entry(1, decision=["accept"]), "wrong_type:decision"),
    (f"{TOPIC}/entry", entry(1, ts="yesterday"), "wrong_type:ts"),
    (f"{TOPIC}/entry", entry(1, incarnation="ABC"), "wrong_type:incarnation"),
    (f"{TOPIC}/entry", entry(1, clock_synced="yes"), "wrong_type:clock_synced"),
    (f"{TOPIC}/entry", entry(1, device="door-2"), "topic_mismatch"),  # payload claims another device
    (f"{TOPIC}/entry", entry(1, site="elsewhere"), "topic_mismatch"),
    (f"{TOPIC}/entry", entry(1, extra="x" * 70_000), "oversized"),  # unknown fields beyond the bound
    (f"{TOPIC}/entry", json.dumps({f"f{i}": i for i in range(100)}).encode(), "too_many_fields"),
    (f"{TOPIC}/entry", b"[" * 100_000, "oversized"),
    (f"{TOPIC}/entry", b"[" * 50_000, "bad_json"),
    (f"{TOPIC}/alert", b'{"kind": "x"}', "topic_mismatch"),
    (f"{TOPIC}/alert", alert("tamper", alert_id=""), "wrong_type:alert_id"),
    (f"{TOPIC}/status", b"rebooting", "bad_status"),
    (f"{TOPIC}/state", b"[]", "not_object"),
    ("entryscan/entry", entry(1), "bad_topic"),
    ("entryscan/HQ/door-1/entry", entry(1), "bad_topic"),
], ids=lambda v: str(v)[:24] if isinstance(v, str) else f"{len(v)}b")
def test_quarantines_bad_messages_with_the_reason(store: StoreBase, topic: str, payload: bytes,
                                                  reason: str) -> None:
    result = store.ingest(topic, payload)
    assert (result.kind, result.new, result.reason) == ("quarantine", False, reason)
    assert store.entries() == [] and store.receipts() == {"garbage": 1}
    count, recent = store.quarantine()
    assert count == 1 and recent[0]["reason"] == reason and recent[0]["size"] == len(payload)


def test_garbage_in_a_batch_does_not_stop_the_rest(store: StoreBase) -> None:
    batch = store.ingest_batch([(f"{TOPIC}/entry", entry(1)), (f"{TOPIC}/entry", b"\x00junk"),
                                (f"{TOPIC}/entry", entry(2))])
    assert [r.kind for r in batch.results] == ["entry", "quarantine", "entry"]
    assert [e["seq"] for e in store.entries()] == [1, 2]


def test_events_without_incarnation_are_accepted_as_empty(store: StoreBase) -> None:
    store.ingest(f"{TOPIC}/entry", entry(1))
    assert store.entries()[0]["incarnation"] == ""
    assert store.confirmation("hq", "door-1") == {"incarnation": "", "through_seq": 1, "seqs": [], "alert_ids": []}


def test_gaps_are_tracked_per_incarnation_and_heal(store: StoreBase) -> None:
    for seq in (1, 2, 4, 6):
        store.ingest(f"{TOPIC}/entry", entry(seq, incarnation=INC_A))
    store.ingest(f"{TOPIC}/entry", entry(1, incarnation=INC_B))  # the door was wiped: a new journal
    streams = {s["incarnation"]: s for s in store.streams()}
    assert streams[INC_A]["through_seq"] == 2 and streams[INC_A]["gap_since"] is not None
    assert streams[INC_B]["through_seq"] == 1 and streams[INC_B]["gap_since"] is None
    assert store.devices()[0]["missing"] == 2
    store.ingest_batch([(f"{TOPIC}/entry", entry(5, incarnation=INC_A)),
                        (f"{TOPIC}/entry", entry(3, incarnation=INC_A))])  # late events arrive
    streams = {s["incarnation"]: s for s in store.streams()}
    assert streams[INC_A]["through_seq"] == 6 and streams[INC_A]["gap_since"] is None
    assert store.devices()[0]["missing"] == 0


def test_confirmation_follows_the_newest_incarnation(store: StoreBase) -> None:
    store.ingest_batch([(f"{TOPIC}/entry", entry(s, incarnation=INC_A)) for s in (1, 2, 5, 9)])
    assert store.confirmation("hq", "door-1") == {"incarnation": INC_A, "through_seq": 2, "seqs": [5, 9],
                                                  "alert_ids": []}
    store.ingest(f"{TOPIC}/entry", entry(1, incarnation=INC_B))
    assert store.confirmation("hq", "door-1")["incarnation"] == INC_B  # type: ignore[index]
    store.ingest(f"{TOPIC}/entry", entry(3, incarnation=INC_A))  # an old journal still draining
    doc = store.confirmation("hq", "door-1")
    assert doc == {"incarnation": INC_A, "through_seq": 3, "seqs": [5, 9], "alert_ids": []}


def test_confirmation_lists_alerts_newest_first_and_a_resent_one_again(store: StoreBase) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for alert_id in ids:
        store.ingest(f"{TOPIC}/alert", alert("camera_fault", alert_id=alert_id, incarnation=INC_A))
    again = store.ingest(f"{TOPIC}/alert", alert("camera_fault", alert_id=ids[0], incarnation=INC_A))
    assert not again.new and len(store.device_alerts()) == 3
    assert store.confirmation("hq", "door-1")["alert_ids"] == [ids[0], ids[2], ids[1]]  # type: ignore[index]


def test_confirmation_bounds(store: StoreBase) -> None:
    big = 10**15
    store.ingest_batch([(f"{TOPIC}/entry", entry(big + 2 * i, incarnation=INC_A)) for i in range(1200)])
    doc = store.confirmation("hq", "door-1")
    assert doc is not None and doc["through_seq"] == 0
    assert doc["seqs"] == sorted(doc["seqs"]) and doc["seqs"][0] == big
    assert len(json.dumps(doc, separators=(",", ":"))) <= 16 * 1024 and 0 < len(doc["seqs"]) <= 1000


def test_status_offline_since_and_state(store: StoreBase) -> None:
    store.ingest(f"{TOPIC}/status", b"online")
    assert not store.ingest(f"{TOPIC}/status", b"online").new
    store.ingest(f"{TOPIC}/status", b"offline")
    store.ingest(f"{TOPIC}/state", json.dumps({"stopped": True, "clock_synced": True}).encode())
    (dev,) = store.devices()
    assert dev["status"] == "offline" and dev["offline_since"] and dev["state"]["stopped"] is True
    store.ingest(f"{TOPIC}/status", b"online")
    assert store.devices()[0]["offline_since"] is None


def test_fleet_alerts_raise_once_and_clear(store: StoreBase) -> None:
    assert store.raise_alert("device_offline", "hq", "door-1", "x")
    assert not store.raise_alert("device_offline", "hq", "door-1", "x")
    assert store.clear_alert("device_offline", "hq", "door-1")
    assert store.raise_alert("device_offline", "hq", "door-1", "again")
    assert [a["open"] for a in store.alerts()] == [True, False]


def test_reports_are_stored_and_closed(store: StoreBase) -> None:
    rid = store.add_report("hq", "canteen", "Bảng QR bị rách", "", "127.0.0.1")
    assert store.reports(open_only=True)[0]["body"] == "Bảng QR bị rách"
    assert store.close_report(rid) and store.reports(open_only=True) == []


def test_report_ids_are_each_reports_own_under_concurrent_submissions(store: StoreBase) -> None:
    """Before: the id came from SELECT MAX(id) after the INSERT, so two citizens reporting the same venue at once
    could both be given the later report's id (the web handler runs one thread per request)."""
    from concurrent.futures import ThreadPoolExecutor

    def report(n: int) -> tuple[int, str]:
        return store.add_report("hq", "canteen", f"report {n}", "", "127.0.0.1"), f"report {n}"

    with ThreadPoolExecutor(4) as pool:
        given = list(pool.map(report, range(200)))
    assert len({rid for rid, _ in given}) == 200
    bodies = {r["id"]: r["body"] for r in store.reports()}
    assert all(bodies[rid] == body for rid, body in given)


def test_sqlite_database_of_the_first_collector_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(SQLITE_MIGRATIONS[0])
    db.execute("INSERT INTO entries(event_id, site, device, seq, decision, payload) VALUES"
               " ('e1', 'hq', 'door-1', 1, 'accept', '{}'), ('e2', 'hq', 'door-1', 3, 'deny', '{}')")
    db.execute("INSERT INTO status(site, device, status) VALUES ('hq', 'door-1', 'offline')")
    db.commit()
    db.close()
    store = open_store(path)
    assert store.schema_version() == len(SQLITE_MIGRATIONS)  # type: ignore[attr-defined]
    (dev,) = store.devices()
    assert (dev["entries"], dev["accepts"], dev["denies"], dev["missing"], dev["status"]) == (2, 1, 1, 1, "offline")
    store.ingest(f"{TOPIC}/entry", entry(2))
    assert store.confirmation("hq", "door-1")["through_seq"] == 3  # type: ignore[index]
    store.close()
    assert open_store(path).schema_version() == len(SQLITE_MIGRATIONS)  # type: ignore[attr-defined]


def test_bulk_confirmations_equal_the_single_ones(store: StoreBase) -> None:
    batch = [(f"entryscan/hq/door-{d}/entry", entry(s, device=f"door-{d}", incarnation=INC_A))
             for d in range(1, 4) for s in (1, 2, 4)]
    batch.append(("entryscan/hq/door-2/alert", alert("tamper", device="door-2", incarnation=INC_A)))
    batch.append(("entryscan/hq/door-3/entry", entry(1, device="door-3", incarnation=INC_B)))
    store.ingest_batch(batch)
    devices = [("hq", f"door-{d}") for d in range(1, 5)]
    bulk = store.confirmations(devices)
    assert bulk == {d: store.confirmation(*d) for d in devices[:3]}
    assert bulk[("hq", "door-3")]["incarnation"] == INC_B and len(bulk[("hq", "door-2")]["alert_ids"]) == 1


def test_a_long_gap_heals_past_one_page_of_seqs(store: StoreBase) -> None:
    store.ingest_batch([(f"{TOPIC}/entry", entry(s, incarnation=INC_A)) for s in range(2, 2502)])
    assert store.streams()[0]["through_seq"] == 0
    assert store.confirmation("hq", "door-1")["seqs"][:2] == [2, 3]  # type: ignore[index]
    store.ingest(f"{TOPIC}/entry", entry(1, incarnation=INC_A))
    assert store.streams()[0]["through_seq"] == 2501 and store.streams()[0]["gap_since"] is None
