"""Human names for the codes the office's pages show: fields, door states, decisions, reason codes,
credential types, the collector's rules and the doors' alerts.

The codes themselves stay the contract (JSON API, MQTT, CSV); pages show these names instead, translated
through the gettext catalogs (``N_`` only marks a string for extraction; templates translate it when
rendering). A code missing here is shown as it is, so a new code is visible rather than hidden.
"""

from __future__ import annotations

from entryscan.collector.citizens import CATEGORIES
from entryscan.collector.citizens import STATES as REPORT_STATES


def N_(text: str) -> str:
    return text


FIELDS = {
    "ts": N_("Time"), "site": N_("Site"), "device": N_("Door scanner"), "door": N_("Door"),
    "seq": N_("No."), "decision": N_("Decision"), "reason": N_("Reason"),
    "credential_type": N_("Credential"), "subject": N_("Person (pseudonym)"), "status": N_("Status"),
    "entries": N_("Entries"), "accepts": N_("Accepted"), "denies": N_("Refused"), "missing": N_("Missing"),
    "last_entry_ts": N_("Last entry"), "open_alerts": N_("Open alerts"), "door_problems": N_("Door problems"),
    "offline_since": N_("Offline since"), "status_at": N_("Status received"), "state_at": N_("State received"),
    "unsynced": N_("Entries with an unsynchronised clock"), "incarnation": N_("Journal incarnation"),
    "policy_version": N_("Policy version"), "received_at": N_("Received"), "clock_synced": N_("Clock synchronised"),
    "raised_at": N_("Raised"), "source": N_("Source"), "rule": N_("Alert"), "target": N_("Concerns"),
    "detail": N_("Details"), "venue": N_("Venue"), "name": N_("Name"), "count": N_("Count"),
    "created_at": N_("Received"), "body": N_("Report"), "contact": N_("Contact"), "closed_at": N_("Closed"),
    "hours": N_("Opening hours"), "longest_idle": N_("Longest span without scans"),
    "entries_in_hours": N_("Entries in opening hours"), "version": N_("Version"), "since": N_("Held since"),
    "issued_at": N_("Issued"), "age": N_("Age"), "what": N_("What"),
    # a citizen's report
    "category": N_("Problem"), "report_status": N_("State"), "assigned_commune": N_("Sent to commune"),
    "answer": N_("Public answer"), "answered_at": N_("Answered"), "rating": N_("Citizen's rating"),
    "photo": N_("Photo"), "place": N_("Where the photo was taken"), "board_version": N_("Board version"),
    "at": N_("When"), "actor": N_("Who"), "action": N_("What happened"),
}

# The keys of a door's retained state document (device/builder.py state_snapshot, publisher.state).
STATE_FIELDS = {
    "firmware": N_("Firmware"), "uptime_s": N_("Running for (s)"), "camera": N_("Camera"),
    "decoder": N_("QR decoder"), "clock_synced": N_("Clock synchronised"), "storage": N_("Storage"),
    "tamper": N_("Tamper switch open"), "unpersisted": N_("Decisions not yet written"),
    "frames": N_("Frames read"), "scans": N_("Codes read"), "policy_mode": N_("Door mode"),
    "policy_version": N_("Policy version"), "lists": N_("Lists held"), "lists_issued": N_("Lists issued"),
    "door": N_("Door"), "journal_backlog": N_("Entries not yet delivered"),
    "journal_refused": N_("Entries the journal refused"), "mqtt_rejected": N_("Messages the broker refused"),
    "mqtt_tls_errors": N_("Secure connection failures"), "stopped": N_("Stopped cleanly"),
    "state_error": N_("State error"), "journal_error": N_("Journal error"),
}

# One word for one state on every page: a clean stop, a lost connection (crash, power, network), online.
STATES = {
    "online": N_("Online"), "stopped": N_("Stopped (clean stop)"), "offline": N_("Offline (connection lost)"),
    "unknown": N_("Not heard from yet"),
}

