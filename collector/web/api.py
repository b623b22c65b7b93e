"""The JSON API's documents (``/api/...``), built from the store."""

from __future__ import annotations

import datetime as dt
from typing import Any

from entryscan.collector.citizens import STATES
from entryscan.collector.doorproblems import door_problems
from entryscan.collector.health import check
from entryscan.collector.store import StoreBase


def health(store: StoreBase) -> dict[str, Any]:
    """The database's part of ``/healthz`` (the whole check: ``entryscan.collector.health.check``)."""
    return check(store)


def _age_s(since: str | None, now: dt.datetime) -> int | None:
    return None if not since else max(0, int((now - dt.datetime.fromisoformat(since)).total_seconds()))


def versions(store: StoreBase, now: dt.datetime, site: str | None = None,
             device: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Per door: its policy version and lists, each with since when it is held and its age in seconds
    (a list's age counts from its issue time when the door reports it, else from ``since``)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for v in store.held_versions(site, device):
        doc = out.setdefault((v["site"], v["device"]), no_versions())
        if v["kind"] == "policy":
            doc.update(policy_version=v["version"], policy_since=v["since"], policy_age_s=_age_s(v["since"], now))
        else:
            doc["lists"].append({"name": v["name"], "version": int(v["version"]), "since": v["since"],
                                 "issued_at": v["issued_at"], "age_s": _age_s(v["issued_at"] or v["since"], now)})
    return out


def no_versions() -> dict[str, Any]:
    return {"policy_version": None, "policy_since": None, "policy_age_s": None, "lists": []}


def fleet(store: StoreBase, site: str | None = None, device: str | None = None, *,
          rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every door (``/api/fleet``), or one door's row (its page) read from that door's rows only; ``rows``:
    ``store.devices()`` already read for the same page."""
    now = dt.datetime.now(dt.UTC)
    rows = store.devices(site, device) if rows is None else rows
    open_alerts = store.open_alert_counts()
    problems: dict[tuple[str, str], int] = {}
    for p in door_problems(store, now, open_only=True, site=site, device=device, devices=rows):
        problems[(p["site"], p["target"])] = problems.get((p["site"], p["target"]), 0) + 1
    held = versions(store, now, site, device)
    devices = []
    for d in rows:
        status = "stopped" if d["status"] != "online" and d["state"].get("stopped") is True else d["status"]
        devices.append({"site": d["site"], "device": d["device"], "door": d["door"] or d["state"].get("door"),
                        "status": status, "offline_since": d["offline_since"], "entries": d["entries"],
                        "accepts": d["accepts"], "denies": d["denies"], "missing": max(d["missing"], 0),
                        "last_entry_ts": d["last_entry_ts"],
                        "open_alerts": open_alerts.get((d["site"], d["device"]), 0),
                        "door_problems": problems.get((d["site"], d["device"]), 0),
                        **held.get((d["site"], d["device"]), no_versions())})
    return {"devices": devices}


def alerts(store: StoreBase, open_only: bool, devices: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The newest 1,000 alerts the collector's rules raised (``source: "rule"``), then the doors' own problems
    (``"door"``): the dashboard's list; ``/api/alerts`` pages it (``alerts_page``)."""
    rows = [{**a, "source": "rule"} for a in store.alerts(open_only=open_only)]
    return rows + door_problems(store, open_only=open_only, devices=devices)


def _limit(text: str | None, default: int = 50) -> int | None:
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        return None
    return int(text)


def _before(text: str | None) -> int | None | bool:
    """A paging cursor (an id); False when malformed."""
    if text is None or text == "":
        return None
    return int(text) if text.isdigit() and len(text) <= 18 else False


def _page(rows: list[dict[str, Any]], limit: int) -> str | None:
    """The cursor of the next page (the last id of a full page), or None at the end."""
    return str(rows[-1]["id"]) if len(rows) == limit and rows else None


def _id(before: int | None | bool) -> int | None:
    return before if isinstance(before, int) and not isinstance(before, bool) else None


def alerts_page(store: StoreBase, query: dict[str, str]) -> dict[str, Any]:
    """Keyset-paged like the reports (there was no way past the newest 1,000): ``limit`` rule alerts a page (1,000
    by default), newest first; the doors' own problems (at most one per door and kind) follow on the last page, so
    the pages put together are the whole list. ``next_before`` (when set) is ``before`` for the next page."""
    limit, before = _limit(query.get("limit"), 1000), _before(query.get("before"))
    if query.get("open", "0") not in ("0", "1"):  # schemathesis: open=AAA was a 200 (as if open=0)
        return {"error": "open must be 0 or 1"}
    if limit is None or before is False:
        return {"error": "limit must be 1..1000 and before a next_before this API gave"}
    open_only = query.get("open") == "1"
    rows = [{**a, "source": "rule"} for a in store.alerts(open_only=open_only, limit=limit, before=_id(before))]
    cursor = _page(rows, limit)
    if cursor is None:
        rows += door_problems(store, open_only=open_only)
    return {"alerts": rows, "next_before": cursor}


def get(store: StoreBase, path: str, query: dict[str, str]) -> dict[str, Any] | None:
    """The document for ``path``; None when there is no such endpoint, {"error"} for a bad query."""
    if path == "/api/fleet":
        return fleet(store)
    if path == "/api/entries":
        limit = _limit(query.get("limit"))
        if limit is None:
            return {"error": "limit must be 1..1000"}
        try:  # keyset paging: ``next_before`` (when set) is ``before`` for the next page
            rows, cursor = store.entries_page(query.get("site") or None, query.get("device") or None, limit=limit,
                                              before=query.get("before") or None)
        except ValueError:
            return {"error": "before must be a next_before this API gave"}
        return {"entries": rows, "next_before": cursor}
    if path == "/api/alerts":
        return alerts_page(store, query)
    if path == "/api/quarantine":
        limit, before = _limit(query.get("limit")), _before(query.get("before"))
        if limit is None or before is False:
            return {"error": "limit must be 1..1000 and before a next_before this API gave"}
        count, recent = store.quarantine(limit, before=_id(before))
        return {"count": count, "recent": recent, "next_before": _page(recent, limit)}
    if path == "/api/reports":
        return reports(store, query)
    return None


def reports(store: StoreBase, query: dict[str, str]) -> dict[str, Any]:
    """Newest first, 1,000 a page by default; ``next_before`` (when set) is ``before`` for the next page."""
    limit, before = _limit(query.get("limit"), 1000), _before(query.get("before"))
    status = query.get("status") or None
    long = len(query.get("commune", "")) > 200 or max(len(query.get(k, "")) for k in ("site", "venue")) > 64
    if limit is None or before is False or status not in (None, *STATES) or query.get("open", "0") not in ("0", "1") \
            or long:
        return {"error": "limit must be 1..1000, before an id, status a report state, open 0 or 1, commune at most "
                         "200 characters and site and venue 64"}
    rows = store.reports(open_only=query.get("open") == "1", limit=limit,
                         before=_id(before),
                         status=status, commune=query.get("commune") or None, site=query.get("site") or None,
                         venue=query.get("venue") or None)
    return {"reports": rows, "next_before": _page(rows, limit)}
