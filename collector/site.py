"""What the collector reads from a site folder: ``site.toml`` (venues, their doors and opening hours).

The manifest is written by ``entryscan-provision`` (format: SITE_TOML.md). The collector reads it
tolerantly: only the keys below, unknown keys ignored. Opening hours are local time of the site's
``[site] timezone`` (an IANA name such as ``Asia/Ho_Chi_Minh``), or for a manifest without one, of
the collector's ``--timezone`` (default: the collector machine's local time).
Opening hours: ``"Mon-Fri 07:30-17:00; Sat 08:00-12:00"``: ``;``-separated rules, each a day or a
day range (Mon..Sun, ranges may wrap) and one or more ``HH:MM-HH:MM`` spans (``,``-separated).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from entryscan.device.errors import ConfigError

log = logging.getLogger("collector")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_SPAN = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (0 = Monday) the open spans as minutes since local midnight."""

    spans: tuple[tuple[tuple[int, int], ...], ...] = ((),) * 7

    def open_since(self, local: dt.datetime) -> dt.datetime | None:
        """When the current opening span began, or None when closed at ``local``."""
        minute = local.hour * 60 + local.minute
        for start, end in self.spans[local.weekday()]:
            if start <= minute < end:
                return local.replace(hour=start // 60, minute=start % 60, second=0, microsecond=0)
        return None


def parse_opening_hours(text: str) -> OpeningHours:
    days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for rule in filter(None, (r.strip() for r in text.split(";"))):
        head, _, times = rule.partition(" ")
        for day in _days(head):
            for span in filter(None, (s.strip() for s in times.split(","))):
                m = _SPAN.fullmatch(span)
                if m is None:
                    raise ConfigError("opening_hours", f"bad time span {span!r} (want HH:MM-HH:MM)")
                h1, m1, h2, m2 = (int(g) for g in m.groups())
                start, end = h1 * 60 + m1, h2 * 60 + m2
                if not (0 <= start < end <= 24 * 60 and m1 < 60 and m2 < 60):
                    raise ConfigError("opening_hours", f"bad time span {span!r}")
                days[day].append((start, end))
    return OpeningHours(tuple(tuple(sorted(d)) for d in days))


def _days(head: str) -> list[int]:
    first, _, last = head.lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise ConfigError("opening_hours", f"bad day {head!r} (want Mon..Sun or Mon-Fri)")
    a, b = DAYS.index(first), DAYS.index(last or first)
    return [(a + i) % 7 for i in range((b - a) % 7 + 1)]


@dataclass(frozen=True)
class VenueInfo:
    id: str
    name: str
    address: str
    hours: OpeningHours
    hours_text: str


@dataclass(frozen=True)
class SiteInfo:
    site: str
    name: str
    directory: Path
    timezone: dt.tzinfo | None
    base_url: str = ""
    venues: dict[str, VenueInfo] = field(default_factory=dict)
    device_venue: dict[str, str] = field(default_factory=dict)  # device id -> venue id
    device_door: dict[str, str] = field(default_factory=dict)
    language: str = ""  # [site] language: "vi" or "en" for its pages ("" = the office's default)

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.timezone) if self.timezone else moment.astimezone()

    def devices_of(self, venue: str) -> list[str]:
        return sorted(d for d, v in self.device_venue.items() if v == venue)


def time_zone(name: str, what: str = "--timezone") -> dt.tzinfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(what, f"unknown time zone {name!r}") from None


def load_site(directory: Path, tz: dt.tzinfo | None = None) -> SiteInfo:
    path = directory / "site.toml"
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
        table = tomllib.loads(data[:MAX_MANIFEST_BYTES].decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read the site manifest: {exc}") from None
    site = table.get("site", {})
    if not isinstance(site, dict) or not isinstance(site.get("site"), str):
        raise ConfigError(str(path), "[site] site is missing")
    venues = {}
    for v in _tables(table, "venues"):
        hours = str(v.get("opening_hours", ""))
        venues[str(v["id"])] = VenueInfo(str(v["id"]), str(v.get("name", "")), str(v.get("address", "")),
                                         parse_opening_hours(hours), hours)
    devices = [d for d in _tables(table, "devices")]
    zone = site.get("timezone", "")
    if zone:  # the site's own zone wins over the collector's default
        tz = time_zone(zone if isinstance(zone, str) else repr(zone), f"{path}: [site] timezone")
    return SiteInfo(site["site"], str(site.get("name", "")), directory, tz, str(site.get("base_url", "")), venues,
                    {str(d["id"]): str(d.get("venue", "")) for d in devices if d.get("venue")},
                    {str(d["id"]): str(d.get("door", "")) for d in devices}, _language(site.get("language")))


def _language(value: object) -> str:
    if value in (None, ""):
        return ""
    if value not in ("vi", "en"):
        log.warning("collector: [site] language %r is not vi or en; the office's default applies", value)
        return ""
    return str(value)


def _tables(table: dict[str, object], key: str) -> list[dict[str, object]]:
    items = table.get(key, [])
    if not isinstance(items, list):
        raise ConfigError(key, "must be an array of tables")
    return [i for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]


def load_sites(directories: list[Path], timezone: str = "") -> dict[str, SiteInfo]:
    tz = time_zone(timezone)
    sites = {}
    for directory in directories:
        info = load_site(directory, tz)
        sites[info.site] = info
    return sites
