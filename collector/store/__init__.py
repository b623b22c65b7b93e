"""The collector's stores behind one interface: SQLite (a path) or PostgreSQL (a ``postgresql://`` URL)."""

from __future__ import annotations

from pathlib import Path

from entryscan.collector.store.base import Batch, Ingested
from entryscan.collector.store.base import Store as StoreBase
from entryscan.collector.store.sqlite import SqliteStore
from entryscan.collector.store.validate import MAX_PAYLOAD

# ``Store(path)`` is the embedded store, as before the interface existed.
Store = SqliteStore

__all__ = ["MAX_PAYLOAD", "Batch", "Ingested", "SqliteStore", "Store", "StoreBase", "is_postgres_url", "open_store"]


def is_postgres_url(db: str | Path) -> bool:
    return str(db).startswith(("postgresql://", "postgres://"))


def open_store(db: str | Path) -> StoreBase:
    if is_postgres_url(db):
        from entryscan.collector.store.postgres import PostgresStore

        return PostgresStore(str(db))
    return SqliteStore(Path(db))
