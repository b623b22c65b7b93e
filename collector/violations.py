"""Premises showing signs of violation, per commune and ranked, each with its reasons and evidence.

The district office's first page and the list it sends to each commune (CSV, or the data of a
printable page). A venue's reasons are codes (``REASONS``), never sentences: the pages and the CSV
name them through the catalogs (the message ids are marked with ``N_`` so Babel extracts them).
Each reason carries the evidence a commune officer needs (numbers, doors, times), and a weight; a
venue's score is the sum, and within a commune the highest score comes first.

A venue no door is linked to is ``no_doors``: nothing can be said about its scans, so it is listed
as such (with whatever citizens reported), never as compliant or idle.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from entryscan.collector.citizens import N_
from entryscan.collector.compliance import VenueScans, site_day, venue_day
from entryscan.collector.rules import RuleSettings, StaleWhy, stale_reasons, stale_text
from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase

REASONS: dict[str, str] = {
    "no_scans_in_hours": N_("No scans during opening hours"),
    "doors_offline": N_("Doors offline"),
    "board_outdated": N_("Citizens checked a board with outdated details"),
    "board_forged": N_("Citizens checked a forged or wrong board"),
    "open_reports": N_("Open citizens' reports"),
    "stale_list": N_("A door's list is out of date"),
    "venue_unreadable": N_("The venue's record cannot be read"),
}
STATUSES: dict[str, str] = {
    "violation": N_("Signs of violation"), "no_doors": N_("No door linked"),
    "unreadable": N_("Record cannot be read"), "compliant": N_("No signs of violation"),
}
WEIGHTS = {"no_scans_in_hours": 3, "board_forged": 3, "doors_offline": 2, "open_reports": 2, "board_outdated": 1,
           "stale_list": 1, "venue_unreadable": 1}
STATUS_ORDER = ("violation", "unreadable", "no_doors", "compliant")
FORGED_STATES = ("place_changed", "forged", "wrong_base", "foreign", "unknown_venue")
BOARD_DAYS = 30  # board checks counted over this many days up to the day shown
NO_COMMUNE = ""


@dataclass(frozen=True)
class Reason:
    code: str
    evidence: dict[str, Any]
    weight: int


@dataclass
class Premises:
    site: str
    venue: str
    name: str
    address: str
    commune: str
    hours: str
    lat: float | None
    lon: float | None
    doors: list[str]
    status: str = "compliant"
    reasons: list[Reason] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(r.weight for r in self.reasons)


@dataclass
class Commune:
    name: str  # "" = venues without a recorded commune
    premises: list[Premises]

    @property
    def violating(self) -> int:
        return sum(p.status == "violation" for p in self.premises)


@dataclass(frozen=True)
class _Facts:
    devices: dict[tuple[str, str], dict[str, Any]]
    stale: dict[tuple[str, str], StaleWhy]
    reports: dict[tuple[str, str], list[dict[str, Any]]]
    boards: dict[tuple[str, str], list[dict[str, Any]]]


def _facts(store: StoreBase, sites: dict[str, SiteInfo], day: dt.date, now: dt.datetime,
           settings: RuleSettings) -> _Facts:
    devices = store.devices()
    reports: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in store.reports(open_only=True):
        reports.setdefault((r["site"], r["venue"]), []).append(r)
    boards: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for b in store.board_checks((day - dt.timedelta(days=BOARD_DAYS)).isoformat()):
        boards.setdefault((b["site"], b["venue"]), []).append(b)
    stale = {(s, d): why for s, d, why in stale_reasons(store, sites, settings, now, devices)}
    return _Facts({(d["site"], d["device"]): d for d in devices}, stale, reports, boards)


def premises(store: StoreBase, sites: dict[str, SiteInfo], day: dt.date, now: dt.datetime | None = None,
             settings: RuleSettings | None = None) -> list[Commune]:
    """Every venue of every site, grouped by commune (communes with the most violating premises first)."""
    now = now or dt.datetime.now(dt.UTC)
    facts = _facts(store, sites, day, now, settings or RuleSettings())
    found: list[Premises] = []
    for site in sites.values():
        scans = site_day(store, site, day, now)  # one query per site, not one per door
        for venue_id in sorted(site.venues):
            found.append(_venue(store, site, venue_id, day, now, facts, settings or RuleSettings(), scans[venue_id]))
        for venue_id, why in sorted(site.problems.items()):
            # "detail" stays the English for machines; "problem" (a code, the token) is what the pages word.
            evidence = {"detail": why, "problem": site.problem_codes.get(venue_id, {})}
            found.append(Premises(site.site, venue_id, venue_id, "", NO_COMMUNE, "", None, None,
                                  site.devices_of(venue_id), "unreadable",
                                  [Reason("venue_unreadable", evidence, WEIGHTS["venue_unreadable"])]))
    communes: dict[str, list[Premises]] = {}
    for p in found:
        communes.setdefault(p.commune, []).append(p)
    out = [Commune(name, sorted(ps, key=_rank)) for name, ps in communes.items()]
    return sorted(out, key=lambda c: (-c.violating, c.name == NO_COMMUNE, c.name))


def _rank(p: Premises) -> tuple[int, int, str, str]:
    return STATUS_ORDER.index(p.status), -p.score, p.name, p.venue


def _venue(store: StoreBase, site: SiteInfo, venue_id: str, day: dt.date, now: dt.datetime, facts: _Facts,
           settings: RuleSettings, scans: VenueScans) -> Premises:
    v = site.venues[venue_id]
    doors = site.devices_of(venue_id)
    p = Premises(site.site, venue_id, v.name, v.address, v.commune, v.hours_text, v.lat, v.lon, doors)
    compliance = venue_day(store, site, venue_id, day, now, scans)
    if compliance["state"] == "no_scans":
        p.reasons.append(Reason("no_scans_in_hours", {"day": day.isoformat(), "hours": v.hours_text,
                                                      "entries": 0, "doors": doors}, WEIGHTS["no_scans_in_hours"]))
    p.reasons += _door_reasons(site.site, doors, facts, now, settings)
    p.reasons += _citizen_reasons(site.site, venue_id, facts)
    p.status = "no_doors" if not doors else "violation" if p.reasons else "compliant"
    return p


def _door_reasons(site: str, doors: list[str], facts: _Facts, now: dt.datetime,
                  settings: RuleSettings) -> list[Reason]:
    out = []
    offline = []
    for door in doors:
        d = facts.devices.get((site, door))
        if d is None:
            offline.append({"device": door, "since": None, "how": "never_seen"})
        elif d["status"] != "online" and d["offline_since"] and \
                (now - dt.datetime.fromisoformat(d["offline_since"])).total_seconds() > settings.offline_s:
            how = "stopped" if d["state"].get("stopped") is True else "connection_lost"
            offline.append({"device": door, "since": d["offline_since"], "how": how})
    if offline:
        out.append(Reason("doors_offline", {"doors": offline, "of": len(doors)}, WEIGHTS["doors_offline"]))
    # "detail" stays the alert's English (the JSON and CSV carry it as before); "why" is what the pages word.
    stale = [{"device": door, "detail": stale_text(facts.stale[(site, door)]), "why": facts.stale[(site, door)]}
             for door in doors if (site, door) in facts.stale]
    if stale:
        out.append(Reason("stale_list", {"doors": stale}, WEIGHTS["stale_list"]))
    return out


def _citizen_reasons(site: str, venue: str, facts: _Facts) -> list[Reason]:
    out = []
    checks = facts.boards.get((site, venue), [])
    for code, states in (("board_forged", FORGED_STATES), ("board_outdated", ("details_updated",))):
        mine = [c for c in checks if c["state"] in states]
        if mine:
            out.append(Reason(code, {"checks": sum(c["count"] for c in mine), "last_at": max(c["last_at"] for c in mine),
                                     "states": sorted({c["state"] for c in mine}), "days": BOARD_DAYS}, WEIGHTS[code]))
    reports = facts.reports.get((site, venue), [])
    if reports:
        out.append(Reason("open_reports", {"count": len(reports), "oldest": min(r["created_at"] for r in reports),
                                           "ids": sorted(r["id"] for r in reports)[:20],
                                           "categories": sorted({r["category"] for r in reports})},
                          WEIGHTS["open_reports"] + min(len(reports), 5) - 1))
    return out


CSV_COLUMNS = ("commune", "rank", "site", "venue", "name", "address", "status", "status_name", "score", "reasons",
               "reason_names", "evidence")


def csv_rows(communes: list[Commune], translate: Callable[[str], str] = str) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for commune in communes:
        for rank, p in enumerate(commune.premises, 1):
            rows.append([commune.name, rank, p.site, p.venue, p.name, p.address, p.status,
                         translate(STATUSES[p.status]), p.score, ";".join(r.code for r in p.reasons),
                         "; ".join(translate(REASONS[r.code]) for r in p.reasons),
                         json.dumps({r.code: r.evidence for r in p.reasons}, ensure_ascii=False, sort_keys=True)])
    return rows


def write_csv(communes: list[Commune], out: TextIO, translate: Callable[[str], str] = str) -> None:
    """The list to send to the communes (UTF-8; cells a spreadsheet would run as formulas are quoted)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(communes, translate):
        # v[:1] of "" is "", which `in` finds in any string: empty cells came out as a lone quote.
        writer.writerow(["'" + v if isinstance(v, str) and v and v[0] in "=+-@" else v for v in row])


def as_json(communes: list[Commune]) -> dict[str, Any]:
    """The data of the office's page and of the printable page (``?commune=`` picks one commune)."""
    return {"communes": [{"name": c.name, "violating": c.violating,
                          "premises": [asdict(p) | {"score": p.score} for p in c.premises]} for c in communes]}
