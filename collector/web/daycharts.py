"""A local day's entries per hour for one venue or a whole commune, with the opening hours shaded.

The day is the site's local day (its ``[site] timezone``); a commune's chart sums its venues' doors and
shades every venue's opening hours (overlapping bands read as their union).
"""

from __future__ import annotations

import datetime as dt

from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.store.validate import iso
from entryscan.collector.web.chart import Labels, bar_chart, counts_from

Place = tuple[SiteInfo, str]  # a site and one of its venue ids


def local_midnight(site: SiteInfo, day: dt.date) -> dt.datetime:
    zone = site.timezone or dt.datetime.now().astimezone().tzinfo
    return dt.datetime.combine(day, dt.time(), tzinfo=zone)


def day_counts(store: StoreBase, places: list[Place], day: dt.date) -> list[tuple[dt.datetime, int]]:
    """Entries per local hour of ``day`` over every door linked to the given venues."""
    if not places:
        return counts_from([], dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
    first = local_midnight(places[0][0], day)
    stamps: list[str] = []
    for site, venue in places:
        start = local_midnight(site, day)
        for device in site.devices_of(venue):
            stamps += store.entry_times(site.site, device, iso(start), iso(start + dt.timedelta(days=1)))
    return counts_from(stamps, first)


def open_spans(places: list[Place], day: dt.date) -> list[tuple[float, float]]:
    """Every venue's opening spans that day, in hours since local midnight."""
    spans = []
    for site, venue in places:
        info = site.venues.get(venue)
        if info is not None:
            spans += [(a / 60, b / 60) for a, b in info.hours.spans[day.weekday()]]
    return sorted(set(spans))


def day_chart(store: StoreBase, places: list[Place], day: dt.date, labels: Labels) -> str:
    zone = places[0][0].timezone if places else dt.UTC
    return bar_chart(day_counts(store, places, day), labels.title, zone=zone, labels=labels,
                     open_spans=open_spans(places, day))
