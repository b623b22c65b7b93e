"""What every request of the collector's web side shares: the store, logins, limits, languages, settings."""

from __future__ import annotations

import datetime as dt
import gettext
import ipaddress
import threading
from dataclasses import dataclass, field

from entryscan.collector.citizens import DEFAULT_LIMITS, ReportLimits
from entryscan.collector.health import IngestProbe
from entryscan.collector.live import Live
from entryscan.collector.metrics import Metrics
from entryscan.collector.rules import RuleSettings
from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.venue import BoardChecker
from entryscan.collector.web import i18n
from entryscan.collector.web.auth import Auth
from entryscan.collector.web.csrf import Csrf
from entryscan.collector.web.mapview import TileSettings
from entryscan.collector.web.pagecache import PageCache
from entryscan.collector.web.ratelimit import RateLimiter
from entryscan.collector.web.render import Renderer
from entryscan.device.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebSettings:
    """How the office is reached: the trusted reverse proxies (whose forwarding header alone names the
    client), whether the session cookie is ``Secure``, and the connection bounds of the server."""

    trusted_proxies: tuple[Network, ...] = ()
    proxy_header: str = "x-forwarded-for"
    secure_cookie: str = "auto"  # auto: Secure when the request came over https (directly or via the proxy)
    max_connections: int = 4000
    max_per_address: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keepalive_s: float = 5.0
    map_tiles: TileSettings = field(default_factory=TileSettings)  # --map-tiles, --map-attribution
    rules: RuleSettings = field(default_factory=RuleSettings)  # the office's pages judge doors as the rules do

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)


def parse_proxies(texts: list[str]) -> tuple[Network, ...]:
    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ConfigError("--trusted-proxy", f"want an address or network, got {text!r}") from None
    return tuple(out)


@dataclass
class WebApp:
    store: StoreBase
    auth: Auth
    live: Live
    sites: dict[str, SiteInfo]
    settings: WebSettings = field(default_factory=WebSettings)
    catalogs: dict[str, gettext.NullTranslations] | None = None
    default_zone: dt.tzinfo | None = None
    report_limits: ReportLimits = DEFAULT_LIMITS  # per address and board, counted in the store (citizens.py)

    def __post_init__(self) -> None:
        self.pages = PageCache(self.store)  # the fleet table and open alerts: seconds old at most, never after a write
        self.boards = BoardChecker(self.store)  # counts the boards citizens checked that were not current
        # Receipt pages, per client address: lookups at all, and codes that match no report (guessing).
        self.receipt_limit = RateLimiter(count=60, window_s=600)
        self.receipt_misses = RateLimiter(count=10, window_s=600)
        # The report form's bodies (up to 8 MiB each) read at once, and its photos decoded at once (a 40-megapixel
        # photo takes about 120 MB to decode): memory stays bounded however many citizens send at the same time.
        self.uploads = threading.BoundedSemaphore(16)
        self.photo_slots = threading.BoundedSemaphore(2)
        self.login_limit = RateLimiter(count=10, window_s=300)
        self.stopping = threading.Event()
        self.streams = threading.BoundedSemaphore(50)  # concurrent live-update connections
        self.ingest: IngestProbe | None = None  # the ingest's health probe (/healthz), when this process ingests
        self.metrics: Metrics | None = None  # served at /metrics behind the login or the API token
        self.csrf = Csrf()
        catalogs = self.catalogs if self.catalogs is not None else i18n.load_all()
        self.languages = tuple(catalogs)
        self.renderer = Renderer(catalogs, self.zone_of)
        self.language = i18n.site_default([s.language for s in self.sites.values()])

    def zone_of(self, site: object) -> dt.tzinfo | None:
        """The site's own zone for its times, else the collector's --timezone (else this machine's)."""
        info = self.sites.get(str(site)) if site else None
        if info is not None and info.timezone is not None:
            return info.timezone
        return self.default_zone

    def site_language(self, site: str) -> str:
        info = self.sites.get(site)
        return info.language if info is not None and info.language else self.language
