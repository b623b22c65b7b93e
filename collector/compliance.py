"""Per-venue compliance for one local day: entries during opening hours and the longest span without scans.

Each row carries a ``state`` code (the pages translate it): ``no_doors`` (no door of the manifest is
linked to the venue: nothing can be said, and the row says so instead of showing 0 entries), ``closed``
(no opening hours that day), ``not_open_yet``, ``no_scans`` (open, and not one scan in its hours: not a
"longest span" like any other day) or ``scanned``. ``longest_idle`` stays the English text it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.store.validate import iso

STATE_TEXT = {"no_doors": "no door linked to this venue", "closed": "closed", "not_open_yet": "not open yet",
              "no_scans": "no scans during opening hours"}


def _spans(site: SiteInfo, day: dt.date, spans: tuple[tuple[int, int], ...]) -> list[tuple[dt.datetime, dt.datetime]]:
    tz = site.timezone or dt.datetime.now().astimezone().tzinfo
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    return [(midnight + dt.timedelta(minutes=a), midnight + dt.timedelta(minutes=b)) for a, b in spans]


def day_stamps(store: StoreBase, site: SiteInfo, day: dt.date) -> dict[str, list[str]]:
    """Every door's entry times in the site's local ``day``: one query for all the site's venues."""
    midnight = _spans(site, day, ((0, 0),))[0][0]
    return store.entry_stamps(site.site, iso(midnight), iso(midnight + dt.timedelta(days=1)))


@dataclass(frozen=True)
class VenueScans:
    """A venue's day: its opening spans (up to now), the entries in them and the longest span without one."""

    spans: list[tuple[dt.datetime, dt.datetime]]
    entries: int
    longest: dt.timedelta


def _open_spans(site: SiteInfo, venue_id: str, day: dt.date, now: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    venue = site.venues[venue_id]
    return [(a, min(b, now)) for a, b in _spans(site, day, venue.hours.spans[day.weekday()]) if min(b, now) > a]


def site_day(store: StoreBase, site: SiteInfo, day: dt.date, now: dt.datetime | None = None,
             venues: list[str] | None = None) -> dict[str, VenueScans]:
    """Every venue's (or the given venues') scans on ``day``, counted in the database in one query per site:
    reading every entry time of the day into Python took most of the compliance and violations pages."""
    now = now or dt.datetime.now(dt.UTC)
    wanted = sorted(site.venues) if venues is None else venues
    spans = {v: _open_spans(site, v, day, now) for v in wanted}
    keys = [(v, i) for v in wanted for i in range(len(spans[v]))]
    found = store.span_scans(site.site, [(n, site.devices_of(v), iso(spans[v][i][0]), iso(spans[v][i][1]))
                                         for n, (v, i) in enumerate(keys)])
    counts = {v: 0 for v in wanted}
    longest = {v: dt.timedelta() for v in wanted}
    for n, (v, i) in enumerate(keys):
        start, end = spans[v][i]
        scans = found.get(n) if site.devices_of(v) else None
        if scans is None or scans.first is None or scans.last is None:
            gap = end - start
        else:
            counts[v] += scans.count
            # Whole milliseconds, as the stored times: SQLite's julianday() arithmetic is a float.
            inner = dt.timedelta(milliseconds=round(scans.longest_gap_s * 1000))
            gap = max(inner, dt.datetime.fromisoformat(scans.first) - start, end - dt.datetime.fromisoformat(scans.last))
        longest[v] = max(longest[v], gap)
    return {v: VenueScans(spans[v], counts[v], longest[v]) for v in wanted}


def venue_day(store: StoreBase, site: SiteInfo, venue_id: str, day: dt.date,
              now: dt.datetime | None = None, scans: VenueScans | None = None) -> dict[str, Any]:
    """``scans`` (from ``site_day``) spares a query per venue when every venue of a site is wanted."""
    now = now or dt.datetime.now(dt.UTC)
    venue = site.venues[venue_id]
    doors = site.devices_of(venue_id)
    found = scans if scans is not None else site_day(store, site, day, now, [venue_id])[venue_id]
    count, minutes = found.entries, int(found.longest.total_seconds() // 60)
    if not doors:
        state = "no_doors"
    elif not venue.hours.spans[day.weekday()]:
        state = "closed"
    elif not found.spans:
        state = "not_open_yet"
    else:
        state = "scanned" if count else "no_scans"
    return {"site": site.site, "venue": venue_id, "name": venue.name, "hours": venue.hours_text, "entries": count,
            "longest_idle": STATE_TEXT.get(state, f"{minutes // 60} h {minutes % 60:02d} min"),
            "longest_idle_min": minutes,
            "state": state, "doors": doors, "linked": bool(doors), "commune": venue.commune}


def compliance(store: StoreBase, sites: dict[str, SiteInfo], day: dt.date) -> list[dict[str, Any]]:
    out = []
    now = dt.datetime.now(dt.UTC)
    for site in sites.values():
        scans = site_day(store, site, day, now)
        out += [venue_day(store, site, venue_id, day, now, scans[venue_id]) for venue_id in sorted(site.venues)]
    return out
