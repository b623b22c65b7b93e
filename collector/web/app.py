"""What every request handler of the collector's web server shares."""

from __future__ import annotations

import threading

from entryscan.collector.health import IngestProbe
from entryscan.collector.live import Live
from entryscan.collector.metrics import Metrics
from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.venue import BoardChecker
from entryscan.collector.web.auth import Auth
from entryscan.collector.web.ratelimit import RateLimiter


class WebApp:
    """What every request handler shares."""

    def __init__(self, store: StoreBase, auth: Auth, live: Live, sites: dict[str, SiteInfo]) -> None:
        self.store = store
        self.auth = auth
        self.live = live
        self.sites = sites
        self.boards = BoardChecker()
        self.report_limit = RateLimiter(count=3, window_s=600)
        self.login_limit = RateLimiter(count=10, window_s=300)
        self.stopping = threading.Event()
        self.streams = threading.BoundedSemaphore(50)  # concurrent live-update connections
        self.ingest: IngestProbe | None = None  # the ingest's health probe (/healthz), when this process ingests
        self.metrics: Metrics | None = None  # served at /metrics behind the login or the API token
