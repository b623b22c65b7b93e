"""The dashboard's newest-first reads: indexed, keyset-paged, and on a connection of their own.

Before: ``entries(newest_first=True)`` sorted the whole table (no index on the order) on the store's one
connection, under the one lock the ingest holds for a whole batch, once per open dashboard after every batch.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from entryscan.collector.store import StoreBase
from entryscan.collector.web import api
from tests.support.events import entry


def _fill(store: StoreBase, doors: int = 3, batches: int = 5, per_batch: int = 8) -> None:
    seq = {d: 0 for d in range(doors)}
    for _ in range(batches):
        batch = []
        for d in range(doors):
            for _ in range(per_batch):
                seq[d] += 1
                batch.append((f"entryscan/hq/door-{d}/entry", entry(seq[d], device=f"door-{d}")))
        store.ingest_batch(batch)


def _walk(store: StoreBase, limit: int, **door: Any) -> list[dict[str, Any]]:
    rows, cursor = store.entries_page(limit=limit, **door)
    while cursor is not None:
        assert len(rows) < 10_000
        page, cursor = store.entries_page(limit=limit, before=cursor, **door)
        rows += page
    return rows


def test_paging_walks_every_entry_once_newest_first(store: StoreBase) -> None:
    _fill(store)
    everything = store.entries(newest_first=True)
    assert len(everything) == 120
    key = [(e["received_at"], e["seq"]) for e in everything]
    assert key == sorted(key, reverse=True)
    for limit in (1, 7, 25, 120, 1000):
        assert _walk(store, limit) == everything
    door = [e for e in everything if e["device"] == "door-1"]
    assert _walk(store, 9, site="hq", device="door-1") == door and len(door) == 40
    assert store.entries(limit=25, newest_first=True) == everything[:25]


def test_the_api_pages_entries_and_refuses_a_forged_cursor(store: StoreBase) -> None:
    _fill(store, batches=2)
    first = api.get(store, "/api/entries", {"limit": "30"})
    assert first is not None and len(first["entries"]) == 30 and first["next_before"]
    second = api.get(store, "/api/entries", {"limit": "30", "before": first["next_before"]})
    assert second is not None and len(second["entries"]) == 18 and second["next_before"] is None
    assert first["entries"] + second["entries"] == store.entries(newest_first=True)
    for forged in ("x", "1~2", "2026-11-28~a~1", "'; DROP TABLE entry_events; --~1~1"):
        assert api.get(store, "/api/entries", {"before": forged}) == {
            "error": "before must be a next_before this API gave"}


def test_a_dashboard_read_does_not_wait_for_a_batch_being_written(store: StoreBase) -> None:
    """A batch holds the store's write transaction; the dashboard's reads answer meanwhile (the last commit)."""
    _fill(store, batches=1)
    writing, release = threading.Event(), threading.Event()

    def batch_in_progress() -> None:
        with store._transaction():  # what ingest_batch holds while it stores a batch
            store._exec("INSERT INTO receipts(kind, count) VALUES ('probe', 1)")
            writing.set()
            release.wait(30)

    writer = threading.Thread(target=batch_in_progress)
    writer.start()
    try:
        assert writing.wait(10)
        got: list[Any] = []
        reader = threading.Thread(target=lambda: got.append(
            (store.entries_page(limit=25), store.devices(), store.receipts())))
        reader.start()
        reader.join(5)
        assert not reader.is_alive(), "the dashboard read waited for the ingest's transaction"
        (page, _), devices, receipts = got[0]
        assert len(page) == 24 and len(devices) == 3 and "probe" not in receipts
    finally:
        release.set()
        writer.join(10)
    assert store.receipts()["probe"] == 1


def _plan(store: StoreBase, db_url: str, sql: str, params: list[Any]) -> str:
    if "://" not in db_url:
        return " ".join(str(r[-1]) for r in store._read("EXPLAIN QUERY PLAN " + sql, params))
    import psycopg

    from entryscan.collector.store.postgres import _pg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # a small test table: would the planner have an index to use?
        return " ".join(r[0] for r in conn.execute(("EXPLAIN " + _pg(sql)).encode(), params).fetchall())


@pytest.mark.parametrize("door", [{}, {"site": "hq", "device": "door-1"}], ids=["fleet", "door"])
def test_the_newest_first_read_walks_an_index_instead_of_sorting_the_table(
        store: StoreBase, db_url: str, monkeypatch: pytest.MonkeyPatch, door: dict[str, str]) -> None:
    _fill(store, batches=1)
    seen: list[tuple[str, list[Any]]] = []
    read = store._read
    monkeypatch.setattr(store, "_read", lambda sql, params=(): seen.append((sql, list(params))) or read(sql, params))
    cursor = store.entries_page(limit=5, **door)[1]
    assert cursor is not None
    store.entries_page(limit=5, before=cursor, **door)
    monkeypatch.undo()
    for sql, params in seen:
        plan = _plan(store, db_url, sql, params)
        assert "TEMP B-TREE" not in plan and "Sort " not in plan and "Sort\n" not in plan, plan
        assert "entry_events_newest" in plan or "entry_events_door_newest" in plan, plan
