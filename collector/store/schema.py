"""Versioned migrations for both stores. A migration is applied once, in order, in one transaction.

Table names are the same in both dialects, so the shared SQL in ``base`` runs on either. The views
``entries``, ``devices``, ``device_versions``, ``alerts`` and ``reports`` are the stable contract for
Grafana and other tools (documented in the README); tables may change, views keep their columns.
"""

from __future__ import annotations

# -- SQLite -------------------------------------------------------------------------------------

# Version 1 is the schema of the first collector (tables named like today's views), so a
# database written by it is upgraded in place by version 2.
_SQLITE_V1 = """
CREATE TABLE IF NOT EXISTS entries (
    event_id TEXT PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, door TEXT,
    seq INTEGER NOT NULL, ts TEXT, decision TEXT, reason TEXT, credential_type TEXT, subject TEXT,
    policy_version TEXT, clock_synced INTEGER, payload TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, kind TEXT, ts TEXT,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
CREATE TABLE IF NOT EXISTS status (
    site TEXT NOT NULL, device TEXT NOT NULL, status TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), PRIMARY KEY (site, device));
CREATE TABLE IF NOT EXISTS receipts (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""

_SQLITE_V2 = """
DROP INDEX IF EXISTS entries_device_seq;
ALTER TABLE entries RENAME TO entry_events;
ALTER TABLE entry_events ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
CREATE INDEX entry_events_stream ON entry_events(site, device, incarnation, seq);
CREATE INDEX entry_events_ts ON entry_events(site, ts);
ALTER TABLE alerts RENAME TO alert_events;
ALTER TABLE alert_events ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
ALTER TABLE alert_events ADD COLUMN last_ns INTEGER NOT NULL DEFAULT 0;
CREATE INDEX alert_events_device ON alert_events(site, device, last_ns);
ALTER TABLE status RENAME TO device_status;
ALTER TABLE device_status ADD COLUMN offline_since TEXT;
ALTER TABLE device_status ADD COLUMN state TEXT;
ALTER TABLE device_status ADD COLUMN state_at TEXT;
UPDATE device_status SET offline_since = updated_at WHERE status <> 'online';
CREATE TABLE streams (
    site TEXT NOT NULL, device TEXT NOT NULL, incarnation TEXT NOT NULL,
    through_seq INTEGER NOT NULL DEFAULT 0, min_seq INTEGER, max_seq INTEGER,
    stored INTEGER NOT NULL DEFAULT 0, accepts INTEGER NOT NULL DEFAULT 0, denies INTEGER NOT NULL DEFAULT 0,
    unsynced INTEGER NOT NULL DEFAULT 0, door TEXT, last_entry_ts TEXT, last_ns INTEGER NOT NULL DEFAULT 0,
    gap_since TEXT, PRIMARY KEY (site, device, incarnation));
INSERT INTO streams(site, device, incarnation, min_seq, max_seq, stored, accepts, denies, unsynced, door,
                    last_entry_ts)
    SELECT site, device, '', MIN(seq), MAX(seq), COUNT(*), COALESCE(SUM(decision = 'accept'), 0),
           COALESCE(SUM(decision = 'deny'), 0),
           COALESCE(SUM(clock_synced = 0), 0), MAX(door), MAX(ts) FROM entry_events GROUP BY site, device;
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, size INTEGER NOT NULL, sample BLOB NOT NULL);
CREATE TABLE fleet_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, site TEXT NOT NULL, target TEXT NOT NULL,
    detail TEXT NOT NULL, raised_at TEXT NOT NULL, cleared_at TEXT);
CREATE UNIQUE INDEX fleet_alerts_open ON fleet_alerts(rule, site, target) WHERE cleared_at IS NULL;
CREATE TABLE citizen_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT NOT NULL, venue TEXT NOT NULL, body TEXT NOT NULL,
    contact TEXT NOT NULL, client TEXT NOT NULL, created_at TEXT NOT NULL, closed_at TEXT);
"""

_VIEWS = """
CREATE VIEW entries AS SELECT event_id, site, device, incarnation, door, seq, ts, decision, reason,
    credential_type, subject, policy_version, clock_synced, received_at FROM entry_events;
