"""Read side of the store (fleet view, API, rules, reports) and the collector's own records
(fleet alerts raised by rules; citizens' reports are in ``reports``). Dialect-neutral SQL with ``?`` parameters."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from entryscan.collector.store.dayspans import DaySpanQueries
from entryscan.collector.store.registry import RegistryQueries
from entryscan.collector.store.reports import ReportQueries
from entryscan.collector.store.validate import now_iso, printable

_ENTRY_COLUMNS = ("event_id", "site", "device", "incarnation", "door", "seq", "ts", "decision", "reason",
                  "credential_type", "subject", "policy_version", "clock_synced", "received_at")


class Queries(ReportQueries, RegistryQueries, DaySpanQueries, ABC):
    # Raised after every write this process commits (both stores call ``_changed``): a page's short-lived cache
    # keyed by it is dropped by the next ingested batch, alert or report instead of waiting for its time-out.
    generation = 0

    def _changed(self) -> None:
        self.generation += 1

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query; timestamps come back as ISO 8601 strings, booleans as bool."""

    @abstractmethod
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read for the pages, the API and the rules. The stores run it on a connection of its own, so a
        dashboard read neither waits for the ingest's transaction nor holds it up."""
        return self._rows(sql, params)

    def _dicts(self, sql: str, params: Sequence[Any], names: Sequence[str]) -> list[dict[str, Any]]:
        return [dict(zip(names, row, strict=True)) for row in self._read(sql, params)]

    def receipts(self) -> dict[str, int]:
        return {k: int(c) for k, c in self._read("SELECT kind, count FROM receipts")}

    def entries(self, site: str | None = None, device: str | None = None, *, limit: int | None = None,
                newest_first: bool = False) -> list[dict[str, Any]]:
        """Entries per door in journal order, or newest first (``entries_page``, which pages them)."""
        if newest_first:
            return self.entries_page(site, device, limit=limit)[0]
        where, params = _door_filter(site, device)
        sql = f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM entries{where} ORDER BY site, device, incarnation, seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return _entry_rows(self._dicts(sql, params, _ENTRY_COLUMNS))

    def entries_page(self, site: str | None = None, device: str | None = None, *, limit: int | None = 50,
                     before: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first (received, then seq), ``limit`` at most, after the cursor ``before``; and the cursor of the
        next page (None at the end). Keyset paging over an index: a page costs the same on the millionth row as
        on the first, where sorting the whole table did not. A malformed cursor raises ``ValueError``."""
        where, params = _door_filter(site, device)
        if before is not None:
            at, seq, row_id = parse_entry_cursor(before)
            where += (" AND" if where else " WHERE") + " (received_at, seq, id) < (?, ?, ?)"
            params += [at, seq, row_id]
        sql = (f"SELECT {', '.join(_ENTRY_COLUMNS)}, id FROM entry_events{where}"
               " ORDER BY received_at DESC, seq DESC, id DESC")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._dicts(sql, params, (*_ENTRY_COLUMNS, "id"))
        cursor = None
        if limit is not None and rows and len(rows) == limit:
            cursor = f"{rows[-1]['received_at']}~{rows[-1]['seq']}~{rows[-1]['id']}"
        for r in rows:
            del r["id"]
        return _entry_rows(rows), cursor

    def entries_between(self, site: str, start: str, end: str) -> list[dict[str, Any]]:
        """Entries of a site with ``start <= ts < end`` (ISO 8601 UTC), oldest first."""
        return self._dicts(f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM entries WHERE site = ? AND ts >= ?"
                           " AND ts < ? ORDER BY ts, device, seq", (site, start, end), _ENTRY_COLUMNS)

    def entry_times(self, site: str, device: str | None, since: str, until: str | None = None) -> list[str]:
        """Entry timestamps of a site (or one door) with ``since <= ts`` (and ``ts < until`` when given)."""
        where, params = _door_filter(site, device)  # no generic "? IS NULL OR": the door's index is used
        where += " AND ts >= ?"
        params.append(since)
        if until is not None:
            where += " AND ts < ?"
            params.append(until)
        return [t for (t,) in self._read(f"SELECT ts FROM entry_events{where} ORDER BY ts", params)]

    def entry_stamps(self, site: str, since: str, until: str) -> dict[str, list[str]]:
        """Per door of a site, its entry timestamps with ``since <= ts < until``, oldest first: one range scan
        of the (site, ts) index for a whole site's day, where ``entry_times`` per door scanned that range once
        per door (the violations page took a minute for 1,000 doors)."""
        out: dict[str, list[str]] = {}
        for device, ts in self._rows("SELECT device, ts FROM entry_events WHERE site = ? AND ts >= ? AND ts < ?"
                                     " ORDER BY ts", (site, since, until)):
            out.setdefault(device, []).append(ts)
        return out

    def decisions_by_reason(self, site: str, device: str) -> list[dict[str, Any]]:
        """Accepts and denies of one door counted by reason code, most frequent first."""
        return self._dicts("SELECT decision, reason, COUNT(*) AS n FROM entry_events WHERE site = ? AND device = ?"
                           " GROUP BY decision, reason ORDER BY n DESC, decision, reason LIMIT 100",
                           (site, device), ("decision", "reason", "count"))

    def device_alerts(self) -> list[dict[str, Any]]:
        return [json.loads(p) for (p,) in self._read("SELECT payload FROM alert_events ORDER BY received_at, ts")]

    def device_alerts_since(self, site: str, device: str, kind_prefix: str, since: str) -> int:
        return int(self._read("SELECT COUNT(*) FROM alert_events WHERE site = ? AND device = ? AND kind LIKE ?"
                              " AND ts >= ?", (site, device, kind_prefix + "%", since))[0][0])

    _ALERT_COLUMNS = ("site", "device", "kind", "alert_id", "ts", "received_at", "payload")

    def latest_alerts(self, kinds: Sequence[str], site: str | None = None,
                      device: str | None = None) -> list[dict[str, Any]]:
        """Per door and kind (of ``kinds``), the alert with the latest door timestamp (of one door when given)."""
        marks = ",".join("?" * len(kinds))
        cols = ", ".join(f"a.{c}" for c in self._ALERT_COLUMNS)
        door, params = _door_filter(site, device)
        door = door.replace(" WHERE ", " AND ", 1)
        return self._dicts(f"SELECT {cols} FROM alert_events a JOIN (SELECT site, device, kind, MAX(ts) AS ts"
                           f" FROM alert_events WHERE kind IN ({marks}){door} GROUP BY site, device, kind) m"
                           " ON a.site = m.site AND a.device = m.device AND a.kind = m.kind AND a.ts = m.ts"
                           " ORDER BY a.site, a.device, a.kind, a.alert_id", [*kinds, *params], self._ALERT_COLUMNS)

    def alerts_of_kind(self, kind: str, limit: int = 10000) -> list[dict[str, Any]]:
        """The newest ``limit`` alerts of one kind, oldest first (door timestamp)."""
        rows = self._dicts(f"SELECT {', '.join(self._ALERT_COLUMNS)} FROM alert_events WHERE kind = ?"
                           " ORDER BY ts DESC, received_at DESC LIMIT ?", (kind, limit), self._ALERT_COLUMNS)
        return rows[::-1]

    def status(self) -> dict[str, str]:
        return {f"{s}/{d}": v for s, d, v in self._read("SELECT site, device, status FROM device_status")}

    def devices(self, site: str | None = None, device: str | None = None) -> list[dict[str, Any]]:
        """Every door, or one site's or one door's (the door page reads its own row, not the fleet's 1,000)."""
        names = ("site", "device", "door", "status", "offline_since", "status_at", "state", "state_at", "entries",
                 "accepts", "denies", "missing", "unsynced", "last_entry_ts", "policy_version", "policy_since",
                 "list_versions", "oldest_list_at")
        where, params = _door_filter(site, device)
        rows = self._dicts(f"SELECT {', '.join(names)} FROM devices{where} ORDER BY site, device", params, names)
        for r in rows:
            r["state"] = _json_or_empty(r["state"])
            r["list_versions"] = _json_or_empty(r["list_versions"])
            for k in ("entries", "accepts", "denies", "missing", "unsynced"):
                r[k] = int(r[k])
        return rows

    def held_versions(self, site: str | None = None, device: str | None = None) -> list[dict[str, Any]]:
        """The policy and list versions doors hold: version, since when, and a list's issue time."""
        names = ("site", "device", "kind", "name", "version", "since", "issued_at")
        return self._dicts(f"SELECT {', '.join(names)} FROM device_versions WHERE (CAST(? AS TEXT) IS NULL OR site = ?)"
                           " AND (CAST(? AS TEXT) IS NULL OR device = ?) ORDER BY site, device, kind DESC, name",
                           (site, site, device, device), names)

    def streams(self) -> list[dict[str, Any]]:
        names = ("site", "device", "incarnation", "through_seq", "min_seq", "max_seq", "stored", "gap_since")
        return self._dicts(f"SELECT {', '.join(names)} FROM streams ORDER BY site, device, incarnation", (), names)

    def fleet_counts(self) -> dict[str, Any]:
        """Small aggregates for ``/metrics``: doors per status, open alerts and reports, quarantined messages."""
        # the devices view, as the fleet page: a door known from its entries or alerts alone is "unknown"
        doors = {str(st): int(n) for st, n in self._read("SELECT status, COUNT(*) FROM devices GROUP BY status")}
        alerts = int(self._read("SELECT COUNT(*) FROM fleet_alerts WHERE cleared_at IS NULL")[0][0])
        reports = int(self._read("SELECT COUNT(*) FROM citizen_reports WHERE closed_at IS NULL")[0][0])
        return {"doors": doors, "open_alerts": alerts, "open_reports": reports,
                "quarantined": self.receipts().get("garbage", 0)}

    def quarantine(self, limit: int = 20, *, before: int | None = None) -> tuple[int, list[dict[str, Any]]]:
        """How many messages were quarantined, and the newest ``limit`` (ids below ``before`` only: paging)."""
        count = int(self._read("SELECT COUNT(*) FROM quarantine")[0][0])
        where, params = ("", []) if before is None else (" WHERE id < ?", [before])
        recent = [{"id": int(row_id), "received_at": at, "topic": topic, "reason": reason, "size": size}
                  for row_id, at, topic, reason, size in self._read(
                      f"SELECT id, received_at, topic, reason, size FROM quarantine{where} ORDER BY id DESC LIMIT ?",
                      (*params, max(0, min(limit, 1000))))]
        return count, recent

    # -- fleet alerts raised by the rules -----------------------------------------------------------

    def raise_alert(self, rule: str, site: str, target: str, detail: str) -> bool:
        """Open an alert unless one is open for (rule, site, target); True when newly raised."""
        # The detail may quote what a door sent: cleaned, so it can never fail the rules' transaction.
        return self._exec("INSERT INTO fleet_alerts(rule, site, target, detail, raised_at) VALUES (?,?,?,?,?)"
                          " ON CONFLICT (rule, site, target) WHERE cleared_at IS NULL DO NOTHING",
                          (rule, printable(site), printable(target), printable(detail[:500]), now_iso())) == 1

    def clear_alert(self, rule: str, site: str, target: str) -> bool:
        return self._exec("UPDATE fleet_alerts SET cleared_at = ? WHERE rule = ? AND site = ? AND target = ?"
                          " AND cleared_at IS NULL", (now_iso(), rule, site, target)) > 0

    def alerts(self, open_only: bool = False, *, limit: int = 1000, before: int | None = None) -> list[dict[str, Any]]:
        """Newest first, ``limit`` at most, ids below ``before`` only (paging: pass the last id seen)."""
        names = ("id", "rule", "site", "target", "detail", "raised_at", "cleared_at")
        where, params = _page_filter("cleared_at", open_only, limit, before)
        rows = self._dicts(f"SELECT {', '.join(names)} FROM fleet_alerts{where} ORDER BY id DESC LIMIT ?",
                           params, names)
        for r in rows:
            r["open"] = r["cleared_at"] is None
        return rows

    def every_alert(self, open_only: bool = False) -> list[dict[str, Any]]:
        """Every alert, newest first, read a page at a time: for the rules, which must see each open alert to
        clear it (``alerts`` stops at 1,000: the ones past it were never cleared)."""
        rows: list[dict[str, Any]] = []
        page = self.alerts(open_only, limit=1000)
        while page:
            rows += page
            page = self.alerts(open_only, limit=1000, before=page[-1]["id"]) if len(page) == 1000 else []
        return rows

    def open_alert_counts(self) -> dict[tuple[str, str], int]:
        """Open alerts per (site, door): a target is the door or ``door/what``. Counted in the database, so the
        fleet's counts hold past 1,000 open alerts (a list of the newest 1,000 left older doors at 0)."""
        counts: dict[tuple[str, str], int] = {}
        for site, target, n in self._read("SELECT site, target, COUNT(*) FROM fleet_alerts WHERE cleared_at IS NULL"
                                          " GROUP BY site, target"):
            key = (str(site), str(target).split("/", 1)[0])
            counts[key] = counts.get(key, 0) + int(n)
        return counts


def _door_filter(site: str | None, device: str | None) -> tuple[str, list[Any]]:
    """Only the conditions asked for: a generic ``(? IS NULL OR site = ?)`` plan cannot use the door's index."""
    clauses, params = [], []
    for column, value in (("site", site), ("device", device)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _entry_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in rows:
        r["clock_synced"] = None if r["clock_synced"] is None else bool(r["clock_synced"])
    return rows


def parse_entry_cursor(text: str) -> tuple[str, int, int]:
    """``entries_page``'s cursor: received_at~seq~id."""
    parts = text.split("~")
    if len(parts) != 3 or not all(parts) or len(text) > 80 or not (parts[1].isdigit() and parts[2].isdigit()):
        raise ValueError("not an entries cursor")
    if not all(c.isdigit() or c in "-:.TZ" for c in parts[0]):
        raise ValueError("not an entries cursor")
    return parts[0], int(parts[1]), int(parts[2])


def _json_or_empty(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _page_filter(closed: str, open_only: bool, limit: int, before: int | None) -> tuple[str, list[Any]]:
    clauses, params = ([f"{closed} IS NULL"] if open_only else []), []
    if before is not None:
        clauses.append("id < ?")
        params.append(before)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), [*params, max(1, min(limit, 1000))]
