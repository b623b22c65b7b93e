"""The office's pages on a large PostgreSQL fleet: main's code and this checkout's, side by side in one run.

A throwaway cluster (tests/support/postgres.py) gets main's schema (``bench.office_pages init`` run with
main's code), then ``DOORS`` doors and ``ENTRIES`` entries written by ``generate_series`` (minutes, not
hours: no broker, no ingest), doors' status, streams, held versions, alerts and citizens' reports, and a
site manifest linking the doors to venues in communes. Then:

1. the "before" code serves the pages and each is timed (``code: "before"``);
2. the "after" code opens the same database, which migrates it (the migration's time is reported), and
   serves the same pages (``code: "after"``).

"before" is ``git archive`` of ``BENCH_BEFORE_REF`` unpacked in a temporary folder: by default the commit
before the store's schema v5 (per-door uniqueness, the newest-first indexes and keyset paging), i.e. main's
code path before this work. "after" is this checkout, or ``BENCH_AFTER_REF`` archived the same way. The quick
run (the test suite's) has no "before" unless ``BENCH_BEFORE_REF`` is set. ``BENCH_OFFICE_ENTRIES`` and
``BENCH_OFFICE_DOORS`` change the size; ``BENCH_OFFICE_SAMPLES`` and ``BENCH_OFFICE_BUDGET_S`` the requests per page
(200) and the seconds a page may take for them (120). The payload column holds a short document (pages never read it):
the full door document would triple the table and only make main's full-table sorts slower.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from bench.common import REPO, Mode, emit

VENUE_DOORS = 4
COMMUNES = 10
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAYS = 30


def _sql_entries(first: int, last: int, doors: int, per_door: int) -> str:
    span_s = DAYS * 86400
    return f"""
INSERT INTO entry_events(event_id, site, device, incarnation, door, seq, ts, decision, reason, credential_type,
                         subject, policy_version, clock_synced, payload, received_at)
SELECT md5(i::text), 'hq', 'd' || lpad((i % {doors})::text, 4, '0'), 'inc0', 'main', i / {doors} + 1,
       t, CASE WHEN i % 20 = 0 THEN 'deny' ELSE 'accept' END, CASE WHEN i % 20 = 0 THEN 'not_allowed' ELSE 'ok' END,
       'badge', 'p-' || (i % 9973), '1', true, '{{"v":1}}', t + interval '2 seconds'
FROM (SELECT i, timestamptz '{START.isoformat()}' + ((i / {doors})::float8 * {span_s} / {per_door}) * interval '1 second'
      AS t FROM generate_series({first}, {last}) AS i) g
