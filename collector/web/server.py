"""The collector's HTTP server (stdlib ThreadingHTTPServer): dashboard, JSON API, public venue pages.

Everything operator-facing needs a session (``--users``) or ``Authorization: Bearer`` (``--api-token-file``);
only ``/healthz``, ``/login``, ``/static/`` and the public venue pages ``/v/SITE/VENUE`` are open.
Request bodies are bounded; reports and logins are rate-limited per client address.
"""

from __future__ import annotations

import argparse
import logging
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from entryscan.collector.health import IngestProbe
from entryscan.collector.live import Live
from entryscan.collector.metrics import Metrics
from entryscan.collector.site import SiteInfo
from entryscan.collector.store import StoreBase
from entryscan.collector.web.app import WebApp
from entryscan.collector.web.auth import Auth
from entryscan.collector.web.handler import Handler
from entryscan.device.errors import ConfigError

log = logging.getLogger("collector")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: WebApp) -> None:
        super().__init__(address, Handler)
        self.app = app

    def shutdown(self) -> None:
        self.app.stopping.set()
        self.app.live.bump()  # wake live-update streams so they end
        super().shutdown()


def parse_address(text: str, option: str = "--http") -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(option, f"want HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def make_server(args: argparse.Namespace, store: StoreBase, live: Live, sites: dict[str, SiteInfo],
                ingest: IngestProbe | None = None, metrics: Metrics | None = None) -> Server:
    auth = Auth.from_files(args.users, args.api_token_file)
    if not auth.users and not auth.token:
        raise ConfigError("--http", "needs --users FILE and/or --api-token-file FILE (no open dashboards)")
    app = WebApp(store, auth, live, sites)
    app.ingest, app.metrics = ingest, metrics
    return Server(parse_address(args.http), app)


def start_web(args: argparse.Namespace, store: StoreBase, live: Live, sites: dict[str, SiteInfo],
              ingest: IngestProbe | None = None, metrics: Metrics | None = None) -> Any:
    server = make_server(args, store, live, sites, ingest, metrics)
    thread = threading.Thread(target=server.serve_forever, name="collector-http", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    log.info("collector: serving http://%s:%s/", host, port)
    return server
