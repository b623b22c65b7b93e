"""``venue add``, ``poster`` and ``poster check``: the venue registry and its signed QR boards."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from entryscan.device.errors import ConfigError

EX_OK, EX_FAIL = 0, 1


def add_venue_parsers(sub: Any) -> None:
    venue = sub.add_parser("venue", help="venues (premises) of the site").add_subparsers(
        dest="venue_command", required=True)
    add = venue.add_parser("add", help="record a venue in site.toml (text kept exactly, diacritics included)")
    add.add_argument("--site-dir", type=Path, required=True)
    add.add_argument("--venue", required=True, metavar="ID")
    add.add_argument("--name", required=True)
    add.add_argument("--address", required=True)
    add.add_argument("--lat", type=float, required=True)
    add.add_argument("--lon", type=float, required=True)
    add.add_argument("--opening-hours", default="", metavar="TEXT",
                     help="e.g. 'T2-T6 07:30-17:00; T7 08:00-12:00; CN nghỉ' or 'Mon-Fri 07:30-17:00' (checked)")
    add.add_argument("--commune", default="", metavar="TEXT", help="the commune/ward (xã/phường); printed on the board")
    add.add_argument("--contact", default="", metavar="TEXT", help="the venue's public phone or e-mail (not printed)")
    add.add_argument("--officer", default="", metavar="TEXT", help="the commune officer answering for it (not printed)")
    add.add_argument("--replace", action="store_true",
                     help="change an existing venue: its version grows; says first which printed boards it outdates")
    add.add_argument("--dry-run", action="store_true", help="only say what --replace would do to printed boards")
    add.set_defaults(func=cmd_venue_add)

    poster = sub.add_parser("poster", help="render a signed A4 venue board (PNG at 300 dpi or vector PDF); "
                                           "'poster check IMAGE...' checks photos of boards")
    poster.add_argument("--site-dir", type=Path)
    poster.add_argument("--venue", metavar="ID")
    poster.add_argument("--base-url", metavar="https://HOST")
    poster.add_argument("--out", type=Path, metavar="FILE.pdf|FILE.png")
    poster.add_argument("--instruction", help="the line under the code (default Vietnamese and English)")
    poster.set_defaults(func=cmd_poster)
    check = poster.add_subparsers(dest="poster_command", required=False).add_parser(
        "check", help="read photos/scans of boards; one JSON object per image; exit 0 only if all pass")
    check.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    check.add_argument("--site-dir", type=Path, required=True)
    check.set_defaults(func=lambda args: cmd_poster_check(args.site_dir, args.images))


def cmd_venue_add(args: argparse.Namespace) -> int:
    import datetime as dt

    from entryscan.provisioning import manifest
    from entryscan.provisioning.hours import parse_opening_hours

    site = manifest.load(args.site_dir)
    parse_opening_hours(args.opening_hours)  # the collector reads it with this parser: refuse what it cannot
    venue = manifest.Venue(
        id=args.venue, name=args.name, address=args.address,
        lat=manifest.check_coordinate(args.lat, "--lat", 90), lon=manifest.check_coordinate(args.lon, "--lon", 180),
        opening_hours=args.opening_hours, commune=args.commune, contact=args.contact, officer=args.officer,
        updated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")).check("venue")
    old = site.venue(args.venue)
    if old is not None and not (args.replace or args.dry_run):
        raise ConfigError("--venue", f"{args.venue!r} exists (version {old.version}); add --replace to change it")
    boards = board_impact(site, venue)
    for line in describe_impact(boards):
        print(f"entryscan-provision: {line}", file=sys.stderr)
    if args.dry_run:
        print(json.dumps({"venue": venue.id, "dry_run": True, "boards": boards}, ensure_ascii=False))
        return EX_OK
    updated = site.with_venue(venue)
    manifest.save(args.site_dir, updated)
    recorded = updated.venue(args.venue) or venue
    out: dict[str, Any] = {"venue": recorded.id, "version": recorded.version}
    if boards:  # a replacement: what it did to the boards printed before (a new venue prints as before)
        out["boards"] = boards
    print(json.dumps(out, ensure_ascii=False))
    return EX_OK


def board_impact(site: Any, venue: Any) -> list[dict[str, Any]]:
    """What recording ``venue`` does to the boards printed for each earlier version of it.

    ``current``: the board prints exactly what it would now; ``details_updated``: genuine, its page shows
    the new details (it prints an old commune); ``refused``: the place changed, the board must be reprinted.
    """
    out = []
    for old in site.versions_of(venue.id):
        if old.place != venue.place:
            state = "refused"
        elif old.printed != venue.printed:
            state = "details_updated"
        else:
            state = "current"
        changed = [k for k in ("name", "address", "coordinates", "commune", "opening_hours", "contact", "officer")
                   if getattr(old, k) != getattr(venue, k)]
        out.append({"version": old.version, "state": state, "changed": changed})
    return out


def describe_impact(boards: list[dict[str, Any]]) -> list[str]:
    words = {"current": "stay current", "details_updated": "stay genuine; their page says the details were updated",
             "refused": "will be REFUSED as not genuine: reprint them"}
    return [f"boards printed for version {b['version']} {words[b['state']]}"
            + (f" (changed: {', '.join(b['changed'])})" if b["changed"] else "") for b in boards]


def cmd_poster(args: argparse.Namespace) -> int:
    if not (args.site_dir and args.venue and args.base_url and args.out):
        raise ConfigError("poster", "needs --site-dir, --venue, --base-url and --out (or: poster check IMAGE...)")
    from dataclasses import replace

    from entryscan.provisioning import manifest
    from entryscan.provisioning.poster import DEFAULT_INSTRUCTION, layout, printable, write_poster
    from entryscan.provisioning.venue import check_base_url, load_signing_key, sign_venue_url

    site = manifest.load(args.site_dir)
    venue = site.venue(args.venue)
    if venue is None:
        raise ConfigError("--venue", f"{args.venue!r} is not a venue of site {site.site} (venue add first)")
    base = check_base_url(args.base_url)
    if site.base_url and site.base_url != base:
        raise ConfigError("--base-url", f"this site's boards point at {site.base_url}")
    url = sign_venue_url(base, site.site, venue, load_signing_key(args.site_dir))
    # No opening hours on the board: they change often and the venue page shows the current ones.
    footer = f"{site.site}/{venue.id} · v{venue.version}"
    board = layout(printable(site.name, "site name"), printable(venue.name, "--name"),
                   printable(venue.address, "--address"), printable(footer, "--venue"), url,
                   printable(args.instruction or DEFAULT_INSTRUCTION, "--instruction"),
                   printable(venue.commune, "--commune"))
    write_poster(board, args.out, f"{venue.name} ({site.site}/{venue.id})")
    if not site.base_url:
        manifest.save(args.site_dir, replace(site, base_url=base))
    print(json.dumps({"out": str(args.out), "url": url, "url_length": len(url), "qr_modules": len(board.matrix)},
                     ensure_ascii=False))
    return EX_OK


def cmd_poster_check(site_dir: Path, images: list[Path]) -> int:
    from entryscan.provisioning.postercheck import check_image
    from entryscan.provisioning.venue import VenueVerifier

    verifier = VenueVerifier(site_dir)
    status = EX_OK
    for path in images:
        report = check_image(path, verifier)
        print(json.dumps(report.as_json(), ensure_ascii=False), flush=True)
        if not report.passed:
            status = EX_FAIL
    if status:
        print("entryscan-provision: some boards are unreadable, not signed by this site or not as registered",
              file=sys.stderr)
    return status
