"""The doors' own open problems, read from the alerts they sent (``<prefix>/<site>/<device>/alert``).

A fault is open until the door sends its clearing alert (``camera_fault`` -> ``camera_recovered``,
``tamper`` -> ``tamper_cleared``, ``storage_fault`` -> ``storage_recovered``), or until a state
document received after the fault says the condition is gone (a door that restarts with a working
camera never sends ``camera_recovered``: its new process never saw the fault). Order among one door's
alerts is the door's own ``ts``. ``mqtt_tls_error`` has no clearing alert: the door can only send it
once a connection works again, so it tells of a failure that has probably ended; it is listed as open
for ``TLS_ERROR_OPEN_S`` after it arrived, so an operator sees it, then it closes by itself.
``list_stale`` is open while the door still holds the version it reported stale, or holds no version of
that list at all (an expected list never received); older firmware does not name the version: until a
version of that list first seen after the alert.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from entryscan.collector.store import StoreBase
from entryscan.collector.store.validate import iso

CLEARED_BY = {"camera_fault": "camera_recovered", "tamper": "tamper_cleared", "storage_fault": "storage_recovered"}
STATE_OK = {"camera_fault": ("camera", "ok"), "tamper": ("tamper", False), "storage_fault": ("storage", "ok")}
TLS_ERROR_OPEN_S = 24 * 3600.0
DETAIL_KEYS = ("reason", "error", "detail", "name", "host", "lockout")


def _detail(payload: str) -> str:
    try:
        doc = json.loads(payload)
    except ValueError:
        return ""
    if not isinstance(doc, dict):
        return ""
    return ", ".join(f"{k}={doc[k]}" for k in DETAIL_KEYS if doc.get(k) not in (None, ""))[:300]


def door_problems(store: StoreBase, now: dt.datetime | None = None, open_only: bool = False, *,
                  site: str | None = None, device: str | None = None,
                  devices: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Per door and kind, its latest fault: open, or closed with when (rows shaped like rule alerts). Of one
    door when ``site`` and ``device`` are given; ``devices`` (``store.devices()`` rows already read for the same
    page) spares reading the fleet again."""
    now = now or dt.datetime.now(dt.UTC)
    latest = {(a["site"], a["device"], a["kind"]): a for a in store.latest_alerts(
        (*CLEARED_BY, *CLEARED_BY.values(), "mqtt_tls_error"), site, device)}
    rows_of = devices if devices is not None else store.devices(site, device) if latest else []
    states = {(d["site"], d["device"]): d for d in rows_of}
    rows = []
    for (where, door, kind), fault in sorted(latest.items()):
        if kind not in CLEARED_BY and kind != "mqtt_tls_error":
            continue
        cleared_at = _cleared_at(kind, fault, latest.get((where, door, CLEARED_BY.get(kind, ""))),
                                 states.get((where, door)), now)
        if open_only and cleared_at is not None:
            continue
        rows.append({"id": fault["alert_id"], "source": "door", "rule": kind, "site": where, "target": door,
                     "detail": _detail(fault["payload"]), "raised_at": fault["ts"], "cleared_at": cleared_at,
                     "open": cleared_at is None})
    return sorted(rows, key=lambda r: r["raised_at"] or "", reverse=True)


def _cleared_at(kind: str, fault: dict[str, Any], clear: dict[str, Any] | None, device: dict[str, Any] | None,
                now: dt.datetime) -> str | None:
    if kind == "mqtt_tls_error":
        until = dt.datetime.fromisoformat(fault["received_at"]) + dt.timedelta(seconds=TLS_ERROR_OPEN_S)
        return iso(until) if until <= now else None
    if clear is not None and (clear["ts"] or "") >= (fault["ts"] or ""):
        return str(clear["ts"])
    if device is not None and device["state_at"] and device["state_at"] > fault["received_at"]:
        field, ok = STATE_OK[kind]
        if device["state"].get(field) == ok:
            return str(device["state_at"])
    return None


def stale_lists_reported(store: StoreBase) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per door, the lists its own ``list_stale`` alerts say are stale and that it still holds unchanged
    (``{"code": "door_reported", "list": name, "at": the alert's ts}``, worded by collector.rules.stale_text)."""
    held = {(v["site"], v["device"], v["name"]): v for v in store.held_versions() if v["kind"] == "list"}
    reported: dict[tuple[str, str, str], dict[str, Any]] = {}
    for a in store.alerts_of_kind("list_stale"):  # oldest first: the latest per list wins
        try:
            doc = json.loads(a["payload"])
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("name"), str):
            reported[(a["site"], a["device"], doc["name"][:64])] = {**a, "version": doc.get("version")}
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (site, device, name), a in sorted(reported.items()):
        if _still_stale(a, held.get((site, device, name))):
            out.setdefault((site, device), []).append({"code": "door_reported", "list": name, "at": a["ts"]})
    return out


def _still_stale(alert: dict[str, Any], held: dict[str, Any] | None) -> bool:
    if held is None:  # an expected list never received, or no state seen yet: the door's word stands
        return True
    version = alert["version"]
    if type(version) is int:
        return bool(held["version"] == str(version))
    # Older firmware (no version in the alert): stale until a version first seen after the alert.
    return bool(held["since"] <= alert["received_at"])
