"""Checking a venue QR board's URL for the public venue page.

The signed URL format and its verification belong to the provisioning tools
(``provisioning.venue``: ``BASE/v/SITE/VENUE?n=&k=&h=&s=``, an Ed25519 signature by the site's
``venues.key`` over the venue's registered data). This module is the collector's one seam to it:
``check_board(site, url)`` -> :class:`BoardCheck`. The URL is rebuilt from the manifest's
``base_url`` (what the board was signed with) or, without one, from the request's Host.
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


class BoardChecker:
    """One verifier per site folder, loaded once (keys and manifest)."""

    def __init__(self) -> None:
        self._verifiers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _verifier(self, site: SiteInfo) -> Any:
        with self._lock:
            if site.site not in self._verifiers:
                from entryscan.provisioning.venue import VenueVerifier  # type: ignore[import-not-found,unused-ignore]

                self._verifiers[site.site] = VenueVerifier(site.directory)
            return self._verifiers[site.site]

    def check(self, site: SiteInfo, url: str) -> BoardCheck:
        registered = site.venues.get(url.split("?", 1)[0].rsplit("/", 1)[-1])
        name, address = (registered.name, registered.address) if registered else ("", "")
        try:
            verifier = self._verifier(site)
        except (ImportError, EntryscanError) as exc:
            log.error("collector: cannot check venue boards of site %s: %s", site.site, exc)
            return BoardCheck(False, "unavailable", False, ["boards of this site cannot be checked here"],
                              name, address)
        result = verifier.verify(url)
        ok = result.signature == "ok" and bool(result.matches_registry)
        return BoardCheck(ok, str(result.signature), bool(result.matches_registry), list(result.differences),
                          name, address)
