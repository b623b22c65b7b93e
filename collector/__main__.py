"""``entryscan-collector``: store every scanner's events, confirm them to the doors, watch the fleet.

Modes: ``entryscan-collector --url URL --db DB`` ingests (and with ``--http`` serves the dashboard),
``--report`` prints the fleet view; subcommands ``serve`` (same options), ``report`` (entries of a
site between two dates as CSV or JSON), ``violations`` (premises showing signs of violation, per commune)
and ``simulate`` (virtual doors for load tests and demos).
"""

from __future__ import annotations

import logging
import signal
import sys
from argparse import Namespace
from collections.abc import Callable
from types import FrameType

from entryscan.collector.cli import ingest_options, parse_args
from entryscan.collector.fleet import fleet, render
from entryscan.collector.ingest import Ingestor
from entryscan.collector.live import Live
from entryscan.collector.metrics import Metrics
from entryscan.collector.services import Services
from entryscan.collector.store import Batch, StoreBase, is_postgres_url, open_store
from entryscan.device.errors import EntryscanError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "report":
        from entryscan.collector.report import main as report_main

        return report_main(argv[1:])
    if argv and argv[0] == "violations":
        from entryscan.collector.violations_cli import main as violations_main

        return violations_main(argv[1:])
    if argv and argv[0] == "simulate":
        from entryscan.collector.simulate import main as simulate_main

        return simulate_main(argv[1:])
    if argv and argv[0] == "users":
        from entryscan.collector.users_cli import main as users_main

        return users_main(argv[1:])
    if argv and argv[0] == "serve":
        argv = argv[1:]
    args = parse_args(argv)
    if args.report:
        return _fleet_report(args.db)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        store = open_store(args.db)
    except EntryscanError as exc:
        print(f"entryscan-collector: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args, store)
    except EntryscanError as exc:
        print(f"entryscan-collector: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _fleet_report(db: str) -> int:
    from pathlib import Path

    if not is_postgres_url(db) and not Path(db).exists():
        print(f"entryscan-collector: {db} does not exist", file=sys.stderr)
        return 2
    store = open_store(db)
    try:
        print(render(fleet(store)))
    finally:
        store.close()
    return 0


def _run(args: Namespace, store: StoreBase) -> int:
    live = Live()
    new_entries = 0
    stoppers: list[Callable[[], None]] = []

    def on_batch(batch: Batch) -> None:
        nonlocal new_entries
        fresh = [r for r in batch.results if r.new]
        for r in fresh:
            if not args.quiet:
                print(f"[collector] {r.line}", flush=True)
        count = sum(r.kind == "entry" for r in fresh)
        new_entries += count
        if fresh:
            live.bump()
        if args.once_count and new_entries >= args.once_count:
            for stop in stoppers:
                stop()

    ingestor = Ingestor(ingest_options(args), store, on_batch) if args.url else None
    metrics = Metrics()
    if ingestor is not None:
        ingestor.observers.append(metrics.observe_batch)
    services = Services.start(args, store, live, ingestor.health if ingestor is not None else None, metrics)
    if ingestor is not None:
        stoppers.append(ingestor.done.set)
    done = ingestor.done if ingestor is not None else services.done

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if ingestor is not None:
            ingestor.run()
        else:
            done.wait()
    finally:
        services.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
