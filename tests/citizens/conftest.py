"""A collector serving a provisioned site (one venue, one board from ``entryscan-provision poster``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from entryscan.collector.site import load_site
from entryscan.collector.store import StoreBase, open_store
from tests.support.citizens import provision
from tests.support.collector_web import WebUnderTest
from tests.support.mosquitto import free_port


@dataclass
class Office:
    web: WebUnderTest
    store: StoreBase
    board: str  # the board's signed URL, as the poster printed it

    @property
    def base(self) -> str:
        return self.web.base


def serve_office(tmp_path: Path, db: str) -> Iterator[Office]:
    port = free_port()
    site_dir, board = provision(tmp_path / "sites", f"http://127.0.0.1:{port}")
    store = open_store(db)
    web = WebUnderTest(tmp_path, store, {"hq": load_site(site_dir)}, http=f"127.0.0.1:{port}")
    yield Office(web, store, board)
    web.stop()
    store.close()


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    yield from serve_office(tmp_path, str(tmp_path / "c.db"))
