"""Signed venue URLs: what a venue QR board encodes, and how anyone holding the site's public key checks it.

URL: ``BASE/v/SITE/VENUE?n=VERSION&k=KID&h=DIGESTS&s=SIG`` (all parameters base64url without padding
except n):

* ``k``: the first 4 bytes of SHA-256 over the raw 32-byte Ed25519 public key (``venues.pub``);
* ``h``: 18 bytes, three 6-byte SHA-256 prefixes over ``name``, ``address`` and the coordinates
  ``"%.6f,%.6f" % (lat, lon)``, each hashed as ``b"<field>\\0" + UTF-8 text`` (the text exactly as registered);
* ``s``: Ed25519 signature (64 bytes) by the site's ``venues.key`` over
  ``b"entryscan-venue-v1\\n" + "\\n".join([BASE, SITE, VENUE, str(VERSION)]) + b"\\n" + h``.

The signature is checked from the URL alone (so a board is genuine or not without the registry), then the
signed digests are compared with the registry's current record for the venue (so an outdated or wrong
board is told apart from a forged one). A board vouches for the *place* (name, address, coordinates):
one signed for an earlier version of the same place is genuine, its details updated since (``state``
``details_updated``: the commune it prints, or hours and contact it never printed, may have changed);
one whose place changed since is refused (``place_changed``); one for an earlier version that prints
exactly what the current one would (only hours, contact or officer changed) is ``current``. Opening hours, contact and commune are
not signed: they change without a new board.
The collector imports :func:`verify_venue_url` (or :class:`VenueVerifier` to load the keys once).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from entryscan.device.config.settings import ID_PATTERN
from entryscan.device.errors import ConfigError
from entryscan.provisioning import manifest
from entryscan.provisioning.manifest import Manifest, Venue

DOMAIN = b"entryscan-venue-v1\n"
MAX_URL = 1024
DIGEST_BYTES = 6
FIELDS = ("name", "address", "coordinates")
PUBLIC_KEY_FILE = "venues.pub"
PRIVATE_KEY_FILE = "venues.key"
PATH = re.compile(r"(?P<base>.*)/v/(?P<site>[^/?#]+)/(?P<venue>[^/?#]+)")
Signature = Literal["ok", "bad", "unknown_key"]
# current: prints what is registered now; details_updated: same place, printed details (the commune) changed
# since (calm: show today's details);
# place_changed / unknown_venue / wrong_base: refused; forged: bad signature or URL; foreign: another site's key.
BoardState = Literal["current", "details_updated", "place_changed", "unknown_venue", "wrong_base", "forged",
                     "foreign"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def field_digests(venue: Venue) -> bytes:
    values = (venue.name, venue.address, venue.coordinates)
    return b"".join(hashlib.sha256(f"{n}\0{v}".encode()).digest()[:DIGEST_BYTES] for n, v in zip(FIELDS, values,
                                                                                                   strict=True))


def key_id(public_key: ed25519.Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:4]


def signed_message(base: str, site: str, venue: str, version: int, digests: bytes) -> bytes:
    return DOMAIN + "\n".join([base, site, venue, str(version)]).encode() + b"\n" + digests


def check_base_url(base: str) -> str:
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment \
            or base.endswith("/") or parts.username or len(base) > 200:
        raise ConfigError("--base-url", "must be https://HOST[/PATH] without a trailing slash, query or user")
    return base


def sign_venue_url(base: str, site: str, venue: Venue, key: ed25519.Ed25519PrivateKey) -> str:
    check_base_url(base)
    digests = field_digests(venue)
    signature = key.sign(signed_message(base, site, venue.id, venue.version, digests))
    query = f"n={venue.version}&k={b64url(key_id(key.public_key()))}&h={b64url(digests)}&s={b64url(signature)}"
    return f"{base}/v/{site}/{venue.id}?{query}"


@dataclass(frozen=True)
class VenueCheck:
    """The outcome for one URL. ``venue``/``site`` are what the URL claims (None when unparseable)."""

    signature: Signature
    matches_registry: bool
    differences: list[str] = field(default_factory=list)
    site: str | None = None
    venue: str | None = None
    version: int | None = None
    record: Venue | None = None  # the registry's current record for the venue, when there is one
    state: BoardState = "forged"
    printed_for: Venue | None = None  # the registry's record of the version the board was signed for

    @property
    def genuine(self) -> bool:
        """Signed by this site and vouching for the venue's place as registered now."""
        return self.state in ("current", "details_updated")

    @property
    def updated_on(self) -> str:
        """When the venue's current details were recorded (``details_updated`` boards), else ""."""
        return self.record.updated if self.record is not None and self.state == "details_updated" else ""