"""


def _sql_rest(doors: int, per_door: int) -> list[str]:
    return [
        """INSERT INTO streams(site, device, incarnation, through_seq, min_seq, max_seq, stored, accepts, denies,
                                unsynced, door, last_entry_ts, last_ns)
            SELECT site, device, incarnation, MAX(seq), MIN(seq), MAX(seq), COUNT(*),
                   COUNT(*) FILTER (WHERE decision = 'accept'), COUNT(*) FILTER (WHERE decision = 'deny'), 0,
                   'main', MAX(ts), 0 FROM entry_events GROUP BY site, device, incarnation""",
        f"""INSERT INTO device_status(site, device, status, updated_at, offline_since, state, state_at)
            SELECT 'hq', 'd' || lpad(d::text, 4, '0'), CASE WHEN d % 33 = 0 THEN 'offline' ELSE 'online' END,
                   now(), CASE WHEN d % 33 = 0 THEN now() - interval '3 hours' END,
                   '{{"door":"main","camera":"ok","clock_synced":true,"policy_version":"1"}}', now()
            FROM generate_series(0, {doors - 1}) AS d""",
        f"""INSERT INTO held_versions(site, device, kind, name, version, since, issued_at)
            SELECT 'hq', 'd' || lpad(d::text, 4, '0'), 'policy', '', '1', now() - interval '1 day', NULL
            FROM generate_series(0, {doors - 1}) AS d""",
        f"""INSERT INTO alert_events(alert_id, site, device, incarnation, kind, ts, payload, received_at, last_ns)
            SELECT md5('a' || a::text), 'hq', 'd' || lpad((a % {doors})::text, 4, '0'), 'inc0',
                   CASE WHEN a % 2 = 0 THEN 'camera_fault' ELSE 'tamper' END, now() - a * interval '1 minute',
                   '{{"kind":"tamper"}}', now(), a FROM generate_series(1, {doors * 5}) AS a""",
        f"""INSERT INTO fleet_alerts(rule, site, target, detail, raised_at)
            SELECT 'device_offline', 'hq', 'd' || lpad(d::text, 4, '0'), 'offline for 3 h', now()
            FROM generate_series(0, {doors - 1}, 33) AS d""",
        f"""INSERT INTO citizen_reports(site, venue, body, contact, client, created_at, category, receipt, status)
            SELECT 'hq', 'venue-' || lpad((r % {max(1, doors // VENUE_DOORS)})::text, 4, '0'), 'Bảng QR bị rách',
                   '', '127.0.0.1', now() - r * interval '1 hour', 'other', md5('r' || r::text), 'received'
            FROM generate_series(1, 300) AS r""",
        "ANALYZE",
    ]


def site_manifest(directory: Path, doors: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ['[site]', 'format = 1', 'site = "hq"', 'name = "Quận 1"', 'timezone = "Asia/Ho_Chi_Minh"', '']
    for v in range(max(1, doors // VENUE_DOORS)):
        lines += ['[[venues]]', f'id = "venue-{v:04d}"', f'name = "Điểm {v}"', f'address = "{v} Lê Lợi"',
                  f'commune = "Phường {v % COMMUNES}"', f'lat = {10.7 + v / 10000}', f'lon = {106.6 + v / 10000}',
                  'opening_hours = "T2-CN 06:00-22:00"', '']
    for d in range(doors):
        lines += ['[[devices]]', f'id = "d{d:04d}"', 'door = "main"', f'venue = "venue-{d // VENUE_DOORS:04d}"', '']
    (directory / "site.toml").write_text("\n".join(lines), encoding="utf-8")
    return directory


def fill(url: str, doors: int, entries: int) -> None:
    import psycopg

    per_door = max(1, entries // doors)
    t0 = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        # Keys and indexes are built once after the load (the way a bulk load is done), not per row.
        keys = conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                            " WHERE conrelid = 'entry_events'::regclass AND contype IN ('p', 'u')").fetchall()
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'entry_events'"
                               " AND indexname <> ALL(%s)", ([k[0] for k in keys],)).fetchall()
        for name, _ in keys:
            conn.execute(f"ALTER TABLE entry_events DROP CONSTRAINT {name}".encode())
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}".encode())
        step = 1_000_000
        for first in range(0, entries, step):
            conn.execute(_sql_entries(first, min(entries, first + step) - 1, doors, per_door).encode())
            print(f"bench office: {min(entries, first + step):,} entries ({time.monotonic() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
        for name, definition in keys:
            conn.execute(f"ALTER TABLE entry_events ADD CONSTRAINT {name} {definition}".encode())
        for _, definition in indexes:
            conn.execute(definition.encode())
        for sql in _sql_rest(doors, per_door):
            conn.execute(sql.encode())
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('entry_events'))").fetchone()
    emit("office", "fill_s", time.monotonic() - t0, "s", doors=doors, entries=entries,
         table_size=size[0] if size else None)


def default_before() -> str:
    """The parent of the commit that brought schema v5 (the last code without the indexes and paging)."""
    found = subprocess.run(["git", "-C", str(REPO), "log", "--format=%H", "--reverse", "-S_SQLITE_V5 =", "--",
                            "collector/store/schema.py"], check=True, capture_output=True, text=True).stdout.split()
    return f"{found[0]}^" if found else "main"


def checkout(ref: str, into: Path, label: str) -> Path:
    """``ref``'s device/, collector/ and provisioning/ in the installed shape (``entryscan.<folder>``)."""
    tar = subprocess.run(["git", "-C", str(REPO), "archive", ref, "device", "collector", "provisioning"],
                         check=True, capture_output=True).stdout
    src = into / "src"
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(src, filter="data")
    pkg = into / "pkg" / "entryscan"
    pkg.mkdir(parents=True)
    for top in ("device", "collector", "provisioning"):
        (pkg / top).symlink_to(src / top)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], check=True,
                            capture_output=True, text=True).stdout.strip()
    emit("office", f"code_{label}", commit, "commit", ref=ref)
    return into / "pkg"


def worker(pythonpath: Path | None, *args: str) -> None:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    subprocess.run([sys.executable, "-m", "bench.office_pages", *args], cwd=REPO, env=env, check=True,
                   timeout=6 * 3600)


def main(mode: Mode) -> None:
    doors = int(os.environ.get("BENCH_OFFICE_DOORS", mode.pick(20, 1000)))
    entries = int(os.environ.get("BENCH_OFFICE_ENTRIES", mode.pick(20_000, 10_000_000)))
    samples = int(os.environ.get("BENCH_OFFICE_SAMPLES", mode.pick(5, 200)))
    budget = float(os.environ.get("BENCH_OFFICE_BUDGET_S", mode.pick_f(5.0, 120.0)))
    ref = os.environ.get("BENCH_BEFORE_REF", "" if mode.quick else default_before())
    after_ref = os.environ.get("BENCH_AFTER_REF", "")
    from tests.support.postgres import PostgresCluster  # the same throwaway cluster the tests use

    day = (START + dt.timedelta(days=DAYS - 2)).date().isoformat()
    with tempfile.TemporaryDirectory(prefix="entryscan-bench-office-") as tmp:
        before = checkout(ref, Path(tmp) / "before", "before") if ref else None
        after = checkout(after_ref, Path(tmp) / "after", "after") if after_ref else None
        sites = site_manifest(Path(tmp) / "site", doors)
        cluster = PostgresCluster().start()
        try:
            url = cluster.new_database()
            worker(before, "init", url)  # the schema the "before" code makes (the "after" one without it)
            fill(url, doors, entries)
            if before is not None:
                worker(before, "pages", url, str(sites), "before", str(samples), str(budget), day)
            worker(after, "init", url)  # the "after" store migrates the database
            worker(after, "pages", url, str(sites), "after", str(samples), str(budget), day)
        finally:
            cluster.stop()