CREATE VIEW devices AS
WITH k AS (SELECT site, device FROM device_status UNION SELECT site, device FROM streams
           UNION SELECT site, device FROM alert_events),
     s AS (SELECT site, device, MAX(door) AS door, CAST(SUM(stored) AS BIGINT) AS entries,
           CAST(SUM(accepts) AS BIGINT) AS accepts, CAST(SUM(denies) AS BIGINT) AS denies,
           CAST(SUM(max_seq - min_seq + 1 - stored) AS BIGINT) AS missing,
           CAST(SUM(unsynced) AS BIGINT) AS unsynced, MAX(last_entry_ts) AS last_entry_ts
           FROM streams GROUP BY site, device)
SELECT k.site, k.device, s.door, COALESCE(d.status, 'unknown') AS status, d.offline_since,
       d.updated_at AS status_at, d.state, d.state_at, COALESCE(s.entries, 0) AS entries,
       COALESCE(s.accepts, 0) AS accepts, COALESCE(s.denies, 0) AS denies, COALESCE(s.missing, 0) AS missing,
       COALESCE(s.unsynced, 0) AS unsynced, s.last_entry_ts
FROM k LEFT JOIN device_status d ON d.site = k.site AND d.device = k.device
       LEFT JOIN s ON s.site = k.site AND s.device = k.device;
CREATE VIEW alerts AS SELECT id, rule, site, target, detail, raised_at, cleared_at,
    (cleared_at IS NULL) AS open FROM fleet_alerts;
CREATE VIEW reports AS SELECT id, site, venue, body, contact, created_at, closed_at,
    (closed_at IS NULL) AS open FROM citizen_reports;
"""

# The ``devices`` view since version 3 ({agg}: the dialect's JSON object aggregate); version 5 re-creates it.
_DEVICES_VIEW = """
CREATE VIEW devices AS
WITH k AS (SELECT site, device FROM device_status UNION SELECT site, device FROM streams
           UNION SELECT site, device FROM alert_events),
     s AS (SELECT site, device, MAX(door) AS door, CAST(SUM(stored) AS BIGINT) AS entries,
           CAST(SUM(accepts) AS BIGINT) AS accepts, CAST(SUM(denies) AS BIGINT) AS denies,
           CAST(SUM(max_seq - min_seq + 1 - stored) AS BIGINT) AS missing,
           CAST(SUM(unsynced) AS BIGINT) AS unsynced, MAX(last_entry_ts) AS last_entry_ts
           FROM streams GROUP BY site, device),
     p AS (SELECT site, device, version AS policy_version, since AS policy_since FROM held_versions
           WHERE kind = 'policy'),
     l AS (SELECT site, device, CAST({agg}(name, CAST(version AS BIGINT)) AS TEXT) AS list_versions,
           MIN(COALESCE(issued_at, since)) AS oldest_list_at FROM held_versions WHERE kind = 'list'
           GROUP BY site, device)
SELECT k.site, k.device, s.door, COALESCE(d.status, 'unknown') AS status, d.offline_since,
       d.updated_at AS status_at, d.state, d.state_at, COALESCE(s.entries, 0) AS entries,
       COALESCE(s.accepts, 0) AS accepts, COALESCE(s.denies, 0) AS denies, COALESCE(s.missing, 0) AS missing,
       COALESCE(s.unsynced, 0) AS unsynced, s.last_entry_ts, p.policy_version, p.policy_since,
       l.list_versions, l.oldest_list_at
FROM k LEFT JOIN device_status d ON d.site = k.site AND d.device = k.device
       LEFT JOIN s ON s.site = k.site AND s.device = k.device
       LEFT JOIN p ON p.site = k.site AND p.device = k.device
       LEFT JOIN l ON l.site = k.site AND l.device = k.device;
"""

# Version 3 (both stores): the list and policy versions each door holds, since when (the collector's
# clock when a state document first showed that version) and, for lists, the issue time the door
# reports (``lists_issued``). The ``devices`` view gains four columns; ``device_versions`` is new.
_VERSIONS = """
CREATE TABLE held_versions (
    site TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
    since {ts} NOT NULL, issued_at {ts}, PRIMARY KEY (site, device, kind, name));
