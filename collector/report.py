"""``entryscan-collector report --site ID --from DATE --to DATE --format csv|json``: the office's paperwork.

Every stored entry of the site with ``FROM <= ts < TO + 1 day`` (dates are UTC days, both inclusive),
oldest first, with pseudonymous subjects only (the collector never holds more).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from typing import TextIO

from entryscan.collector.store import open_store
from entryscan.device.errors import EntryscanError

COLUMNS = ("ts", "site", "device", "door", "seq", "decision", "reason", "credential_type", "subject",
           "policy_version", "clock_synced", "incarnation", "event_id")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="entryscan-collector report", description=__doc__.splitlines()[0])
    p.add_argument("--db", default="collector.db", help="SQLite file or postgresql:// URL")
    p.add_argument("--site", required=True)
    p.add_argument("--from", dest="start", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    p.add_argument("--to", dest="end", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD (inclusive)")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    args = p.parse_args(argv)
    if args.end < args.start:
        p.error("--to is before --from")
    return args


def write_report(rows: list[dict[str, object]], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump({"entries": [{k: r[k] for k in COLUMNS} for r in rows]}, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        # A cell starting with = + - @ is a formula to a spreadsheet: quote it as text.
        writer.writerow(["'" + v if isinstance(v, str) and v[:1] in "=+-@" else v for v in (r[k] for k in COLUMNS)])


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        store = open_store(args.db)
    except EntryscanError as exc:
        print(f"entryscan-collector: {exc}", file=sys.stderr)
        return 2
    try:
        start = f"{args.start.isoformat()}T00:00:00.000Z"
        end = f"{(args.end + dt.timedelta(days=1)).isoformat()}T00:00:00.000Z"
        write_report(store.entries_between(args.site, start, end), args.format, sys.stdout)
    finally:
        store.close()
    return 0
