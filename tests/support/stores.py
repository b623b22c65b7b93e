"""The collector store fixture every store-backed test shares (registered by ``tests/conftest.py``).

``store`` is a fresh, empty collector database of each kind in turn (``db_url``: SQLite, then a
database on the session's real PostgreSQL cluster), closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from entryscan.collector.store import StoreBase, open_store


@pytest.fixture
def store(db_url: str) -> Iterator[StoreBase]:
    s = open_store(db_url)
    yield s
    s.close()