CREATE INDEX alert_events_kind ON alert_events(kind, site, device, ts);
DROP VIEW devices;
""" + _DEVICES_VIEW + """
CREATE VIEW device_versions AS SELECT site, device, kind, name, version, since, issued_at FROM held_versions;
"""

# Version 4 (both stores): citizens' reports get a lifecycle (category, receipt code, status, commune,
# public answer, rating, optional photo and shared place) with every state change in ``report_events``;
# ``board_checks`` counts, per venue and day, the boards citizens checked that were not current.
# The ``reports`` view keeps its columns and gains the lifecycle ones (never the receipt: it is the
# citizen's key to the public receipt page).
_REPORTS = """
CREATE TABLE board_checks (
    site TEXT NOT NULL, venue TEXT NOT NULL, state TEXT NOT NULL, day TEXT NOT NULL,
    count BIGINT NOT NULL DEFAULT 0, last_at {ts} NOT NULL, PRIMARY KEY (site, venue, state, day));
ALTER TABLE citizen_reports ADD COLUMN category TEXT NOT NULL DEFAULT 'other';
ALTER TABLE citizen_reports ADD COLUMN receipt TEXT;
ALTER TABLE citizen_reports ADD COLUMN status TEXT NOT NULL DEFAULT 'received';
ALTER TABLE citizen_reports ADD COLUMN commune TEXT NOT NULL DEFAULT '';
ALTER TABLE citizen_reports ADD COLUMN answer TEXT;
ALTER TABLE citizen_reports ADD COLUMN answered_at {ts};
ALTER TABLE citizen_reports ADD COLUMN rating INTEGER;
ALTER TABLE citizen_reports ADD COLUMN rated_at {ts};
ALTER TABLE citizen_reports ADD COLUMN photo_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE citizen_reports ADD COLUMN place_lat {real};
ALTER TABLE citizen_reports ADD COLUMN place_lon {real};
ALTER TABLE citizen_reports ADD COLUMN board_version INTEGER;
UPDATE citizen_reports SET status = 'closed' WHERE closed_at IS NOT NULL;
CREATE UNIQUE INDEX citizen_reports_receipt ON citizen_reports(receipt);
CREATE INDEX citizen_reports_client ON citizen_reports(client, created_at);
CREATE INDEX citizen_reports_venue ON citizen_reports(site, venue, created_at);
CREATE TABLE report_photos (report_id BIGINT PRIMARY KEY, mime TEXT NOT NULL, data {blob} NOT NULL);
CREATE TABLE report_events (
    id {serial}, report_id BIGINT NOT NULL, at {ts} NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX report_events_report ON report_events(report_id, id);
INSERT INTO report_events(report_id, at, actor, action) SELECT id, created_at, 'citizen', 'received'
    FROM citizen_reports;
INSERT INTO report_events(report_id, at, actor, action) SELECT id, closed_at, 'office', 'closed'
    FROM citizen_reports WHERE closed_at IS NOT NULL;
DROP VIEW reports;
CREATE VIEW reports AS SELECT id, site, venue, body, contact, created_at, closed_at,
    (closed_at IS NULL) AS open, category, status, commune, answer, answered_at, rating, rated_at,
    (photo_bytes > 0) AS has_photo, place_lat, place_lon FROM citizen_reports;
"""

# Version 5 (SQLite; PostgreSQL 4): an entry is unique per (site, device, event_id) and an alert per (site, device,
# alert_id), not per id across every door (one door could make another's real entry a "duplicate");
# entries get an ``id`` (insertion order) and the indexes the newest-first, keyset-paged reads walk.
# SQLite cannot change a primary key in place: both tables are rebuilt (and the views over them).
_SQLITE_V5 = """
DROP VIEW entries;
DROP VIEW devices;
CREATE TABLE entry_events_v5 (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, site TEXT NOT NULL, device TEXT NOT NULL,
    incarnation TEXT NOT NULL DEFAULT '', door TEXT, seq INTEGER NOT NULL, ts TEXT, decision TEXT, reason TEXT,
    credential_type TEXT, subject TEXT, policy_version TEXT, clock_synced INTEGER, payload TEXT NOT NULL,
    received_at TEXT NOT NULL);
INSERT INTO entry_events_v5(event_id, site, device, incarnation, door, seq, ts, decision, reason, credential_type,
                            subject, policy_version, clock_synced, payload, received_at)
    SELECT event_id, site, device, incarnation, door, seq, ts, decision, reason, credential_type, subject,
           policy_version, clock_synced, payload, received_at FROM entry_events ORDER BY received_at, seq;
DROP TABLE entry_events;
ALTER TABLE entry_events_v5 RENAME TO entry_events;
CREATE UNIQUE INDEX entry_events_event ON entry_events(site, device, event_id);
CREATE INDEX entry_events_stream ON entry_events(site, device, incarnation, seq);
CREATE INDEX entry_events_ts ON entry_events(site, ts);
CREATE TABLE alert_events_v5 (
    alert_id TEXT NOT NULL, site TEXT NOT NULL, device TEXT NOT NULL, incarnation TEXT NOT NULL DEFAULT '',
    kind TEXT, ts TEXT, payload TEXT NOT NULL, received_at TEXT NOT NULL, last_ns INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, device, alert_id));
