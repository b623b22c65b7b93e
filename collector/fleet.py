"""The fleet view: one row per door from the collector's store, with what an operator must act on.

``seq`` is gap-free per device and journal incarnation by contract, so any number missing between
a stream's lowest and highest received seq is a decision that has not arrived (still in that
device's journal, or lost): the compliance check the district office needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from entryscan.collector.store import StoreBase


@dataclass(frozen=True)
class DoorRow:
    site: str
    device: str
    door: str
    status: str
    stopped: bool  # a clean stop (the state document says so), not a crash
    offline_since: str
    entries: int
    accepts: int
    denies: int
    missing: int
    last_entry: str
    unsynced: int
    alerts: int
    last_alert: str


def fleet(store: StoreBase) -> list[DoorRow]:
    device_alerts: dict[tuple[str, str], list[str]] = {}
    for a in store.device_alerts():
        device_alerts.setdefault((str(a.get("site")), str(a.get("device"))), []).append(str(a.get("kind")))
    rows = []
    for d in store.devices():
        kinds = device_alerts.get((d["site"], d["device"]), [])
        rows.append(DoorRow(
            d["site"], d["device"], d["door"] or str(d["state"].get("door") or ""), d["status"],
            d["status"] != "online" and d["state"].get("stopped") is True, d["offline_since"] or "",
            d["entries"], d["accepts"], d["denies"], max(d["missing"], 0), d["last_entry_ts"] or "",
            d["unsynced"], len(kinds), kinds[-1] if kinds else ""))
    return rows


def render(rows: list[DoorRow]) -> str:
    head = f"{'door':<24} {'status':<8} {'entries':>7} {'accept':>6} {'deny':>5} {'missing':>7} " \
           f"{'unsynced':>8} {'alerts':>6}  last entry / last alert"
    lines = [head]
    for r in rows:
        status = "stopped" if r.stopped else r.status
        lines.append(f"{r.site + '/' + r.device:<24} {status:<8} {r.entries:>7} {r.accepts:>6} {r.denies:>5} "
                     f"{r.missing:>7} {r.unsynced:>8} {r.alerts:>6}  {r.last_entry or '-'} / {r.last_alert or '-'}")
    return "\n".join(lines)
