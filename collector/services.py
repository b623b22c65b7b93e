"""What runs beside ingest in one collector process: the fleet rules loop and the web server."""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from entryscan.collector.live import Live
from entryscan.collector.store import StoreBase

log = logging.getLogger("collector")


@dataclass
class Services:
    done: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    server: Any = None
    web_store: StoreBase | None = None

    @classmethod
    def start(cls, args: argparse.Namespace, store: StoreBase, live: Live) -> Services:
        services = cls()
        from entryscan.collector.rules import RuleSettings, run_rules_forever
        from entryscan.collector.site import load_sites

        sites = load_sites(args.site_dir, args.timezone)
        settings = RuleSettings(offline_s=args.offline_minutes * 60, idle_s=args.idle_minutes * 60,
                                gap_s=args.gap_minutes * 60, stale_list_s=args.stale_list_hours * 3600)
        rules = threading.Thread(target=run_rules_forever, name="collector-rules", daemon=True,
                                 args=(store, sites, settings, args.rules_interval, services.done))
        rules.start()
        services.threads.append(rules)
        if args.http:
            from entryscan.collector.store import open_store
            from entryscan.collector.web.server import start_web

            # The web side reads through its own connection, never waiting behind an ingest batch.
            services.web_store = open_store(args.db)
            services.server = start_web(args, services.web_store, live, sites)
        return services

    def stop(self) -> None:
        self.done.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for t in self.threads:
            t.join(5)
        if self.web_store is not None:
            self.web_store.close()
