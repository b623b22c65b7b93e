"""Shared fixtures: a controllable clock and real mosquitto brokers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import StepClock
from tests.support.mosquitto import Mosquitto, mosquitto_binary

# The shared collector store fixture (``store``) lives in tests/support, used by every store test.
# tests.support.ci: in CI (CI set) a skip for a missing tool (PostgreSQL, Chromium, mosquitto) is a failure.
pytest_plugins = ["tests.support.stores", "tests.support.ci"]

MosquittoFactory = Callable[..., Mosquitto]


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Start brokers with options (acl=..., persistence=...); all are stopped afterwards."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto binary not installed (apt-get install mosquitto); CI installs it")
    started: list[Mosquitto] = []

    def make(**kw: Any) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"broker{len(started)}", **kw)
        started.append(broker)
        return broker.start()

    yield make
    for broker in started:
        broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A plain anonymous broker on a free loopback port."""
    return mosquitto_factory()


@pytest.fixture(autouse=True)
def _reap_doors() -> Iterator[None]:
    """Whatever a test asserted, no daemon it started outlives it."""
    yield
    from tests.support.door import LIVE

    while LIVE:
        LIVE.pop().reap()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster for the session (skipped where the package is missing)."""
    from tests.support.postgres import PostgresCluster, pg_bindir

    if pg_bindir() is None:
        pytest.skip("PostgreSQL not installed (apt-get install postgresql); CI installs it")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg not installed (pip install -e '.[dev]')")
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty collector database: a SQLite path, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "collector.db")
    cluster = request.getfixturevalue("postgres_cluster")
    return str(cluster.new_database())
