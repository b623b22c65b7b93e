"""Per-venue compliance for one local day: entries during opening hours and the longest span without scans."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.store.validate import iso


def _spans(site: SiteInfo, day: dt.date, spans: tuple[tuple[int, int], ...]) -> list[tuple[dt.datetime, dt.datetime]]:
    tz = site.timezone or dt.datetime.now().astimezone().tzinfo
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    return [(midnight + dt.timedelta(minutes=a), midnight + dt.timedelta(minutes=b)) for a, b in spans]


def venue_day(store: StoreBase, site: SiteInfo, venue_id: str, day: dt.date,
              now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    venue = site.venues[venue_id]
    spans = _spans(site, day, venue.hours.spans[day.weekday()])
    stamps: list[dt.datetime] = []
    if spans:
        since = iso(spans[0][0])
        for device in site.devices_of(venue_id):
            stamps += [dt.datetime.fromisoformat(t) for t in store.entry_times(site.site, device, since)]
    count, longest = 0, dt.timedelta()
    for start, end in spans:
        end = min(end, now)
        if end <= start:
            continue
        inside = sorted(t for t in stamps if start <= t < end)
        count += len(inside)
        marks = [start, *inside, end]
        longest = max([longest, *(b - a for a, b in itertools.pairwise(marks))])
    minutes = int(longest.total_seconds() // 60)
    return {"site": site.site, "venue": venue_id, "name": venue.name, "hours": venue.hours_text, "entries": count,
            "longest_idle": f"{minutes // 60} h {minutes % 60:02d} min" if spans else "closed",
            "longest_idle_min": minutes}


def compliance(store: StoreBase, sites: dict[str, SiteInfo], day: dt.date) -> list[dict[str, Any]]:
    return [venue_day(store, site, venue_id, day) for site in sites.values() for venue_id in sorted(site.venues)]
