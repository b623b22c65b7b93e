"""Serving the collector's web application with uvicorn (h11, one event loop in its own thread).

The listening socket is made here (backlog ``BACKLOG``), so the port is known before the thread starts and a
port already in use is a ConfigError, not a traceback. Connection bounds: ``connections.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import resource
import socket
import threading
from typing import Any

import uvicorn

from entryscan.collector.health import IngestProbe
from entryscan.collector.live import Live
from entryscan.collector.metrics import Metrics
from entryscan.collector.rules import RuleSettings
from entryscan.collector.site import SiteInfo, time_zone
from entryscan.collector.store import StoreBase
from entryscan.collector.web.app import WebApp, WebSettings, parse_proxies
from entryscan.collector.web.asgi import build_app
from entryscan.collector.web.auth import Auth
from entryscan.collector.web.connections import ConnectionBook, guarded_protocol
from entryscan.collector.web.mapview import parse_tiles
from entryscan.device.errors import ConfigError

log = logging.getLogger("collector")

BACKLOG = 1024
FILES_KEPT = 200  # open files the rest of the collector may need beside the web connections


def parse_address(text: str, option: str = "--http") -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(option, f"want HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def listen(address: tuple[str, int]) -> socket.socket:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError("--http", f"cannot listen on {address[0]}:{address[1]}: {exc.strerror}") from None
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


class WebServer:
    """uvicorn in a thread; ``shutdown`` ends the live streams, then the server (the old server's API)."""

    def __init__(self, app: WebApp, sock: socket.socket) -> None:
        self.app = app
        self.socket = sock
        self.server_address = sock.getsockname()[:2]
        self.book = ConnectionBook(app.settings)
        # proxy_headers off: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 by default;
        # the client address is ours to take, from --trusted-proxy only (context.client_address).
        config = uvicorn.Config(build_app(app), http=guarded_protocol(self.book), lifespan="off", ws="none", proxy_headers=False,
                                log_config=None, access_log=False, backlog=BACKLOG, server_header=False,
                                timeout_keep_alive=max(1, int(app.settings.keepalive_s)),
                                timeout_graceful_shutdown=3, h11_max_incomplete_event_size=16 * 1024)
        self.uvicorn = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        asyncio.run(self.uvicorn.serve(sockets=[self.socket]))

    def start(self) -> WebServer:
        self.thread = threading.Thread(target=self.serve_forever, name="collector-http", daemon=True)
        self.thread.start()
        return self

    def shutdown(self) -> None:
        self.app.stopping.set()
        self.uvicorn.should_exit = True
        if self.thread is not None:
            self.thread.join(10)

    def server_close(self) -> None:
        self.socket.close()


def settings_from(args: argparse.Namespace) -> WebSettings:
    defaults = WebSettings()
    return WebSettings(trusted_proxies=parse_proxies(getattr(args, "trusted_proxy", None) or []),
                       proxy_header=(getattr(args, "proxy_header", None) or defaults.proxy_header).lower(),
                       secure_cookie=getattr(args, "secure_cookie", None) or defaults.secure_cookie,
                       max_connections=getattr(args, "max_connections", None) or defaults.max_connections,
                       max_per_address=getattr(args, "max_connections_per_address", None)
                       or defaults.max_per_address,
                       map_tiles=parse_tiles(getattr(args, "map_tiles", None), getattr(args, "map_attribution", None)),
                       rules=rules_from(args))


def rules_from(args: argparse.Namespace) -> RuleSettings:
    """The office's pages call a door offline, or a list stale, after the same times the rules do."""
    defaults = RuleSettings()
    offline, stale = getattr(args, "offline_minutes", None), getattr(args, "stale_list_hours", None)
    return RuleSettings(offline_s=offline * 60 if offline else defaults.offline_s,
                        stale_list_s=stale * 3600 if stale else defaults.stale_list_s)


def within_file_limit(settings: WebSettings) -> WebSettings:
    """Connections beyond the process's open-file limit would fail in accept(): keep the cap below it."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = soft - FILES_KEPT if soft != resource.RLIM_INFINITY else settings.max_connections
    if settings.max_connections <= room:
        return settings
    log.warning("collector: --max-connections %d is over the open-file limit %d; using %d", settings.max_connections,
                soft, max(room, 1))
    return dataclasses.replace(settings, max_connections=max(room, 1),
                               max_per_address=min(settings.max_per_address, max(room, 1)))


def make_server(args: argparse.Namespace, store: StoreBase, live: Live, sites: dict[str, SiteInfo],
                **web_options: Any) -> WebServer:
    auth = Auth.from_files(args.users, args.api_token_file)
    if not auth.users and not auth.token:
        raise ConfigError("--http", "needs --users FILE and/or --api-token-file FILE (no open dashboards)")
    zone = time_zone(getattr(args, "timezone", "") or "")
    settings = within_file_limit(web_options.pop("settings", None) or settings_from(args))
    ingest: IngestProbe | None = web_options.pop("ingest", None)
    metrics: Metrics | None = web_options.pop("metrics", None)
    app = WebApp(store, auth, live, sites, settings, default_zone=zone, **web_options)
    app.ingest, app.metrics = ingest, metrics
    return WebServer(app, listen(parse_address(args.http)))


def start_web(args: argparse.Namespace, store: StoreBase, live: Live, sites: dict[str, SiteInfo],
              ingest: IngestProbe | None = None, metrics: Metrics | None = None) -> WebServer:
    server = make_server(args, store, live, sites, ingest=ingest, metrics=metrics).start()
    host, port = server.server_address
    log.info("collector: serving http://%s:%s/", host, port)
    return server
