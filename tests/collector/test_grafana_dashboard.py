"""The Grafana dashboard in the repository (docs/grafana/entryscan-office.json) runs on the documented views.

Each of its SQL queries (panels and the site variable) is run, with Grafana's macros expanded as the
PostgreSQL data source expands them, against a real PostgreSQL cluster, by a role that may only SELECT the
documented views (the README's grant), over a store filled through ingest and the rules loop's publisher.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from entryscan.collector.office_tables import Publisher, publish
from entryscan.collector.rules import RuleSettings
from entryscan.collector.site import SiteInfo, load_site
from entryscan.collector.store import StoreBase, open_store
from tests.paths import REPO
from tests.support.events import entry

DASHBOARD = REPO / "docs" / "grafana" / "entryscan-office.json"
VIEWS = ("entries", "devices", "venues", "venue_doors", "violations")
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # Wednesday 19:00 in Ho Chi Minh City
MANIFEST = """
[site]
format = 1
site = "hq"
name = "Quận 1"
timezone = "Asia/Ho_Chi_Minh"

[[venues]]
id = "canteen"
name = "Căng tin"
address = "1 Lê Lợi"
commune = "Phường Bến Nghé"
opening_hours = "T2-T6 07:30-17:00"

[[venues]]
id = "library"
name = "Thư viện"
commune = "Phường Bến Nghé"
opening_hours = "T2-T6 07:30-17:00"

[[venues]]
id = "market"
name = "Chợ"
commune = "Phường Bến Thành"
opening_hours = "T2-T6 07:30-17:00"

[[devices]]
id = "door-1"
door = "main"
venue = "canteen"

[[devices]]
id = "door-2"
door = "main"
venue = "library"
"""


@pytest.fixture
def sites(tmp_path: Path) -> dict[str, SiteInfo]:
    (tmp_path / "site.toml").write_text(MANIFEST, encoding="utf-8")
    return {"hq": load_site(tmp_path)}


def _fill(store: StoreBase, sites: dict[str, SiteInfo]) -> None:
    store.ingest("entryscan/hq/door-1/status", b"online")
    store.ingest("entryscan/hq/door-2/status", b"offline")
    store._exec("UPDATE device_status SET offline_since = ? WHERE device = 'door-2'", ("2026-11-25T01:00:00.000Z",))
    for seq, utc in enumerate(("01:10", "01:20", "02:05", "03:30"), 1):  # 08:10 .. 10:30 local
        store.ingest("entryscan/hq/door-1/entry", entry(seq, device="door-1", ts=f"2026-11-25T{utc}:00.000Z"))
    store.ingest("entryscan/hq/door-2/entry", entry(1, device="door-2", ts="2026-11-25T00:40:00.000Z"))
    publish(store, sites, RuleSettings(), dt.UTC, now=NOW)


def test_the_publisher_writes_venues_doors_and_findings(store: StoreBase, sites: dict[str, SiteInfo]) -> None:
    _fill(store, sites)
    venues = {r[0]: r[1:] for r in store._rows("SELECT venue, name, commune FROM venues WHERE site = 'hq'")}
    assert venues == {"canteen": ("Căng tin", "Phường Bến Nghé"), "library": ("Thư viện", "Phường Bến Nghé"),
                      "market": ("Chợ", "Phường Bến Thành")}
    assert sorted(store._rows("SELECT device, venue FROM venue_doors")) == [("door-1", "canteen"),
                                                                            ("door-2", "library")]
    found = {r[0]: (r[1], r[2]) for r in store._rows("SELECT venue, status, reasons FROM violations")}
    assert found["market"] == ("no_doors", "") and found["library"][0] == "violation"
    assert "doors_offline" in found["library"][1].split(";")
    publish(store, sites, RuleSettings(), dt.UTC, now=NOW)  # replaced, not added to
    assert len(store._rows("SELECT * FROM violations")) == 3 and len(store._rows("SELECT * FROM venues")) == 3


def test_the_publisher_runs_at_most_every_interval_and_never_raises(store: StoreBase,
                                                                   sites: dict[str, SiteInfo]) -> None:
    publisher = Publisher(store, sites, RuleSettings(), dt.UTC, every_s=3600)
    publisher()
    store._exec("DELETE FROM venue_registry")
    publisher()  # within the interval: nothing written
    assert store._rows("SELECT COUNT(*) FROM venues")[0][0] == 0
    store.close()
    Publisher(store, sites, RuleSettings(), dt.UTC)()  # a closed store: logged, not raised


def _queries(doc: dict[str, Any]) -> list[tuple[str, str]]:
    out = [(f"variable {v['name']}", v["query"]) for v in doc["templating"]["list"]]
    for panel in doc["panels"]:
        assert panel["datasource"]["type"] == "grafana-postgresql-datasource"
        out += [(panel["title"], t["rawSql"]) for t in panel["targets"]]
    return out


def _expand(sql: str) -> str:
    """Grafana's PostgreSQL macros as the data source expands them (a time range, a multi-value variable)."""
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)",
                 r"\1 BETWEEN '2026-11-24T00:00:00Z' AND '2026-11-26T00:00:00Z'", sql)
    sql = sql.replace("$site", "'hq'")
    assert "$" not in sql, sql
    return sql


def test_every_query_of_the_dashboard_runs_on_the_views(postgres_cluster: Any, sites: dict[str, SiteInfo]) -> None:
    import psycopg

    url = postgres_cluster.new_database()
    store = open_store(url)
    try:
        _fill(store, sites)
    finally:
        store.close()
    password = secrets.token_hex(12)
    with psycopg.connect(url, autocommit=True) as owner:  # the documented read-only grant, and nothing else
        owner.execute(f"CREATE ROLE grafana_{password[:6]} LOGIN PASSWORD '{password}'".encode())
        owner.execute(f"GRANT SELECT ON {', '.join(VIEWS)} TO grafana_{password[:6]}".encode())
    reader = url.replace(url.split("//", 1)[1].split("@", 1)[0], f"grafana_{password[:6]}:{password}")
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    results: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(reader, autocommit=True) as conn:
        for title, sql in _queries(doc):
            results[title] = conn.execute(_expand(sql).encode()).fetchall()
    assert results["variable site"] == [("hq",)]
    hours = {(t.astimezone(dt.UTC).hour, venue): n for t, venue, n in results["Entries per venue and hour"]}
    assert hours == {(0, "Thư viện"): 1, (1, "Căng tin"): 2, (2, "Căng tin"): 1, (3, "Căng tin"): 1}
    assert results["Doors offline"] == [(1,)]
    assert [(r[1], r[3]) for r in results["Doors offline, longest first"]] == [("door-2", "Thư viện")]
    per_commune = {r[0]: r[1:] for r in results["Premises showing signs of violation, per commune"]}
    assert per_commune == {"Phường Bến Nghé": (1, 0, 2), "Phường Bến Thành": (0, 1, 1)}
    (violating,) = results["Violating premises and their reasons"]
    assert violating[:2] == ("Phường Bến Nghé", "Thư viện") and "doors_offline" in violating[3]