INSERT INTO alert_events_v5 SELECT alert_id, site, device, incarnation, kind, ts, payload, received_at, last_ns
    FROM alert_events;
DROP TABLE alert_events;
ALTER TABLE alert_events_v5 RENAME TO alert_events;
CREATE INDEX alert_events_device ON alert_events(site, device, last_ns);
CREATE INDEX alert_events_kind ON alert_events(kind, site, device, ts);
""" + _VIEWS.split("CREATE VIEW devices AS")[0] + _DEVICES_VIEW.format(agg="json_group_object")

# The newest-first reads (dashboard, door page, ``/api/entries``): keyset order (received_at, seq, id).
_NEWEST = """
CREATE INDEX entry_events_newest ON entry_events(received_at, seq, id);
CREATE INDEX entry_events_door_newest ON entry_events(site, device, received_at, seq, id);
"""

# Version 6 (SQLite; PostgreSQL 5): what the office sees, for tools that read only the database (Grafana): the
# venues and their doors from the sites' manifests, and the premises findings, written by the rules loop
# (store/registry.py). New views: ``venues``, ``venue_doors``, ``violations``.
_REGISTRY = """
CREATE TABLE venue_registry (
    site TEXT NOT NULL, venue TEXT NOT NULL, name TEXT NOT NULL, address TEXT NOT NULL DEFAULT '',
    commune TEXT NOT NULL DEFAULT '', lat {real}, lon {real}, updated_at {ts} NOT NULL, PRIMARY KEY (site, venue));
CREATE TABLE venue_door_links (
    site TEXT NOT NULL, device TEXT NOT NULL, venue TEXT NOT NULL, PRIMARY KEY (site, device));
CREATE TABLE premises_findings (
    site TEXT NOT NULL, venue TEXT NOT NULL, commune TEXT NOT NULL, status TEXT NOT NULL, score INTEGER NOT NULL,
    reasons TEXT NOT NULL, evaluated_at {ts} NOT NULL, PRIMARY KEY (site, venue));
