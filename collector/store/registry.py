"""The office's registry and findings in the database, for Grafana and other tools reading the views.

The venues, their doors and communes live in the sites' manifests (``site.toml``), and the premises showing
signs of violation are computed from the store and those manifests (``collector.violations``). A tool that
only reads the database (Grafana) sees neither, so the collector's rules loop writes them here: the views
``venues``, ``venue_doors`` and ``violations`` (docs/central.md), each site's rows replaced in one transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from entryscan.collector.store.validate import now_iso, printable


@dataclass(frozen=True)
class VenueRow:
    site: str
    venue: str
    name: str
    address: str
    commune: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class FindingRow:
    site: str
    venue: str
    commune: str
    status: str  # violation | no_doors | unreadable | compliant (collector.violations.STATUSES)
    score: int
    reasons: str  # the reason codes, ";"-separated (collector.violations.REASONS)


class RegistryQueries(ABC):
    @abstractmethod
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[None]: ...

    def publish_venues(self, sites: Sequence[str], venues: Sequence[VenueRow],
                       doors: Sequence[tuple[str, str, str]]) -> None:
        """Replace the venues and the (site, device, venue) links of ``sites``."""
        now = now_iso()
        with self._transaction():
            for site in sorted(set(sites)):
                self._exec("DELETE FROM venue_registry WHERE site = ?", (site,))
                self._exec("DELETE FROM venue_door_links WHERE site = ?", (site,))
            for v in venues:  # a manifest's text is cleaned: a control character must not fail the round
                self._exec("INSERT INTO venue_registry(site, venue, name, address, commune, lat, lon, updated_at)"
                           " VALUES (?,?,?,?,?,?,?,?)", (v.site, v.venue, printable(v.name[:200]),
                                                          printable(v.address[:300]), printable(v.commune[:200]),
                                                          v.lat, v.lon, now))
            for site, device, venue in sorted(set(doors)):
                self._exec("INSERT INTO venue_door_links(site, device, venue) VALUES (?,?,?)", (site, device, venue))

    def publish_findings(self, sites: Sequence[str], findings: Sequence[FindingRow]) -> None:
        """Replace the premises findings of ``sites`` (one row per venue)."""
        now = now_iso()
        with self._transaction():
            for site in sorted(set(sites)):
                self._exec("DELETE FROM premises_findings WHERE site = ?", (site,))
            for f in findings:
                self._exec("INSERT INTO premises_findings(site, venue, commune, status, score, reasons, evaluated_at)"
                           " VALUES (?,?,?,?,?,?,?) ON CONFLICT(site, venue) DO NOTHING",
                           (f.site, f.venue, printable(f.commune[:200]), f.status, f.score, f.reasons[:500], now))