@dataclass(frozen=True)
class _Claim:
    base: str
    site: str
    venue: str
    version: int
    kid: bytes
    digests: bytes
    signature: bytes


def parse_venue_url(url: str) -> _Claim | None:
    """The URL's parts, or None when it is not a well-formed venue URL."""
    if len(url) > MAX_URL:
        return None
    head, _, query = url.partition("?")
    match = PATH.fullmatch(head)
    params = urllib.parse.parse_qs(query, keep_blank_values=True, max_num_fields=8)
    if match is None or any(len(params.get(k, [])) != 1 for k in "nkhs") or len(params) != 4:
        return None
    if not (ID_PATTERN.fullmatch(match["site"]) and ID_PATTERN.fullmatch(match["venue"])):
        return None
    try:
        version = int(params["n"][0]) if params["n"][0].isdigit() else -1
        kid, digests, sig = (unb64url(params[k][0]) for k in "khs")
    except (ValueError, binascii.Error):
        return None
    if not 1 <= version < 2**31 or len(kid) != 4 or len(digests) != 3 * DIGEST_BYTES or len(sig) != 64:
        return None
    return _Claim(match["base"], match["site"], match["venue"], version, kid, digests, sig)


class VenueVerifier:
    """Checks venue URLs against one site folder (its ``venues.pub`` and ``site.toml``)."""

    def __init__(self, site_dir: Path) -> None:
        self.manifest: Manifest = manifest.load(site_dir, lenient=True)  # a bad venue leaves the others checkable
        try:
            key = serialization.load_pem_public_key((site_dir / PUBLIC_KEY_FILE).read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(str(site_dir / PUBLIC_KEY_FILE), f"cannot load the venue key: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ConfigError(str(site_dir / PUBLIC_KEY_FILE), "is not an Ed25519 public key")
        self.public_key = key
        self.kid = key_id(key)

    def verify(self, url: str) -> VenueCheck:
        claim = parse_venue_url(url)
        if claim is None:
            return VenueCheck("bad", False, ["not a well-formed entryscan venue URL"])
        ids = (claim.site, claim.venue, claim.version)
        if claim.site != self.manifest.site or claim.kid != self.kid:
            why = f"site {claim.site!r}" if claim.site != self.manifest.site else "another key"
            return VenueCheck("unknown_key", False, [f"signed by {why}, not by site {self.manifest.site!r}"], *ids,
                              state="foreign")
        message = signed_message(claim.base, claim.site, claim.venue, claim.version, claim.digests)
        try:
            self.public_key.verify(claim.signature, message)
        except InvalidSignature:
            return VenueCheck("bad", False, ["the signature does not match the URL's contents"], *ids)
        record = self.manifest.venue(claim.venue)
        state, differences = self._compare(claim, record)
        return VenueCheck("ok", state in ("current", "details_updated"), differences, *ids, record=record,
                          state=state, printed_for=self.manifest.venue_version(claim.venue, claim.version))

    def _compare(self, claim: _Claim, record: Venue | None) -> tuple[BoardState, list[str]]:
        if record is None:
            return "unknown_venue", [f"venue {claim.venue!r} is not in the registry"]
        if self.manifest.base_url and claim.base != self.manifest.base_url:
            return "wrong_base", [f"base_url: board {claim.base!r}, registry {self.manifest.base_url!r}"]
        current = field_digests(record)
        changed = [f"{name}: the board's differs from the registry's" for i, name in enumerate(FIELDS)
                   if claim.digests[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES]
                   != current[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES]]
        if changed:
            return "place_changed", [f"version: board {claim.version}, registry {record.version}", *changed]
        printed_for = self.manifest.venue_version(claim.venue, claim.version)
        if claim.version != record.version and (printed_for is None or printed_for.printed != record.printed):
            when = f" on {record.updated[:10]}" if record.updated else ""
            return "details_updated", [f"details updated{when}: board version {claim.version}, registry "
                                       + f"{record.version} (same place)"]
        return "current", []  # an earlier version printing the same text (only hours or contact changed)


def verify_venue_url(url: str, site_dir: Path) -> VenueCheck:
    """One-shot check of ``url`` against the site in ``site_dir`` (raises ConfigError for a broken site dir)."""
    return VenueVerifier(site_dir).verify(url)


def load_signing_key(site_dir: Path) -> ed25519.Ed25519PrivateKey:
    from entryscan.device.keys import _read_private

    data = _read_private(site_dir / PRIVATE_KEY_FILE, PRIVATE_KEY_FILE)
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(str(site_dir / PRIVATE_KEY_FILE), "is not an Ed25519 private key")
    return key