CREATE VIEW venues AS SELECT site, venue, name, address, commune, lat, lon, updated_at FROM venue_registry;
CREATE VIEW venue_doors AS SELECT site, venue, device FROM venue_door_links;
CREATE VIEW violations AS SELECT site, venue, commune, status, score, reasons, evaluated_at FROM premises_findings;
"""

# Version 7 (SQLite; PostgreSQL 6): one door's entries in a time range (compliance and the violations list read
# each linked door's opening hours) walk this index; (site, ts) made them scan every door's entries of the day.
_DOOR_TS = """
CREATE INDEX entry_events_door_ts ON entry_events(site, device, ts);
"""

SQLITE_MIGRATIONS: list[str] = [_SQLITE_V1, _SQLITE_V2 + _VIEWS,
                                _VERSIONS.format(ts="TEXT", agg="json_group_object"),
                                _REPORTS.format(ts="TEXT", real="REAL", blob="BLOB",
                                                serial="INTEGER PRIMARY KEY AUTOINCREMENT"),
                                _SQLITE_V5 + _NEWEST, _REGISTRY.format(ts="TEXT", real="REAL"), _DOOR_TS]

# -- PostgreSQL ---------------------------------------------------------------------------------

_PG_V1 = """
CREATE TABLE entry_events (
    event_id TEXT PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, incarnation TEXT NOT NULL DEFAULT '',
    door TEXT, seq BIGINT NOT NULL, ts TIMESTAMPTZ, decision TEXT, reason TEXT, credential_type TEXT,
    subject TEXT, policy_version TEXT, clock_synced BOOLEAN, payload TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE INDEX entry_events_stream ON entry_events(site, device, incarnation, seq);
CREATE INDEX entry_events_ts ON entry_events(site, ts);
CREATE TABLE alert_events (
    alert_id TEXT PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, incarnation TEXT NOT NULL DEFAULT '',
    kind TEXT, ts TIMESTAMPTZ, payload TEXT NOT NULL, received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_ns BIGINT NOT NULL DEFAULT 0);
CREATE INDEX alert_events_device ON alert_events(site, device, last_ns);
CREATE TABLE device_status (
    site TEXT NOT NULL, device TEXT NOT NULL, status TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
    offline_since TIMESTAMPTZ, state TEXT, state_at TIMESTAMPTZ, PRIMARY KEY (site, device));
CREATE TABLE receipts (kind TEXT PRIMARY KEY, count BIGINT NOT NULL);
CREATE TABLE streams (
    site TEXT NOT NULL, device TEXT NOT NULL, incarnation TEXT NOT NULL,
    through_seq BIGINT NOT NULL DEFAULT 0, min_seq BIGINT, max_seq BIGINT,
    stored BIGINT NOT NULL DEFAULT 0, accepts BIGINT NOT NULL DEFAULT 0, denies BIGINT NOT NULL DEFAULT 0,
    unsynced BIGINT NOT NULL DEFAULT 0, door TEXT, last_entry_ts TIMESTAMPTZ, last_ns BIGINT NOT NULL DEFAULT 0,
    gap_since TIMESTAMPTZ, PRIMARY KEY (site, device, incarnation));
CREATE TABLE quarantine (
    id BIGSERIAL PRIMARY KEY, received_at TIMESTAMPTZ NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, size INTEGER NOT NULL, sample BYTEA NOT NULL);
CREATE TABLE fleet_alerts (
    id BIGSERIAL PRIMARY KEY, rule TEXT NOT NULL, site TEXT NOT NULL, target TEXT NOT NULL,
    detail TEXT NOT NULL, raised_at TIMESTAMPTZ NOT NULL, cleared_at TIMESTAMPTZ);
CREATE UNIQUE INDEX fleet_alerts_open ON fleet_alerts(rule, site, target) WHERE cleared_at IS NULL;
CREATE TABLE citizen_reports (
    id BIGSERIAL PRIMARY KEY, site TEXT NOT NULL, venue TEXT NOT NULL, body TEXT NOT NULL,
    contact TEXT NOT NULL, client TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, closed_at TIMESTAMPTZ);
"""

# Version 4 (SQLite's 5, see there): PostgreSQL swaps the keys in place (adding ``id`` rewrites the table once).
_PG_V5 = """
ALTER TABLE entry_events DROP CONSTRAINT entry_events_pkey;
ALTER TABLE entry_events ADD COLUMN id BIGSERIAL;
CREATE UNIQUE INDEX entry_events_event ON entry_events(site, device, event_id);
ALTER TABLE alert_events DROP CONSTRAINT alert_events_pkey;
ALTER TABLE alert_events ADD PRIMARY KEY (site, device, alert_id);
"""

POSTGRES_MIGRATIONS: list[str] = [_PG_V1 + _VIEWS, _VERSIONS.format(ts="TIMESTAMPTZ", agg="json_object_agg"),
                                  _REPORTS.format(ts="TIMESTAMPTZ", real="DOUBLE PRECISION", blob="BYTEA",
                                                  serial="BIGSERIAL PRIMARY KEY"),
                                  _PG_V5 + _NEWEST, _REGISTRY.format(ts="TIMESTAMPTZ", real="DOUBLE PRECISION"),
                                  _DOOR_TS]
