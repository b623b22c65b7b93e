"""The JSON API's documents (``/api/...``), built from the store."""

from __future__ import annotations

from typing import Any

from entryscan.collector.store import StoreBase


def health(store: StoreBase) -> dict[str, Any]:
    try:
        store.receipts()
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        return {"ok": False, "db": type(exc).__name__}
    return {"ok": True, "db": "ok"}


def fleet(store: StoreBase) -> dict[str, Any]:
    open_alerts: dict[tuple[str, str], int] = {}
    for a in store.alerts(open_only=True):
        key = (a["site"], a["target"].split("/", 1)[0])
        open_alerts[key] = open_alerts.get(key, 0) + 1
    devices = []
    for d in store.devices():
        status = "stopped" if d["status"] != "online" and d["state"].get("stopped") is True else d["status"]
        devices.append({"site": d["site"], "device": d["device"], "door": d["door"] or d["state"].get("door"),
                        "status": status, "offline_since": d["offline_since"], "entries": d["entries"],
                        "accepts": d["accepts"], "denies": d["denies"], "missing": max(d["missing"], 0),
                        "last_entry_ts": d["last_entry_ts"],
                        "open_alerts": open_alerts.get((d["site"], d["device"]), 0)})
    return {"devices": devices}


def _limit(text: str | None, default: int = 50) -> int | None:
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        return None
    return int(text)


def get(store: StoreBase, path: str, query: dict[str, str]) -> dict[str, Any] | None:
    """The document for ``path``; None when there is no such endpoint, {"error"} for a bad query."""
    if path == "/api/fleet":
        return fleet(store)
    if path == "/api/entries":
        limit = _limit(query.get("limit"))
        if limit is None:
            return {"error": "limit must be 1..1000"}
        return {"entries": store.entries(query.get("site") or None, query.get("device") or None, limit=limit,
                                         newest_first=True)}
    if path == "/api/alerts":
        return {"alerts": store.alerts(open_only=query.get("open") == "1")}
    if path == "/api/quarantine":
        count, recent = store.quarantine(50)
        return {"count": count, "recent": recent}
    if path == "/api/reports":
        return {"reports": store.reports(open_only=query.get("open") == "1")}
    return None
