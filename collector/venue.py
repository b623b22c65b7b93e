"""Checking a venue QR board's URL for the public venue page.

The signed URL format and its verification belong to the provisioning tools
(``provisioning.venue``: ``BASE/v/SITE/VENUE?n=&k=&h=&s=``, an Ed25519 signature by the site's
``venues.key`` over the venue's registered data). This module is the collector's one seam to it:
``check_board(site, url)`` -> :class:`BoardCheck`. The URL is rebuilt from the manifest's
``base_url`` (what the board was signed with) or, without one, from the request's Host.

A board signed for an earlier version of the same place is genuine (``state`` ``details_updated``:
the page says calmly "details updated on …" and shows the current details); a board whose place
changed, or whose signature fails, is not. With a store, each check of a registered venue's board
that is not ``current`` is counted per day (bounded: registered venues x states x days), so the
office sees outdated and forged boards citizens met (``collector.violations``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from entryscan.collector.site import SiteInfo
from entryscan.device.errors import EntryscanError

log = logging.getLogger("collector")


@dataclass(frozen=True)
class BoardCheck:
    genuine: bool  # signed by this site's key and matching the registry
    signature: str  # "ok" | "bad" | "unknown_key" | "unavailable"
    matches_registry: bool
    differences: list[str] = field(default_factory=list)
    name: str = ""  # the registry's current name and address for the venue (never the URL's claims)
    address: str = ""
    # current | details_updated (genuine) | place_changed | unknown_venue | wrong_base | forged | foreign
    # | unavailable (this collector cannot check boards of the site)
    state: str = "forged"
    updated_on: str = ""  # when the current details were recorded (ISO 8601), for a details_updated board
    hours: str = ""  # the registry's current opening hours, commune and board version
    commune: str = ""
    board_version: int | None = None
    current_version: int | None = None


class BoardChecker:
    """One verifier per site folder, loaded once (keys and manifest)."""

    def __init__(self, store: Any = None) -> None:
        self._verifiers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.store = store  # a StoreBase: checks that are not current are counted there

    def _verifier(self, site: SiteInfo) -> Any:
        with self._lock:
            if site.site not in self._verifiers:
                from entryscan.provisioning.venue import VenueVerifier  # type: ignore[import-not-found,unused-ignore]

                self._verifiers[site.site] = VenueVerifier(site.directory)
            return self._verifiers[site.site]

    def check(self, site: SiteInfo, url: str) -> BoardCheck:
        venue_id = url.split("?", 1)[0].rsplit("/", 1)[-1]
        registered = site.venues.get(venue_id)
        name, address = (registered.name, registered.address) if registered else ("", "")
        details: dict[str, Any] = {"hours": registered.hours_text, "commune": registered.commune} if registered else {}
        try:
            verifier = self._verifier(site)
        except (ImportError, EntryscanError) as exc:
            log.error("collector: cannot check venue boards of site %s: %s", site.site, exc)
            return BoardCheck(False, "unavailable", False, ["boards of this site cannot be checked here"],
                              name, address, "unavailable", **details)
        result = verifier.verify(url)
        record = result.record
        check = BoardCheck(bool(result.genuine), str(result.signature), bool(result.matches_registry),
                           list(result.differences), name, address, str(result.state), str(result.updated_on),
                           board_version=result.version, current_version=record.version if record else None,
                           **details)
        if self.store is not None and registered is not None and check.state != "current":
            self._count(site.site, venue_id, check.state)
        return check

    def _count(self, site: str, venue: str, state: str) -> None:
        try:
            self.store.count_board_check(site, venue, state)
        except Exception as exc:  # noqa: BLE001 - a failed count never hides the verdict from the citizen
            log.warning("collector: cannot count a board check of %s/%s: %s", site, venue, exc)
