"""The site manifest ``site.toml``: the site, its venues and its devices (format: docs in SITE_TOML.md).

The manifest is the registry the district office checks boards against and the
broker ACL is generated from. It is rewritten whole (to a temporary file, then
renamed) so a crash never leaves half a manifest. Text is stored exactly as
given (Vietnamese diacritics included); control characters are refused so a
name can never break the file or a printed board.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
import zoneinfo
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from entryscan.device.config.settings import ID_PATTERN
from entryscan.device.errors import ConfigError

MANIFEST = "site.toml"
FORMAT = 1
MAX_TEXT = 200
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
RESERVED_IDS = frozenset({"collector", "lists"})  # MQTT usernames / topic levels the tooling uses itself


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ConfigError(what, f"must match [a-z0-9][a-z0-9_-]{{0,62}} (got {value!r})")
    return value


def check_text(value: str, what: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ConfigError(what, "must be text")
    if required and not value.strip():
        raise ConfigError(what, "must not be empty")
    if len(value) > limit:
        raise ConfigError(what, f"longer than {limit} characters")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ConfigError(what, "holds control characters (line breaks, tabs ...)")
    return value


LANGUAGES = ("vi", "en")


def check_language(value: object, what: str) -> str:
    """A site's page language: one of ``LANGUAGES``, or empty for the office's default."""
    if value in ("", None):
        return ""
    if value not in LANGUAGES:
        raise ConfigError(what, f"want one of {', '.join(LANGUAGES)}, got {value!r}")
    return str(value)


def check_timezone(value: object, what: str) -> str:
    """An IANA time zone name (``Asia/Ho_Chi_Minh``) the system's zone database knows, or empty."""
    if value == "":
        return ""
    if not isinstance(value, str) or len(value) > 64:
        raise ConfigError(what, "must be an IANA time zone name such as Asia/Ho_Chi_Minh")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(what, f"unknown time zone {value!r} (want an IANA name such as Asia/Ho_Chi_Minh)") from None
    return value


