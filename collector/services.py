"""What runs beside ingest in one collector process: the fleet rules loop and the web server."""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from entryscan.collector.health import IngestProbe
from entryscan.collector.live import Live
from entryscan.collector.metrics import Metrics
from entryscan.collector.store import StoreBase
from entryscan.device.errors import ConfigError

log = logging.getLogger("collector")


@dataclass
class Services:
    done: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    server: Any = None
    web_store: StoreBase | None = None
    metrics_server: Any = None

    @classmethod
    def start(cls, args: argparse.Namespace, store: StoreBase, live: Live, ingest: IngestProbe | None = None,
              metrics: Metrics | None = None) -> Services:
        """``ingest`` is the ingest's health probe (None without ``--url``), ``metrics`` its counters."""
        services = cls()
        from entryscan.collector.rules import RuleSettings, run_rules_forever
        from entryscan.collector.site import load_sites

        sites = load_sites(args.site_dir, args.timezone)
        settings = RuleSettings(offline_s=args.offline_minutes * 60, idle_s=args.idle_minutes * 60,
                                gap_s=args.gap_minutes * 60, stale_list_s=args.stale_list_hours * 3600)
        from entryscan.collector.citizens import KEEP_CLOSED_DAYS, ReportAgeing
        from entryscan.collector.office_tables import Publisher
        from entryscan.collector.site import time_zone

        publisher = Publisher(store, sites, settings, time_zone(getattr(args, "timezone", "") or ""))
        ageing = ReportAgeing(store, getattr(args, "keep_closed_days", KEEP_CLOSED_DAYS))

        def after_round() -> None:  # the office's tables for Grafana, then (hourly) the closed reports' ageing
            publisher()
            ageing()

        rules = threading.Thread(target=run_rules_forever, name="collector-rules", daemon=True,
                                 args=(store, sites, settings, args.rules_interval, services.done, after_round))
        rules.start()
        services.threads.append(rules)
        if args.http or getattr(args, "metrics", ""):
            from entryscan.collector.store import open_store

            # The web side reads through its own connection, never waiting behind an ingest batch.
            services.web_store = open_store(args.db)
        if metrics is not None and services.web_store is not None:
            metrics.watch(services.web_store, ingest)
        if args.http and services.web_store is not None:
            from entryscan.collector.web.server import start_web

            services.server = start_web(args, services.web_store, live, sites, ingest=ingest, metrics=metrics)
        if getattr(args, "metrics", "") and metrics is not None:
            services.metrics_server = start_metrics(args.metrics, metrics)
        return services

    def stop(self) -> None:
        self.done.set()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for t in self.threads:
            t.join(5)
        if self.web_store is not None:
            self.web_store.close()


def start_metrics(address: str, metrics: Metrics) -> Any:
    """``/metrics`` without login on its own address (``--metrics HOST:PORT``): bind it to a private one."""
    from prometheus_client import start_http_server

    from entryscan.collector.web.server import parse_address

    host, port = parse_address(address, "--metrics")
    try:
        server, _ = start_http_server(port, host, registry=metrics.registry)
    except OSError as exc:
        raise ConfigError("--metrics", f"cannot listen on {address}: {exc}") from None
    log.info("collector: metrics on http://%s:%s/metrics", host, server.server_address[1])
    return server
