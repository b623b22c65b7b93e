"""An event is one door's: entries and alerts are unique per (site, device, id), not per id across doors.

Before: ``event_id`` (and ``alert_id``) was the table's primary key, so door A publishing an entry with
door B's ``event_id`` (peers' entries are readable under the ACL) made B's real entry a "duplicate":
dropped, never counted and never confirmed, so B re-sent it for ever.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.store import postgres as pg_module
from entryscan.collector.store import sqlite as sqlite_module
from entryscan.collector.store.schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from tests.support.events import alert, entry

INC = "a" * 32
SHARED = "4b6e1f0c-0000-4000-8000-000000000001"


def _door_a_forges(store: StoreBase) -> None:
    store.ingest("entryscan/hq/door-a/entry", entry(1, event_id=SHARED, device="door-a", incarnation=INC))
    store.ingest("entryscan/hq/door-a/alert", alert("tamper", alert_id=SHARED, device="door-a", incarnation=INC))


def _door_b_is_stored(store: StoreBase) -> None:
    entries = len(store.entries())
    got = store.ingest("entryscan/hq/door-b/entry", entry(1, event_id=SHARED, device="door-b", incarnation=INC))
    assert got.new, "door B's entry was taken for a duplicate of door A's"
    assert store.ingest("entryscan/hq/door-b/alert",
                        alert("tamper", alert_id=SHARED, device="door-b", incarnation=INC)).new
    assert {("door-a", SHARED), ("door-b", SHARED)} <= {(e["device"], e["event_id"]) for e in store.entries()}
    doc = store.confirmation("hq", "door-b")
    assert doc is not None and doc["through_seq"] == 1 and doc["alert_ids"] == [SHARED]
    # Each door's own duplicate is still a duplicate.
    assert not store.ingest("entryscan/hq/door-b/entry",
                            entry(1, event_id=SHARED, device="door-b", incarnation=INC)).new
    assert len(store.entries()) == entries + 1 and len(store.device_alerts()) == 2


def test_one_door_cannot_take_another_doors_event_id(store: StoreBase) -> None:
    _door_a_forges(store)
    _door_b_is_stored(store)


def test_one_batch_with_two_doors_sharing_an_id_stores_both(store: StoreBase) -> None:
    batch = store.ingest_batch([
        ("entryscan/hq/door-a/entry", entry(1, event_id=SHARED, device="door-a", incarnation=INC)),
        ("entryscan/hq/door-b/entry", entry(1, event_id=SHARED, device="door-b", incarnation=INC)),
        ("entryscan/hq/door-b/entry", entry(1, event_id=SHARED, device="door-b", incarnation=INC))])
    assert [r.new for r in batch.results] == [True, True, False]
    assert {s["device"]: s["through_seq"] for s in store.streams()} == {"door-a": 1, "door-b": 1}


def test_an_existing_database_is_migrated(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A database made by the previous schema (ids unique across doors) gets the per-door uniqueness."""
    monkeypatch.setattr(sqlite_module, "SQLITE_MIGRATIONS", SQLITE_MIGRATIONS[:4])
    monkeypatch.setattr(pg_module, "POSTGRES_MIGRATIONS", POSTGRES_MIGRATIONS[:3])
    old = open_store(db_url)  # the old schema; its rows written as the old code wrote them
    for seq, event_id in ((1, SHARED), (2, "e-2")):
        old._exec("INSERT INTO entry_events(event_id, site, device, incarnation, seq, decision, payload, received_at)"
                  " VALUES (?, 'hq', 'door-a', ?, ?, 'accept', '{}', ?)", (event_id, INC, seq, f"2026-11-28T18:00:0{seq}.000Z"))
    old._exec("INSERT INTO alert_events(alert_id, site, device, incarnation, kind, ts, payload, received_at)"
              " VALUES (?, 'hq', 'door-a', ?, 'tamper', '2026-11-28T18:00:00.000Z', '{}', '2026-11-28T18:00:00.000Z')",
              (SHARED, INC))
    old.close()
    monkeypatch.undo()
    store = open_store(db_url)
    try:
        assert store.schema_version() == (len(POSTGRES_MIGRATIONS) if "://" in db_url  # type: ignore[attr-defined]
                                          else len(SQLITE_MIGRATIONS))
        assert [(e["device"], e["seq"]) for e in store.entries()] == [("door-a", 1), ("door-a", 2)]
        _door_b_is_stored(store)
        assert len(store.entries()) == 3 and store.entries(newest_first=True)[0]["device"] == "door-b"
    finally:
        store.close()