YES, NO = N_("yes"), N_("no")

DECISIONS = {"accept": N_("Accepted"), "deny": N_("Refused")}

REASONS = {
    "ok": N_("Valid"), "unknown_format": N_("Unknown code format"), "malformed": N_("Damaged or malformed code"),
    "bad_signature": N_("Signature does not verify"), "unknown_key": N_("Signed by an unknown key"),
    "expired": N_("Expired"), "not_yet_valid": N_("Not yet valid"), "revoked": N_("Revoked"),
    "not_allowed": N_("Not on the allowed list"), "wrong_site": N_("Issued for another site"),
    "already_used": N_("Already used"), "passback": N_("Already inside (anti-passback)"),
    "policy_mode": N_("Refused by the door's mode"), "clock_untrusted": N_("Door clock not trusted"),
    "rule_failed": N_("A site rule failed"), "too_large": N_("Code too large"),
    "list_stale": N_("Required list out of date"),
}

CREDENTIALS = {
    "badge": N_("Staff badge"), "signed_pass": N_("Signed pass"), "cccd": N_("Citizen ID card (CCCD)"),
    "eu_dcc": N_("EU digital certificate"), "shc": N_("SMART Health Card"), "unknown": N_("Unknown"),
}

RULES = {
    "device_offline": N_("Door offline"), "venue_idle": N_("No scans during opening hours"),
    "stale_list": N_("Out-of-date list"), "camera_faults": N_("Repeated camera faults"),
    "clock_unsynced": N_("Door clock not synchronised"), "gap_unhealed": N_("Entries missing"),
    "venue_reports": N_("Citizens' reports"),
    "report_storage": N_("Storage for citizens' reports nearly full"),
}

ALERTS = {
    "camera_fault": N_("Camera fault"), "camera_recovered": N_("Camera recovered"),
    "tamper": N_("Tamper switch opened"), "tamper_cleared": N_("Tamper switch closed"),
    "storage_fault": N_("Storage fault"), "storage_recovered": N_("Storage recovered"),
    "mqtt_tls_error": N_("Secure connection to the broker failed"),
    "mqtt_client_error": N_("Broker connection error"), "publish_rejected": N_("Broker refused a message"),
    "device_wiped": N_("Door wiped"), "list_stale": N_("List out of date"), "list_refused": N_("List refused"),
    "scan_error": N_("Scanning stopped by an error (restarted)"),
}

SOURCES = {"rule": N_("Collector rule"), "door": N_("The door itself")}

KINDS = {"policy": N_("Policy"), "list": N_("List")}

SIGNATURES = {
    "ok": N_("valid"), "bad": N_("does not verify"), "unknown_key": N_("signed by an unknown key"),
    "unavailable": N_("cannot be checked here"),
}

# What happened to a citizen's report (store.reports ``report_events.action``).
REPORT_EVENTS = {
    "received": N_("Report received"), "assigned": N_("Sent to the commune"), "answered": N_("Answered publicly"),
    "closed": N_("Closed"), "rated": N_("Rated by the citizen"),
}

TABLES = {"field": FIELDS, "state_field": STATE_FIELDS, "state": STATES, "decision": DECISIONS, "reason": REASONS, "credential": CREDENTIALS,
          "rule": RULES, "alert": ALERTS, "source": SOURCES, "kind": KINDS, "signature": SIGNATURES,
          "category": CATEGORIES, "report_state": REPORT_STATES, "report_event": REPORT_EVENTS}


def name_of(table: str, code: object) -> str:
    """The English name (a catalog msgid) of ``code``, or the code itself when it has none."""
    text = "" if code is None else str(code)
    return TABLES[table].get(text, text)


def alert_name(code: object) -> str:
    """A rule's or a door alert's name (alerts list both under one column)."""
    text = "" if code is None else str(code)
    return RULES.get(text) or ALERTS.get(text) or text
