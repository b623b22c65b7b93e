"""Broker rejections (reason code >= 0x80): keep the row, defer its retry, alert at most once a minute (refused
control messages, such as status, state, discovery, tag scans and command results, are alerted the same way); and
client errors (a paho callback or journal bug that ended a link): log each, alert at most every five minutes."""

from __future__ import annotations

import logging

from paho.mqtt.reasoncodes import ReasonCode

from entryscan.device.delivery.client import backoff_delay
from entryscan.device.delivery.journal import Journal, OutboxRow
from entryscan.device.delivery.link import PublisherStats, Tuning, _Link
from entryscan.device.delivery.topics import Topics
from entryscan.device.ports import Clock

log = logging.getLogger(__name__)

REJECT_ALERT_INTERVAL_S = 60.0
CLIENT_ERROR_ALERT_INTERVAL_S = 300.0


class Rejections:
    """Turns a link's rejected PUBACKs into deferred retries and grouped ``publish_rejected`` alerts."""

    def __init__(self, tuning: Tuning, topics: Topics, stats: PublisherStats) -> None:
        self._tuning = tuning
        self._topics = topics
        self._stats = stats
        self._since_alert: list[tuple[str, ReasonCode, OutboxRow | None]] = []  # (topic, rc, row if a row)
        self._next_alert = 0.0

    def handle(self, link: _Link, journal: Journal) -> None:
        for row, rc in link.rejections:
            alert_row = row.kind == "alert"
            base = self._tuning.alert_reject_retry_s if alert_row else self._tuning.reject_retry_s
            cap = self._tuning.alert_reject_retry_max_s if alert_row else self._tuning.reject_retry_max_s
            delay = backoff_delay(row.attempts, base=base, cap=cap, jitter=0.2)
            journal.mark_rejected(row.row_id, f"{rc.value:#04x} {rc.getName()}", delay)
            log.warning("mqtt: broker rejected %s row %d (%s); retry in %.0f s",
                        row.kind, row.row_id, rc.getName(), delay)
            if not alert_row:
                # Alerts about rejected alert rows would loop forever if the alert
                # topic itself is denied; those rows just wait out a long backoff.
                self._since_alert.append((self._topics.for_kind(row.kind), rc, row))
        for what, topic, rc in link.control_rejections:
            if what != "alert":  # a refused alert topic cannot carry an alert about itself
                self._since_alert.append((topic, rc, None))
        link.rejections = []
        link.control_rejections = []

    def alert_due(self, now: float) -> bool:
        return bool(self._since_alert) and now >= self._next_alert

    def alert(self, journal: Journal, now: float) -> None:
        """One ``publish_rejected`` alert for every rejection since the last one."""
        rejected = self._since_alert
        topic, rc, row = rejected[-1]
        detail: dict[str, object] = {"topic": topic, "reason_code": rc.value, "reason": rc.getName(),
                                     "rejected": len(rejected), "topics": sorted({t for t, _, _ in rejected})}
        if row is not None:
            detail.update(event_id=row.event_id, attempts=row.attempts + 1)
        journal.record_alert("publish_rejected", detail)
        self._stats.reject_alerts += 1
        self._since_alert = []
        self._next_alert = now + REJECT_ALERT_INTERVAL_S


class ClientErrors:
    """A link that died of an exception: the client is rebuilt; this logs it and journals a throttled alert."""

    def __init__(self, stats: PublisherStats, clock: Clock) -> None:
        self._stats = stats
        self._clock = clock
        self._next_alert = 0.0

    def record(self, exc: Exception, journal: Journal | None) -> None:
        self._stats.client_errors += 1
        log.error("mqtt: client error, rebuilding the client", exc_info=exc)
        now = self._clock.monotonic()
        if now < self._next_alert or journal is None:
            return
        self._next_alert = now + CLIENT_ERROR_ALERT_INTERVAL_S
        try:
            journal.record_alert("mqtt_client_error", {"error": type(exc).__name__, "detail": str(exc)[:200]})
        except Exception as err:  # noqa: BLE001 - the journal may be what failed
            log.error("mqtt: cannot record mqtt_client_error alert: %s", err)