def check_coordinate(value: object, what: str, bound: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(what, "must be a number")
    if not -bound <= value <= bound:
        raise ConfigError(what, f"must be within -{bound:g}..{bound:g}")
    return round(float(value), 6)  # ~0.1 m; the signed form has exactly six decimals


@dataclass(frozen=True)
class Venue:
    id: str
    name: str
    address: str
    lat: float
    lon: float
    opening_hours: str = ""
    version: int = 1
    # Printed on the board but not signed: a change leaves boards genuine, their page says "details updated".
    commune: str = ""
    # Neither printed nor signed: a change leaves every board as current as it was.
    contact: str = ""
    officer: str = ""  # the commune officer who answers for the venue
    updated: str = ""  # when this version was recorded (ISO 8601 UTC; "" for versions before the field)

    def check(self, where: str) -> Venue:
        check_id(self.id, f"{where}.id")
        check_text(self.name, f"{where}.name")
        check_text(self.address, f"{where}.address")
        for key in ("opening_hours", "commune", "contact", "officer", "updated"):
            check_text(getattr(self, key), f"{where}.{key}", required=False)
        check_coordinate(self.lat, f"{where}.lat", 90)
        check_coordinate(self.lon, f"{where}.lon", 180)
        if isinstance(self.version, bool) or not isinstance(self.version, int) or not 1 <= self.version < 2**31:
            raise ConfigError(f"{where}.version", "must be an integer 1..2147483647")
        return self

    @property
    def coordinates(self) -> str:
        return f"{self.lat:.6f},{self.lon:.6f}"

    @property
    def place(self) -> tuple[str, str, str]:
        """What a board vouches for (and its signature covers): a change here refuses older boards."""
        return self.name, self.address, self.coordinates

    @property
    def printed(self) -> tuple[str, str, str, str]:
        """Everything a board prints about the venue besides its QR code."""
        return self.name, self.address, self.coordinates, self.commune


@dataclass(frozen=True)
class DeviceRecord:
    id: str
    door: str
    venue: str = ""  # "" = not assigned to a venue
    certificate_sha256: str = ""
    certificate_serial: str = ""  # hex; a removed device's serial goes on the broker's CRL

    def check(self, where: str) -> DeviceRecord:
        check_id(self.id, f"{where}.id")
        check_id(self.door, f"{where}.door")
        if self.venue:
            check_id(self.venue, f"{where}.venue")
        return self


@dataclass(frozen=True)
class Manifest:
    site: str
    name: str
    prefix: str = "entryscan"
    base_url: str = ""
    timezone: str = ""  # the venues' opening hours are local time here (IANA name; empty: the collector's)
    language: str = ""  # the office's and venue pages' default language: "vi" or "en" (empty: the office's)
    venues: tuple[Venue, ...] = ()
    devices: tuple[DeviceRecord, ...] = ()
    retired_venues: tuple[Venue, ...] = field(default=())  # earlier versions, so old boards still verify
    retired_devices: tuple[DeviceRecord, ...] = field(default=())  # removed: their certificates are revoked

    def venue(self, venue_id: str) -> Venue | None:
        return next((v for v in self.venues if v.id == venue_id), None)

    def venue_version(self, venue_id: str, version: int) -> Venue | None:
        return next((v for v in (*self.venues, *self.retired_venues) if v.id == venue_id and v.version == version),
                    None)

    def device(self, device_id: str) -> DeviceRecord | None:
        return next((d for d in self.devices if d.id == device_id), None)

    def versions_of(self, venue_id: str) -> list[Venue]:
        """Every recorded version of a venue (retired ones and the current one), oldest first."""
        return sorted((v for v in (*self.venues, *self.retired_venues) if v.id == venue_id), key=lambda v: v.version)

    def with_venue(self, venue: Venue) -> Manifest:
        """Add ``venue``, or replace the current one with a new version (the old one is kept as retired)."""
        old = self.venue(venue.id)
        if old is None:
            return replace(self, venues=(*self.venues, replace(venue, version=1)))
        new = replace(venue, version=max(v.version for v in self.versions_of(venue.id)) + 1)
        venues = tuple(new if v.id == venue.id else v for v in self.venues)
        return replace(self, venues=venues, retired_venues=(*self.retired_venues, old))

    def with_device(self, device: DeviceRecord) -> Manifest:
        return replace(self, devices=(*self.devices, device))

    def without_device(self, device_id: str) -> Manifest:
        gone = [d for d in self.devices if d.id == device_id]
        return replace(self, devices=tuple(d for d in self.devices if d.id != device_id),
                       retired_devices=(*self.retired_devices, *gone))


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string of checked text is a TOML basic string
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise TypeError(f"cannot write {type(value).__name__} to the manifest")


def _table(header: str, record: object) -> list[str]:
    return [header, *(f"{k} = {_toml_value(v)}" for k, v in vars(record).items()), ""]


def dumps(manifest: Manifest) -> str:
    lines = ["# entryscan site manifest, written by entryscan-provision (format: SITE_TOML.md).",
             "# Edit with entryscan-provision; a hand edit must keep every venue's version growing.", "",
             "[site]", f"format = {FORMAT}"]
    lines += [f"{k} = {_toml_value(getattr(manifest, k))}" for k in ("site", "name", "prefix", "base_url")]
    if manifest.timezone:
        lines.append(f"timezone = {_toml_value(manifest.timezone)}")
    if manifest.language:
        lines.append(f"language = {_toml_value(manifest.language)}")
    lines.append("")
    for venue in manifest.venues:
        lines += _table("[[venues]]", venue)
    for device in manifest.devices:
        lines += _table("[[devices]]", device)
    for venue in manifest.retired_venues:
        lines += _table("[[retired_venues]]", venue)
    for device in manifest.retired_devices:
        lines += _table("[[retired_devices]]", device)
    return "\n".join(lines)


def _records(table: dict[str, Any], key: str, cls: type[Any], lenient: bool = False) -> tuple[Any, ...]:
    """The records of one array; ``lenient`` skips a bad one instead of refusing the whole manifest."""
    items = table.get(key, [])
    if not isinstance(items, list):
        raise ConfigError(key, "must be an array of tables")
    out = []
    for i, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ConfigError(f"{key}[{i}]", "must be a table")
            try:
                out.append(cls(**item).check(f"{key}[{i}]"))
            except TypeError as exc:
                raise ConfigError(f"{key}[{i}]", f"unexpected or missing keys: {exc}") from None
        except ConfigError:
            if not lenient:
                raise
    return tuple(out)


def loads(text: str, lenient: bool = False) -> Manifest:
    """The manifest in ``text``; ``lenient`` (the collector's board checks) skips venue and device records
    it cannot read, so one bad venue never stops every other board from being checked."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(MANIFEST, str(exc)) from None
    site = table.get("site")
    if not isinstance(site, dict) or site.get("format") != FORMAT:
        raise ConfigError(f"{MANIFEST}: site", f"missing, or format is not {FORMAT}")
    manifest = Manifest(
        site=check_id(site.get("site", ""), "site.site"), name=check_text(site.get("name", ""), "site.name"),
        prefix=check_text(site.get("prefix", "entryscan"), "site.prefix"),
        base_url=check_text(site.get("base_url", ""), "site.base_url", required=False),
        timezone=check_timezone(site.get("timezone", ""), "site.timezone"),
        language=check_language(site.get("language", ""), "site.language"),
        venues=_records(table, "venues", Venue, lenient), devices=_records(table, "devices", DeviceRecord, lenient),
        retired_venues=_records(table, "retired_venues", Venue, lenient),
        retired_devices=_records(table, "retired_devices", DeviceRecord, lenient))
    for key, ids in (("venues", [v.id for v in manifest.venues]), ("devices", [d.id for d in manifest.devices])):
        if len(ids) != len(set(ids)):
            raise ConfigError(f"{MANIFEST}: {key}", "an id appears twice")
    return manifest


def load(site_dir: Path, lenient: bool = False) -> Manifest:
    path = site_dir / MANIFEST
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(str(path), "no site manifest here (run entryscan-provision site init)") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ConfigError(str(path), f"larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return loads(data.decode("utf-8"), lenient)
    except UnicodeDecodeError:
        raise ConfigError(str(path), "is not UTF-8") from None


def save(site_dir: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically (the text is checked by reading it back first)."""
    text = dumps(manifest)
    if loads(text) != manifest:
        raise ConfigError(MANIFEST, "would not read back identically; not written")
    tmp = site_dir / f".{MANIFEST}.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, site_dir / MANIFEST)
