"""What the collector reads from a site folder: ``site.toml`` (venues, their doors and opening hours).

The manifest is written by ``entryscan-provision`` (format: SITE_TOML.md). The collector reads it
tolerantly: only the keys below, unknown keys ignored. Opening hours are local time of the site's
``[site] timezone`` (an IANA name such as ``Asia/Ho_Chi_Minh``), or for a manifest without one, of
the collector's ``--timezone`` (default: the collector machine's local time).
Opening hours are read by the one parser ``venue add`` checks them with (``provisioning.hours``:
``T2-T6 07:30-17:00; T7 08:00-12:00; CN nghỉ`` or ``Mon-Fri 07:30-17:00``). A venue the collector
cannot read (its hours, a missing name, a wrong type) is kept as a *problem* of the site, which the
rules raise as a ``venue_unreadable`` alert naming it: one bad venue never stops the office.
"""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from entryscan.device.errors import ConfigError
from entryscan.provisioning.hours import HoursError, OpeningHours, parse_opening_hours

__all__ = ["OpeningHours", "SiteInfo", "VenueInfo", "load_site", "load_sites", "parse_opening_hours", "time_zone"]

log = logging.getLogger("collector")

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class VenueInfo:
    id: str
    name: str
    address: str
    hours: OpeningHours
    hours_text: str
    commune: str = ""  # the commune/ward the venue belongs to ("" = not recorded)
    lat: float | None = None
    lon: float | None = None
    version: int = 1


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
    problems: dict[str, str] = field(default_factory=dict)  # venue id -> why the collector cannot read it
    # venue id -> the same problem as a code and its parameters, which the pages word in their language
    problem_codes: dict[str, dict[str, str]] = field(default_factory=dict)
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
    venues, problems, codes = _venues(table, path)
    devices = [d for d in _tables(table, "devices")]
    zone = site.get("timezone", "")
    if zone:  # the site's own zone wins over the collector's default
        tz = time_zone(zone if isinstance(zone, str) else repr(zone), f"{path}: [site] timezone")
    return SiteInfo(site["site"], str(site.get("name", "")), directory, tz, str(site.get("base_url", "")), venues,
                    {str(d["id"]): str(d.get("venue", "")) for d in devices if d.get("venue")},
                    {str(d["id"]): str(d.get("door", "")) for d in devices}, problems, codes,
                    _language(site.get("language")))


class VenueError(ConfigError):
    """A venue record that cannot be read, with a ``code`` (and ``fields``) the pages word in their language."""

    def __init__(self, key: str, code: str, problem: str, fields: str = "") -> None:
        super().__init__(key, problem)
        self.code, self.fields = code, fields


def problem_code(exc: ConfigError) -> dict[str, str]:
    """``{"code": ...}`` plus its parameters; ``text`` (English) for a ConfigError raised elsewhere."""
    if isinstance(exc, HoursError):
        return {"code": "hours_" + exc.kind, "token": exc.token}
    if isinstance(exc, VenueError):
        return {"code": exc.code, "fields": exc.fields}
    return {"code": "text", "text": str(exc)}


Codes = dict[str, dict[str, str]]


def _venues(table: dict[str, object], path: Path) -> tuple[dict[str, VenueInfo], dict[str, str], Codes]:
    """Every venue, each read on its own: one that cannot be read is a problem, not a refusal."""
    venues: dict[str, VenueInfo] = {}
    problems: dict[str, str] = {}
    codes: dict[str, dict[str, str]] = {}
    items = table.get("venues", [])
    for i, v in enumerate(items if isinstance(items, list) else []):
        vid = v.get("id") if isinstance(v, dict) else None
        key = vid if isinstance(vid, str) and vid else f"venues[{i}]"
        try:
            venues[key] = _venue(v, key)
        except ConfigError as exc:
            problems[key], codes[key] = str(exc), problem_code(exc)
            log.error("collector: %s: venue %s cannot be read: %s", path, key, exc)
    if not isinstance(items, list):
        problems["venues"] = "[[venues]] is not an array of tables"
        codes["venues"] = {"code": "not_array", "fields": ""}
    return venues, problems, codes


def _venue(v: object, key: str) -> VenueInfo:
    if not isinstance(v, dict) or not isinstance(v.get("id"), str):
        raise VenueError(key, "not_table", "is not a table with an id")
    texts = {k: v.get(k, "") for k in ("name", "address", "opening_hours", "commune")}
    bad = sorted(k for k, t in texts.items() if not isinstance(t, str))
    if bad:
        raise VenueError(key, "not_text", f"{', '.join(bad)} must be text", ", ".join(bad))
    if not texts["name"]:
        raise VenueError(key, "no_name", "has no name")
    lat, lon, version = v.get("lat"), v.get("lon"), v.get("version", 1)
    coords = [float(c) if isinstance(c, int | float) and not isinstance(c, bool) else None for c in (lat, lon)]
    return VenueInfo(key, str(texts["name"]), str(texts["address"]), parse_opening_hours(str(texts["opening_hours"])),
                     str(texts["opening_hours"]), str(texts["commune"]), coords[0], coords[1],
                     version if isinstance(version, int) and not isinstance(version, bool) else 1)


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
