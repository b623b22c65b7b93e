"""A day's scans per opening span, counted in the database: entries, first and last, and the longest gap.

Compliance, the violations list and the map want, for every venue of a site, how many entries fell in each
of its opening spans and the longest stretch without one. Reading every entry time of the site's day into
Python (a third of a million rows for 1,000 doors) and sorting them there took most of those pages; this is
one query per site (per ``MAX_PAIRS`` door-span pairs) that returns one row per span.

A span is ``(key, devices, start, end)``: the entries of any of ``devices`` with ``start <= ts < end``
(ISO 8601 UTC). The gap between consecutive entries is taken in the database (``LAG``); the gaps from the
span's start to its first entry and from its last entry to its end are the caller's (``SpanScans``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Span = tuple[int, Sequence[str], str, str]  # key, doors, start, end
MAX_PAIRS = 2000  # door-span pairs per query: two parameters each, far below either database's limit


@dataclass(frozen=True)
class SpanScans:
    count: int
    first: str | None  # ISO 8601 UTC, None without entries
    last: str | None
    longest_gap_s: float  # between two consecutive entries of the span (0 with fewer than two)


class DaySpanQueries(ABC):
    # The dialect's parts: a timestamp parameter, and the seconds between two timestamp columns.
    _ts_param = "?"

    @abstractmethod
    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @staticmethod
    def _seconds_between(later: str, earlier: str) -> str:
        return f"(julianday({later}) - julianday({earlier})) * 86400.0"

    def span_scans(self, site: str, spans: Sequence[Span]) -> dict[int, SpanScans]:
        """Per span key with at least one entry, its scans (keys without entries are absent)."""
        out: dict[int, SpanScans] = {}
        batch: list[Span] = []
        pairs = 0
        for span in spans:
            if not span[1] or span[2] >= span[3]:
                continue
            if batch and pairs + len(span[1]) > MAX_PAIRS:
                out.update(self._span_batch(site, batch))
                batch, pairs = [], 0
            batch.append(span)
            pairs += len(span[1])
        if batch:
            out.update(self._span_batch(site, batch))
        return out

    def _span_batch(self, site: str, spans: Sequence[Span]) -> dict[int, SpanScans]:
        ts = self._ts_param
        doors = [(device, key) for key, devices, _, _ in spans for device in devices]
        door_rows = ", ".join(["(CAST(? AS TEXT), CAST(? AS INTEGER))"] * len(doors))
        span_rows = ", ".join([f"(CAST(? AS INTEGER), {ts}, {ts})"] * len(spans))
        params: list[Any] = [v for pair in doors for v in pair]
        params += [v for key, _, start, end in spans for v in (key, start, end)]
        params += [site, min(s[2] for s in spans), max(s[3] for s in spans)]
        # The outer range lets the (site, ts) index bound the scan to the day; the join keeps each span's own.
        sql = (f"WITH d(device, k) AS (VALUES {door_rows}), w(k, s, e) AS (VALUES {span_rows}),"
               " hit AS (SELECT w.k AS k, x.ts AS ts, LAG(x.ts) OVER (PARTITION BY w.k ORDER BY x.ts) AS prev"
               " FROM entry_events x JOIN d ON d.device = x.device JOIN w ON w.k = d.k AND x.ts >= w.s AND x.ts < w.e"
               f" WHERE x.site = ? AND x.ts >= {ts} AND x.ts < {ts})"
               f" SELECT k, COUNT(*), MIN(ts), MAX(ts), MAX({self._seconds_between('ts', 'prev')}) FROM hit GROUP BY k")
        return {int(k): SpanScans(int(n), first, last, float(gap or 0.0))
                for k, n, first, last, gap in self._read(sql, params)}
