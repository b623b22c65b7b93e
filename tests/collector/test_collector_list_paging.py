"""Every list the API serves pages past its cap, and nothing reads only the first 1,000 alerts.

Before: ``/api/alerts`` answered the newest 1,000 rule alerts with no way to the older ones, the rules cleared only
open alerts among the newest 1,000 (the older ones stayed open for ever), the fleet counted a door's open alerts
from that same list (a door with an older open alert showed 0), ``/api/quarantine`` gave its 50 newest only, and
the dashboard listed the newest 1,000 open alerts under a heading counting only those, with no way to the others.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from entryscan.collector.rules import RuleSettings, evaluate
from entryscan.collector.store import StoreBase
from entryscan.collector.web import api
from tests.support.collector_web import WebUnderTest, logged_in_opener, request
from tests.support.events import TOPIC, alert, entry

FORGED = ("x", "-1", "1.5", "12345678901234567890", "1 OR 1=1")


def _raise(store: StoreBase, n: int, rule: str = "device_offline") -> None:
    for i in range(n):
        assert store.raise_alert(rule, "hq", f"door-{i}", f"detail {i}")


def _walk(store: StoreBase, path: str, key: str, limit: int, **query: str) -> list[dict[str, Any]]:
    doc = api.get(store, path, {"limit": str(limit), **query})
    assert doc is not None and "error" not in doc, doc
    rows = list(doc[key])
    while doc["next_before"] is not None:
        assert len(rows) < 10_000
        doc = api.get(store, path, {"limit": str(limit), "before": doc["next_before"], **query})
        assert doc is not None and "error" not in doc, doc
        rows += doc[key]
    return rows


def test_the_alerts_api_pages_past_the_first_thousand(store: StoreBase) -> None:
    _raise(store, 1005)
    first = api.get(store, "/api/alerts", {})
    assert first is not None and len(first["alerts"]) == 1000 and first["next_before"] is not None
    rest = api.get(store, "/api/alerts", {"before": first["next_before"]})
    assert rest is not None and len(rest["alerts"]) == 5 and rest["next_before"] is None
    targets = [a["target"] for a in first["alerts"] + rest["alerts"]]
    assert targets == [f"door-{i}" for i in reversed(range(1005))]  # each once, newest first


def test_alert_pages_of_any_size_walk_every_alert_once_with_the_doors_problems_once(store: StoreBase) -> None:
    _raise(store, 23)
    store.clear_alert("device_offline", "hq", "door-3")
    store.ingest(f"{TOPIC}/alert", alert("camera_fault"))
    everything = api.get(store, "/api/alerts", {})
    assert everything is not None and everything["next_before"] is None
    assert [a["source"] for a in everything["alerts"]].count("door") == 1
    for limit in (1, 5, 22, 23, 1000):
        assert _walk(store, "/api/alerts", "alerts", limit) == everything["alerts"], limit
    opened = _walk(store, "/api/alerts", "alerts", 4, open="1")
    assert len(opened) == 23 and "door-3" not in {a["target"] for a in opened}


def test_a_forged_alerts_or_quarantine_cursor_is_refused(store: StoreBase) -> None:
    for path in ("/api/alerts", "/api/quarantine"):
        for forged in FORGED:
            doc = api.get(store, path, {"before": forged})
            assert doc is not None and doc.get("error") == "limit must be 1..1000 and before a next_before this " \
                                                           "API gave", (path, forged)
        assert "error" in (api.get(store, path, {"limit": "1001"}) or {})


def test_the_rules_clear_open_alerts_past_the_first_thousand(store: StoreBase) -> None:
    _raise(store, 1005)  # doors the store never heard of: not offline any more, every alert's cause is gone
    evaluate(store, {}, RuleSettings())
    assert store.alerts(open_only=True) == []


def test_the_fleet_counts_an_open_alert_older_than_the_newest_thousand(store: StoreBase) -> None:
    store.ingest("entryscan/hq/door-0/entry", entry(1, device="door-0"))
    _raise(store, 1001)  # door-0's alert is the oldest of 1,001
    doc = api.fleet(store)
    assert [(d["device"], d["open_alerts"]) for d in doc["devices"]] == [("door-0", 1)]


def test_the_quarantine_api_pages(store: StoreBase) -> None:
    for i in range(57):
        store.ingest(f"entryscan/hq/door-{i}/entry", b"not json")
    first = api.get(store, "/api/quarantine", {})
    assert first is not None and first["count"] == 57 and len(first["recent"]) == 50 and first["next_before"]
    rows = _walk(store, "/api/quarantine", "recent", 10)
    assert [r["topic"] for r in rows] == [f"entryscan/hq/door-{i}/entry" for i in reversed(range(57))]
    assert rows[:50] == first["recent"]


def test_the_dashboard_counts_every_open_alert_and_links_to_the_older_ones(tmp_path: Path, store: StoreBase) -> None:
    _raise(store, 1003)
    web = WebUnderTest(tmp_path, store)
    try:
        opener = logged_in_opener(web.base)
        status, _, body = request(f"{web.base}/fleet", opener=opener)
        page = body.decode()
        assert status == 200 and "(1003)" in page and page.count("detail ") == 1000
        older = re.search(r'href="(/fleet\?alerts_before=\d+)" id="older-alerts"', page)
        assert older is not None and "detail 2<" not in page and "detail 3<" in page
        status, _, body = request(web.base + older.group(1), opener=opener)
        rest = body.decode()
        assert status == 200 and rest.count("detail ") == 3 and 'id="older-alerts"' not in rest
        assert all(f"detail {i}<" in rest for i in range(3))
    finally:
        web.stop()
