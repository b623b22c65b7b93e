"""Command-line options of ``entryscan-collector`` (ingest, serve, the fleet report)."""

from __future__ import annotations

import argparse
import urllib.parse
from pathlib import Path

from entryscan.collector.ingest import IngestOptions
from entryscan.device.keys import check_private, read_secret_text


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="entryscan-collector", description="Store, confirm and watch entry events.")
    p.add_argument("--url", help="mqtt://host:port or mqtts://host:port (required unless --report or --http)")
    p.add_argument("--report", action="store_true", help="print the fleet view from --db and exit")
    p.add_argument("--prefix", default="entryscan", help="topic prefix (default entryscan)")
    p.add_argument("--db", default="collector.db", help="SQLite file or postgresql:// URL (default collector.db)")
    p.add_argument("--client-id", default="entryscan-collector", help="stable id: it names the persistent session")
    p.add_argument("--shared", default="", metavar="GROUP", help="subscribe through $share/GROUP/ (scale-out)")
    p.add_argument("--batch-size", type=int, default=500, help="messages committed per transaction (max)")
    p.add_argument("--once-count", type=int, default=0, help="exit after N new entries (tests, demos)")
    p.add_argument("--quiet", action="store_true", help="do not print a line per new event")
    p.add_argument("--username", default="")
    p.add_argument("--password-file", type=Path, default=None)
    p.add_argument("--ca-file", default=None, help="CA of the broker's certificate (mqtts://)")
    p.add_argument("--cert-file", default=None, help="the collector's client certificate (collector.pem)")
    p.add_argument("--key-file", type=Path, default=None, help="its private key (0600, collector.key)")
    p.add_argument("--http", default="", metavar="HOST:PORT", help="serve the dashboard and JSON API")
    p.add_argument("--metrics", default="", metavar="HOST:PORT",
                   help="serve Prometheus /metrics without login on this (private) address; with --http it is also"
                   " at /metrics behind the login or the API token")
    p.add_argument("--users", type=Path, default=None, help="operators' password hashes (entryscan-collector users)")
    p.add_argument("--api-token-file", type=Path, default=None, help="bearer token for tools (0600 file)")
    p.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDRESS[/BITS]",
                   help="a reverse proxy whose --proxy-header names the client (repeatable; default: none, the "
                        "peer address is the client)")
    p.add_argument("--proxy-header", default="X-Forwarded-For",
                   help="the trusted proxy's header naming the client (default X-Forwarded-For)")
    p.add_argument("--secure-cookie", choices=("auto", "always", "never"), default="auto",
                   help="Secure on the session cookie: auto = when the request came over https, directly or "
                        "as the trusted proxy's X-Forwarded-Proto says (default auto)")
    p.add_argument("--max-connections", type=int, default=4000, help="open web connections in all (default 4000)")
    p.add_argument("--max-connections-per-address", type=int, default=100,
                   help="open web connections per client address, trusted proxies exempt (default 100)")
    p.add_argument("--map-tiles", default=None, metavar="URL|none",
                   help="tile server of the office's map, a template with {z}, {x}, {y} (default OpenStreetMap's "
                        "https://tile.openstreetmap.org/{z}/{x}/{y}.png; none = the points on a plain background)")
    p.add_argument("--map-attribution", default=None,
                   help="the tile server's credit line shown on the map (default: OpenStreetMap's for its tiles)")
    p.add_argument("--site-dir", type=Path, action="append", default=[], help="site manifest directory (repeatable)")
    p.add_argument("--timezone", default="", help="IANA zone of the venues' opening hours for site manifests without their own "
                   "[site] timezone (default: local time)")
    p.add_argument("--rules-interval", type=float, default=30.0, help="seconds between fleet rule evaluations")
    p.add_argument("--offline-minutes", type=float, default=10.0)
    p.add_argument("--idle-minutes", type=float, default=30.0, help="no scans in opening hours for this long")
    p.add_argument("--gap-minutes", type=float, default=60.0, help="a gap open this long raises an alert")
    # A day before the doors' default [lists] max_age_s (7 days) makes them treat the list as stale.
    p.add_argument("--stale-list-hours", type=float, default=144.0,
                   help="raise stale_list when a door's list is older than this (from its issue time)")
    p.add_argument("--keep-closed-days", type=int, default=365, metavar="DAYS",
                   help="delete a citizen's report (and its photo and history) this many days after it was closed, "
                        "checked hourly; open ones are kept (default 365, 1..36500)")
    args = p.parse_args(argv)
    if not 1 <= args.keep_closed_days <= 36500:
        p.error("--keep-closed-days must be 1..36500")
    if args.report:
        return args
    if not args.url and not args.http:
        p.error("--url (and/or --http) is required")
    if args.url and urllib.parse.urlsplit(args.url).scheme not in ("mqtt", "mqtts"):
        p.error("--url must start with mqtt:// or mqtts://")
    if args.shared and not all(c.isalnum() or c in "-_" for c in args.shared):
        p.error("--shared GROUP: letters, digits, - and _ only")
    if bool(args.cert_file) != bool(args.key_file):
        p.error("--cert-file and --key-file go together")
    if not 1 <= args.max_connections_per_address <= args.max_connections:
        p.error("want 1 <= --max-connections-per-address <= --max-connections")
    if args.batch_size < 1 or args.batch_size > 1000:
        p.error("--batch-size must be 1..1000")
    return args


def ingest_options(args: argparse.Namespace) -> IngestOptions:
    url = urllib.parse.urlsplit(args.url)
    user = args.username or urllib.parse.unquote(url.username or "") or None
    password = read_secret_text(args.password_file, "--password-file") if args.password_file and user else None
    if args.key_file is not None:
        check_private(args.key_file, "--key-file")  # refuses a key others can read, like the password file
    return IngestOptions(url=args.url, prefix=args.prefix, client_id=args.client_id, shared_group=args.shared,
                         username=user, password=password, ca_file=args.ca_file, cert_file=args.cert_file,
                         key_file=str(args.key_file) if args.key_file else None, batch_size=args.batch_size)
