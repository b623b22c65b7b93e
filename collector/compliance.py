"""Per-venue compliance for one local day: entries during opening hours and the longest span without scans.

Each row carries a ``state`` code (the pages translate it): ``no_doors`` (no door of the manifest is
linked to the venue: nothing can be said, and the row says so instead of showing 0 entries), ``closed``
(no opening hours that day), ``not_open_yet``, ``no_scans`` (open, and not one scan in its hours: not a
"longest span" like any other day) or ``scanned``. ``longest_idle`` stays the English text it was.
"""

from __future__ import annotations

import datetime as dt
import itertools
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


def venue_day(store: StoreBase, site: SiteInfo, venue_id: str, day: dt.date,
              now: dt.datetime | None = None, stamps_of: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """``stamps_of`` (from ``day_stamps``) spares a query per door when every venue of a site is wanted."""
    now = now or dt.datetime.now(dt.UTC)
    venue = site.venues[venue_id]
    spans = [(a, min(b, now)) for a, b in _spans(site, day, venue.hours.spans[day.weekday()]) if min(b, now) > a]
    doors = site.devices_of(venue_id)
    stamps: list[dt.datetime] = []
    if spans and doors:
        since, until = iso(spans[0][0]), iso(spans[-1][1])
        for device in doors:
            times = stamps_of.get(device, []) if stamps_of is not None else \
                store.entry_times(site.site, device, since, until)
            stamps += [dt.datetime.fromisoformat(t) for t in times]
    count, longest = 0, dt.timedelta()
    for start, end in spans:
        inside = sorted(t for t in stamps if start <= t < end)
        count += len(inside)
        marks = [start, *inside, end]
        longest = max([longest, *(b - a for a, b in itertools.pairwise(marks))])
    minutes = int(longest.total_seconds() // 60)
    if not doors:
        state = "no_doors"
    elif not venue.hours.spans[day.weekday()]:
        state = "closed"
    elif not spans:
        state = "not_open_yet"
    else:
        state = "scanned" if count else "no_scans"
    return {"site": site.site, "venue": venue_id, "name": venue.name, "hours": venue.hours_text, "entries": count,
            "longest_idle": STATE_TEXT.get(state, f"{minutes // 60} h {minutes % 60:02d} min"),
            "longest_idle_min": minutes,
            "state": state, "doors": doors, "linked": bool(doors), "commune": venue.commune}


def compliance(store: StoreBase, sites: dict[str, SiteInfo], day: dt.date) -> list[dict[str, Any]]:
    out = []
    for site in sites.values():
        stamps = day_stamps(store, site, day)
        out += [venue_day(store, site, venue_id, day, stamps_of=stamps) for venue_id in sorted(site.venues)]
    return out
