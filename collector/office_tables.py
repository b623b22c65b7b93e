"""The rules loop's second duty: the office's registry and findings written to the database.

Grafana reads only the database; the venues, their doors and communes are in the sites' manifests and the
premises findings are computed (``collector.violations``). ``publish`` writes both (``store/registry.py``;
the views ``venues``, ``venue_doors`` and ``violations``), at most every ``PUBLISH_EVERY_S``: the findings
are a whole office page's work, and a dashboard refreshed every few minutes needs no more.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from entryscan.collector.rules import RuleSettings
from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.store.registry import FindingRow, VenueRow
from entryscan.collector.violations import premises

log = logging.getLogger("collector")
PUBLISH_EVERY_S = 300.0


def publish(store: StoreBase, sites: dict[str, SiteInfo], settings: RuleSettings, zone: dt.tzinfo | None,
            now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    venues: list[VenueRow] = []
    doors: list[tuple[str, str, str]] = []
    for site in sites.values():
        venues += [VenueRow(site.site, v.id, v.name, v.address, v.commune, v.lat, v.lon) for v in site.venues.values()]
        venues += [VenueRow(site.site, venue, venue, "", "", None, None) for venue in site.problems]  # unreadable
        doors += [(site.site, device, venue) for device, venue in site.device_venue.items()]
    site_ids = [s.site for s in sites.values()]
    store.publish_venues(site_ids, venues, doors)
    communes = premises(store, sites, now.astimezone(zone).date() if zone else now.astimezone().date(), now,
                        settings)
    store.publish_findings(site_ids, [FindingRow(p.site, p.venue, p.commune, p.status, p.score,
                                                 ";".join(r.code for r in p.reasons))
                                      for c in communes for p in c.premises])


class Publisher:
    """``publish`` for the rules loop: at most every ``every_s``, never raising (the next round tries again)."""

    def __init__(self, store: StoreBase, sites: dict[str, SiteInfo], settings: RuleSettings,
                 zone: dt.tzinfo | None, every_s: float = PUBLISH_EVERY_S) -> None:
        self.store, self.sites, self.settings, self.zone, self.every_s = store, sites, settings, zone, every_s
        self._last: float | None = None

    def __call__(self) -> None:
        if self._last is not None and time.monotonic() - self._last < self.every_s:
            return
        self._last = time.monotonic()
        try:
            publish(self.store, self.sites, self.settings, self.zone)
        except Exception as exc:  # noqa: BLE001 - the office's pages and the ingest go on without it
            log.error("collector: cannot write the venues and findings for Grafana: %s", exc)
