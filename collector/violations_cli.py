"""``entryscan-collector violations``: the premises showing signs of violation, as CSV or JSON, per commune.

``--lang vi`` names statuses and reasons from the office's gettext catalogs (``collector/web/locale``, the
pages' own; it pointed at a ``collector/locale`` that never existed, so every CSV came out in English).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

from entryscan.collector.site import load_sites
from entryscan.collector.store import open_store
from entryscan.collector.violations import as_json, premises, write_csv
from entryscan.collector.web.i18n import load_translations
from entryscan.device.errors import EntryscanError


def translator(lang: str) -> Callable[[str], str]:
    return load_translations(lang).gettext


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="entryscan-collector violations", description=__doc__.splitlines()[0])
    p.add_argument("--db", default="collector.db", help="SQLite file or postgresql:// URL")
    p.add_argument("--site-dir", type=Path, action="append", required=True, help="site manifest directory")
    p.add_argument("--timezone", default="", help="zone for manifests without [site] timezone")
    p.add_argument("--day", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--commune", default=None, help="only this commune ('' = venues without one)")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        sites = load_sites(args.site_dir, args.timezone)
        store = open_store(args.db)
    except EntryscanError as exc:
        print(f"entryscan-collector: {exc}", file=sys.stderr)
        return 2
    try:
        communes = premises(store, sites, args.day or dt.datetime.now(dt.UTC).date())
    finally:
        store.close()
    if args.commune is not None:
        communes = [c for c in communes if c.name == args.commune]
    if args.format == "json":
        json.dump(as_json(communes), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        write_csv(communes, sys.stdout, translator(args.lang))
    return 0
