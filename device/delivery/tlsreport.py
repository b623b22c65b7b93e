"""Reporting TLS failures: a door that cannot connect says why, in its log, its journal and its state.

A broker with another site's certificate, the wrong hostname, an expired certificate or TLS below 1.2 is
refused by the door's TLS context (client.tls_context); the broker in turn refuses a door whose certificate
it does not trust. Either way the door cannot publish at that moment, so "reported" means:

- a WARNING log line naming the cause (journald on a Pi) each time the cause changes, INFO on repeats;
- a journaled ``mqtt_tls_error`` alert (reason, host, port, detail), at most one per cause per hour, delivered
  like every alert once a connection succeeds (for example after the certificate or config is fixed);
- ``mqtt_tls_errors`` in the retained state document: the failures counted since start.

Failures surface in two places: a handshake error raised by ``connect()`` (the door refused the broker, or a
TLS 1.2 broker refused the door) and, with TLS 1.3, an alert read after the handshake that paho only logs
("failed to receive on socket: [SSL: ...]"), hence ``paho_log``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.link import PublisherStats
from entryscan.device.ports import Clock

log = logging.getLogger("entryscan.device.delivery.publisher")

ALERT_INTERVAL_S = 3600.0
# The first matching fragment of OpenSSL's / Python's message names the cause (order matters).
CAUSES: tuple[tuple[str, str], ...] = (
    ("certificate has expired", "server_certificate_expired"),
    ("certificate is not yet valid", "server_certificate_not_yet_valid"),
    ("Hostname mismatch", "hostname_mismatch"),
    ("IP address mismatch", "hostname_mismatch"),
    ("unable to get local issuer certificate", "unknown_ca"),
    ("self-signed certificate", "unknown_ca"),
    ("self signed certificate", "unknown_ca"),
    ("certificate revoked", "server_certificate_revoked"),
    ("CERTIFICATE_VERIFY_FAILED", "server_certificate_refused"),
    ("ALERT_PROTOCOL_VERSION", "protocol_version"),
    ("UNSUPPORTED_PROTOCOL", "protocol_version"),
    ("NO_PROTOCOLS_AVAILABLE", "protocol_version"),
    ("WRONG_VERSION_NUMBER", "protocol_version"),
    ("ALERT_CERTIFICATE_EXPIRED", "client_certificate_expired"),
    ("ALERT_CERTIFICATE_REVOKED", "client_certificate_revoked"),
    ("ALERT_UNKNOWN_CA", "client_certificate_refused"),
    ("ALERT_BAD_CERTIFICATE", "client_certificate_refused"),
    ("CERTIFICATE_REQUIRED", "client_certificate_refused"),
    ("[SSL", "handshake_failed"),
)


def tls_cause(text: str) -> str | None:
    """The cause of a TLS failure from its message, or None when the message is not about TLS."""
    return next((cause for fragment, cause in CAUSES if fragment in text), None)


class TlsFailures:
    """Logs, counts and journals TLS failures of one publisher (runs on its delivery thread only)."""

    def __init__(self, host: str, port: int, clock: Clock, stats: PublisherStats,
                 journal: Callable[[], Journal | None]) -> None:
        self._where = {"host": host, "port": port}
        self._clock = clock
        self._journal = journal
        self._last_cause: str | None = None
        self._next_alert: dict[str, float] = {}
        self._stats = stats

    def connect_failed(self, exc: BaseException) -> bool:
        """Report ``exc`` if it is a TLS failure; False for anything else (refused, unreachable)."""
        text = str(exc)
        cause = tls_cause(text) if isinstance(exc, OSError) else None
        if cause is None:
            return False
        self._report(cause, text)
        return True

    def paho_log(self, client: paho.Client, userdata: Any, level: int, message: str) -> None:
        """paho's on_log: a TLS alert after the handshake (TLS 1.3) reaches us only as a log line."""
        if level == paho.MQTT_LOG_ERR:
            cause = tls_cause(message)
            if cause is not None:
                self._report(cause, message)

    def connected(self) -> None:
        self._last_cause = None

    def _report(self, cause: str, detail: str) -> None:
        self._stats.tls_errors += 1
        level = logging.INFO if cause == self._last_cause else logging.WARNING
        log.log(level, "mqtt: TLS failure with %s:%d (%s): %s", self._where["host"], self._where["port"], cause,
                detail[:200])
        self._last_cause = cause
        now = self._clock.monotonic()
        journal = self._journal()
        if journal is None or now < self._next_alert.get(cause, float("-inf")):
            return
        try:
            journal.record_alert("mqtt_tls_error", {"reason": cause, **self._where, "detail": detail[:200]})
            self._next_alert[cause] = now + ALERT_INTERVAL_S
        except Exception as exc:  # noqa: BLE001 - the journal may be what failed; the log line stands
            log.error("mqtt: cannot record mqtt_tls_error alert: %s", exc)
