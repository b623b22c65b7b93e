"""Citizens' reports in the store: their lifecycle, every state change with who and when, and the
counts of boards citizens checked. Dialect-neutral SQL with ``?`` parameters (both stores).

Lifecycle: ``received`` -> ``assigned`` (to a commune) -> ``answered`` (publicly) -> ``closed``; the office
may answer or close from any open state, and the citizen rates an answered report once (1..5). The
rules and the domain checks (categories, photos, rate limits) live in ``collector.citizens``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from entryscan.collector.store.validate import TextRefused, has_control, now_iso

RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O, U to misread
RECEIPT_LENGTH = 12  # 60 random bits
OPEN_STATES = ("received", "assigned", "answered")
BOARD_CHECK_DAYS = 90  # board check counts older than this are dropped
REPORT_COLUMNS = ("id", "site", "venue", "body", "contact", "created_at", "closed_at", "category", "status",
                  "commune", "answer", "answered_at", "rating", "rated_at", "photo_bytes", "place_lat",
                  "place_lon", "board_version")
# What the public receipt page may show: never the contact, the client address or the id.
PUBLIC_COLUMNS = ("site", "venue", "created_at", "category", "status", "commune", "answer", "answered_at",
                  "rating", "closed_at")


@dataclass(frozen=True)
class NewReport:
    site: str
    venue: str
    category: str
    body: str
    contact: str
    client: str
    board_version: int | None = None
    photo: bytes = b""
    photo_mime: str = ""
    place: tuple[float, float] | None = None  # only when the citizen chose to share it


def new_receipt() -> str:
    code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def normal_receipt(text: str) -> str | None:
    """A typed receipt code in its stored form (case, dashes, spaces and O/I/L forgiven), or None."""
    raw = text.strip().upper().replace("-", "").replace(" ", "")[:64]
    raw = raw.translate(str.maketrans("OIL", "011"))
    if len(raw) != RECEIPT_LENGTH or any(c not in RECEIPT_ALPHABET for c in raw):
        return None
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


class ReportQueries(ABC):
    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[None]: ...

    def _event(self, report_id: int, actor: str, action: str, detail: str = "") -> None:
        self._exec("INSERT INTO report_events(report_id, at, actor, action, detail) VALUES (?,?,?,?,?)",
                   (report_id, now_iso(), actor[:100], action, detail[:1000]))

    # -- the citizen ---------------------------------------------------------------------------------

    def add_report(self, site: str, venue: str, body: str, contact: str, client: str) -> int:
        """A report from the first form (free text only): category ``other``; returns its id."""
        return self.file_report(NewReport(site, venue, "other", body, contact, client))[0]

    def file_report(self, report: NewReport) -> tuple[int, str]:
        """Store a checked report (``collector.citizens.submit`` checks it); returns (id, receipt code)."""
        texts = (report.site, report.venue, report.contact, report.client, report.category)
        if any(has_control(v) for v in texts) or has_control(report.body, multiline=True):
            # whatever form or API sends it, no database error (PostgreSQL refuses NUL) reaches the caller
            raise TextRefused("the report holds control characters")
        receipt = new_receipt()
        lat, lon = report.place if report.place else (None, None)
        with self._transaction():
            report_id = int(self._rows(
                "INSERT INTO citizen_reports(site, venue, body, contact, client, created_at, category, receipt,"
                " photo_bytes, place_lat, place_lon, board_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (report.site, report.venue, report.body, report.contact, report.client, now_iso(), report.category,
                 receipt, len(report.photo), lat, lon, report.board_version))[0][0])
            if report.photo:
                self._exec("INSERT INTO report_photos(report_id, mime, data) VALUES (?,?,?)",
                           (report_id, report.photo_mime, report.photo))
            self._event(report_id, "citizen", "received", report.category)
        return report_id, receipt

    def report_by_receipt(self, receipt: str) -> dict[str, Any] | None:
        """The public view of a report (``PUBLIC_COLUMNS``), by its receipt code as typed."""
        code = normal_receipt(receipt)
        if code is None:
            return None
        rows = self._rows(f"SELECT {', '.join(PUBLIC_COLUMNS)} FROM citizen_reports WHERE receipt = ?", (code,))
        return dict(zip(PUBLIC_COLUMNS, rows[0], strict=True)) | {"receipt": code} if rows else None

    def rate_report(self, receipt: str, rating: int) -> bool:
        """The citizen's rating of the answer (1..5), once, and only once there is an answer."""
        code = normal_receipt(receipt)
        if code is None or type(rating) is not int or not 1 <= rating <= 5:
            return False
        with self._transaction():
            rows = self._rows("SELECT id FROM citizen_reports WHERE receipt = ? AND answer IS NOT NULL"
                              " AND rating IS NULL", (code,))
            if not rows:
                return False
            self._exec("UPDATE citizen_reports SET rating = ?, rated_at = ? WHERE id = ?",
                       (rating, now_iso(), rows[0][0]))
            self._event(int(rows[0][0]), "citizen", "rated", str(rating))
        return True

    # -- the office ------------------------------------------------------------------------------

    def _transition(self, report_id: int, actor: str, action: str, sets: str, params: Sequence[Any],
                    detail: str = "") -> bool:
        marks = ",".join("?" * len(OPEN_STATES))
        with self._transaction():
            changed = self._exec(f"UPDATE citizen_reports SET {sets} WHERE id = ? AND status IN ({marks})",
                                 (*params, report_id, *OPEN_STATES)) > 0
            if changed:
                self._event(report_id, actor, action, detail)
        return changed

    def assign_report(self, report_id: int, commune: str, actor: str) -> bool:
        return self._transition(report_id, actor, "assigned", "commune = ?, status = CASE WHEN status = 'received'"
                                " THEN 'assigned' ELSE status END", (commune[:200],), commune[:200])

    def answer_report(self, report_id: int, answer: str, actor: str) -> bool:
        """A public answer (shown on the receipt page); answering again replaces it, both are in the log."""
        return self._transition(report_id, actor, "answered", "answer = ?, answered_at = ?, status = 'answered'",
                                (answer[:2000], now_iso()), answer[:1000])

    def close_report(self, report_id: int, actor: str = "office") -> bool:
        return self._transition(report_id, actor, "closed", "closed_at = ?, status = 'closed'", (now_iso(),))

    def report_count(self, open_only: bool = False) -> int:
        where = " WHERE closed_at IS NULL" if open_only else ""
        return int(self._rows(f"SELECT COUNT(*) FROM citizen_reports{where}")[0][0])

    def reports(self, open_only: bool = False, site: str | None = None, *, limit: int = 1000,
                before: int | None = None, status: str | None = None, commune: str | None = None,
                venue: str | None = None) -> list[dict[str, Any]]:
        """Newest first, ``limit`` at most, ids below ``before`` only (paging: pass the last id seen);
        optionally one state, one commune (the one a report was sent to) and one venue (with ``site``),
        so a flood at one board never hides the reports of the others."""
        clauses: list[str] = ["(CAST(? AS TEXT) IS NULL OR site = ?)"]
        params: list[Any] = [site, site]
        for column, value in (("status", status), ("commune", commune), ("venue", venue)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if open_only:
            clauses.append("closed_at IS NULL")
        if before is not None:
            clauses.append("id < ?")
            params.append(before)
        rows = [dict(zip(REPORT_COLUMNS, r, strict=True)) for r in self._rows(
            f"SELECT {', '.join(REPORT_COLUMNS)} FROM citizen_reports WHERE {' AND '.join(clauses)}"
            " ORDER BY id DESC LIMIT ?", (*params, max(1, min(limit, 1000))))]
        for r in rows:
            r["open"] = r["closed_at"] is None
            r["photo_bytes"] = int(r["photo_bytes"])
        return rows

    def report_status_counts(self) -> dict[str, int]:
        """How many reports are in each state (the office's filter shows them)."""
        return {str(s): int(n) for s, n in self._rows("SELECT status, COUNT(*) FROM citizen_reports GROUP BY status")}

    def open_reports_by_venue(self, limit: int = 50) -> list[dict[str, Any]]:
        """Open reports per venue, most first: where a flood comes from, at a glance."""
        return [{"site": site, "venue": venue, "count": int(n)} for site, venue, n in self._rows(
            "SELECT site, venue, COUNT(*) FROM citizen_reports WHERE closed_at IS NULL GROUP BY site, venue"
            " ORDER BY COUNT(*) DESC, site, venue LIMIT ?", (max(1, min(limit, 1000)),))]

    def public_events(self, receipt: str) -> list[dict[str, Any]]:
        """A report's history for its receipt page: when and what, never who in the office."""
        code = normal_receipt(receipt)
        if code is None:
            return []
        return [{"at": at, "action": action} for at, action in self._rows(
            "SELECT e.at, e.action FROM report_events e JOIN citizen_reports r ON r.id = e.report_id"
            " WHERE r.receipt = ? ORDER BY e.id LIMIT 200", (code,))]

    def report(self, report_id: int) -> dict[str, Any] | None:
        rows = self._rows(f"SELECT {', '.join(REPORT_COLUMNS)} FROM citizen_reports WHERE id = ?", (report_id,))
        return dict(zip(REPORT_COLUMNS, rows[0], strict=True)) | {"open": rows[0][6] is None} if rows else None

    def report_events(self, report_id: int) -> list[dict[str, Any]]:
        names = ("at", "actor", "action", "detail")
        return [dict(zip(names, r, strict=True)) for r in self._rows(
            "SELECT at, actor, action, detail FROM report_events WHERE report_id = ? ORDER BY id LIMIT 1000",
            (report_id,))]

    def report_photo(self, report_id: int) -> tuple[str, bytes] | None:
        rows = self._rows("SELECT mime, data FROM report_photos WHERE report_id = ?", (report_id,))
        return (str(rows[0][0]), bytes(rows[0][1])) if rows else None

    # -- bounds ----------------------------------------------------------------------------------

    def reports_since(self, since: str, *, client: str | None = None, board: tuple[str, str] | None = None) -> int:
        """Reports filed since ``since`` from one client address or for one board (site, venue)."""
        params: tuple[str, ...]
        if client is not None:
            sql, params = "client = ?", (client,)
        elif board is not None:
            sql, params = "site = ? AND venue = ?", board
        else:
            sql, params = "1 = 1", ()
        return int(self._rows(f"SELECT COUNT(*) FROM citizen_reports WHERE {sql} AND created_at >= ?",
                              (*params, since))[0][0])

    def report_usage(self) -> tuple[int, int]:
        """(reports stored, photo bytes stored)."""
        count, photos = self._rows("SELECT COUNT(*), COALESCE(SUM(photo_bytes), 0) FROM citizen_reports")[0]
        return int(count), int(photos)

    def delete_closed_reports(self, closed_before: str, limit: int = 500) -> int:
        """Delete up to ``limit`` reports closed before ``closed_before`` (ISO 8601 UTC) with their photos and
        history, in one transaction; returns how many. Never an open one (received, assigned or answered), however
        old: only the office's close ends a report's life."""
        with self._transaction():
            ids = [int(r[0]) for r in self._rows(
                "SELECT id FROM citizen_reports WHERE status = 'closed' AND closed_at IS NOT NULL AND closed_at < ?"
                " ORDER BY id LIMIT ?", (closed_before, max(1, min(limit, 1000))))]
            if ids:
                marks = ",".join("?" * len(ids))
                for table, column in (("report_events", "report_id"), ("report_photos", "report_id"),
                                      ("citizen_reports", "id")):
                    self._exec(f"DELETE FROM {table} WHERE {column} IN ({marks})", ids)
        return len(ids)

    # -- boards citizens checked -----------------------------------------------------------------

    def count_board_check(self, site: str, venue: str, state: str) -> None:
        now = now_iso()
        day = now[:10]
        self._exec("INSERT INTO board_checks(site, venue, state, day, count, last_at) VALUES (?,?,?,?,1,?)"
                   " ON CONFLICT(site, venue, state, day) DO UPDATE SET count = board_checks.count + 1,"
                   " last_at = excluded.last_at", (site, venue, state[:32], day, now))
        if now[11:16] == "00:00":  # about once a day (per minute of checks), forget counts nobody reads
            oldest = (dt.date.fromisoformat(day) - dt.timedelta(days=BOARD_CHECK_DAYS)).isoformat()
            self._exec("DELETE FROM board_checks WHERE day < ?", (oldest,))

    def board_checks(self, since_day: str) -> list[dict[str, Any]]:
        """Per venue and state, the checks counted since ``since_day`` (YYYY-MM-DD) and the latest."""
        names = ("site", "venue", "state", "count", "last_at")
        return [dict(zip(names, r, strict=True)) | {"count": int(r[3])} for r in self._rows(
            "SELECT site, venue, state, SUM(count), MAX(last_at) FROM board_checks WHERE day >= ?"
            " GROUP BY site, venue, state ORDER BY site, venue, state", (since_day,))]
