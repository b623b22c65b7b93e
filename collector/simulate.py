"""``entryscan-collector simulate --url URL --devices N --events M [--rate R]``: virtual doors for load and demos.

Each virtual door is the device's own delivery code: a journal file (``Journal``) and the real
``MqttPublisher`` thread, so the collector sees exactly what a fleet sends, with retries, restarts
and confirmations. ``M`` entries in total are journaled round-robin over the doors, at ``R`` per
second overall (0: as fast as the journals take them); then it waits until every journal is empty
(delivered, and confirmed where the doors' delivery mode asks for it) and prints one JSON summary.

At most ``DOORS_PER_PROCESS`` doors share a process: a door holds about nine file descriptors and
paho's loop uses select(), which fails (as a lost connection) on descriptors above 1023; a real
door is one process, so larger fleets are split over worker processes.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from entryscan.device import __version__
from entryscan.device.access.clock import SystemClock
from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher

DOORS_PER_PROCESS = 50
DECISIONS = [("accept", "ok")] * 8 + [("deny", "not_allowed"), ("deny", "expired")]


@dataclass
class VirtualDoor:
    device: str
    journal: Journal
    publisher: MqttPublisher

    def record(self, rng: random.Random) -> None:
        decision, reason = rng.choice(DECISIONS)
        self.journal.record_entry({"decision": decision, "reason": reason, "credential_type": "badge",
                                   "subject": f"p-{rng.randrange(10_000):04d}", "policy_version": "sim",
                                   "clock_synced": True})
        self.publisher.notify()

    def close(self) -> None:
        self.publisher.stop(5)
        self.journal.close()


def start_doors(url: str, site: str, count: int, directory: Path, prefix: str = "entryscan",
                first: int = 1) -> list[VirtualDoor]:
    clock = SystemClock()
    doors = []
    for i in range(first, first + count):
        device = f"sim-{i:04d}"
        path = directory / device / "journal.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = Journal(path, device=device, site=site, door="main", max_rows=1_000_000, clock=clock)
        cfg = MqttConfig(url=url, topic_prefix=prefix, client_id=f"{site}-{device}", keepalive_s=30,
                         discovery=False, state_interval_s=30.0)
        publisher = MqttPublisher(cfg, device=device, site=site, door="main", journal_path=path,
                                  max_rows=1_000_000, clock=clock, state_provider=lambda: {"simulated": True},
                                  firmware=__version__)
        publisher.start()
        doors.append(VirtualDoor(device, journal, publisher))
    return doors


def run(doors: list[VirtualDoor], events: int, rate: float, seed: int = 1) -> float:
    """Journal ``events`` entries round-robin; return the seconds it took."""
    rng = random.Random(seed)
    start = time.monotonic()
    for n in range(events):
        doors[n % len(doors)].record(rng)
        if rate > 0:
            delay = start + (n + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return time.monotonic() - start


def wait_drained(doors: list[VirtualDoor], timeout: float) -> int:
    """Wait until every journal is empty; return the rows still held at the end."""
    deadline = time.monotonic() + timeout
    while True:
        left = sum(d.journal.backlog() for d in doors)
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="entryscan-collector simulate", description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="mqtt://host:port (loopback) of the broker")
    p.add_argument("--devices", type=int, default=10)
    p.add_argument("--events", type=int, default=1000, help="entries in total, over all doors")
    p.add_argument("--rate", type=float, default=0.0, help="entries per second overall (0: unthrottled)")
    p.add_argument("--site", default="sim")
    p.add_argument("--prefix", default="entryscan")
    p.add_argument("--dir", type=Path, default=None, help="where the journals live (default: a temporary dir)")
    p.add_argument("--drain-timeout", type=float, default=300.0)
    p.add_argument("--first", type=int, default=1, help=argparse.SUPPRESS)  # a worker's first door number
    args = p.parse_args(argv)
    if not 1 <= args.devices <= 2000 or args.events < 0:
        p.error("--devices 1..2000 and --events >= 0")
    return args


def run_workers(args: argparse.Namespace) -> dict[str, object]:
    """Split the fleet over worker processes of at most DOORS_PER_PROCESS doors; sum their summaries."""
    workers = []
    count = -(-args.devices // DOORS_PER_PROCESS)
    for w in range(count):
        doors = min(DOORS_PER_PROCESS, args.devices - w * DOORS_PER_PROCESS)
        events = args.events * doors // args.devices + (1 if w < args.events * doors % args.devices else 0)
        cmd = [sys.executable, "-m", "entryscan.collector", "simulate", "--url", args.url, "--devices", str(doors),
               "--events", str(events), "--rate", str(args.rate * doors / args.devices), "--site", args.site,
               "--prefix", args.prefix, "--drain-timeout", str(args.drain_timeout),
               "--first", str(args.first + w * DOORS_PER_PROCESS)]
        if args.dir:
            cmd += ["--dir", str(args.dir)]
        workers.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    summaries = [json.loads((w.communicate()[0] or "{}").strip().splitlines()[-1] or "{}") for w in workers]
    return {"devices": args.devices, "events": sum(int(s.get("events", 0)) for s in summaries),
            "journal_seconds": max(float(s.get("journal_seconds", 0)) for s in summaries),
            "undelivered": sum(int(s.get("undelivered", 1)) for s in summaries), "processes": count}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.devices > DOORS_PER_PROCESS:
        summary = run_workers(args)
    else:
        with tempfile.TemporaryDirectory(prefix="entryscan-sim-") as tmp:
            doors = start_doors(args.url, args.site, args.devices, args.dir or Path(tmp), args.prefix, args.first)
            try:
                seconds = run(doors, args.events, args.rate)
                left = wait_drained(doors, args.drain_timeout)
            finally:
                for door in doors:
                    door.close()
        summary = {"devices": args.devices, "events": args.events, "journal_seconds": round(seconds, 2),
                   "undelivered": left}
    print(json.dumps(summary), flush=True)
    return 0 if summary["undelivered"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
