"""The publisher's control messages: status, state, discovery, memory-only alerts, live tag scans and events.

None of these is journaled. ``status``/``state``/discovery are retained and re-sent on every connection; alerts
about a failing journal, Home Assistant tag scans and live decisions live in small bounded queues in memory. A
tag scan and a live decision are live things: they go out only for a decision shown at the door a moment ago
(never a journal replay or an unconfirmed re-send: Home Assistant keeps every new tag id forever, and each
message on the event topic fires the event entity and its automations) and are dropped if the link is down for
longer than TAG_MAX_AGE_S.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from collections.abc import Callable

from entryscan.device.delivery.discovery import discovery_messages, legacy_topics
from entryscan.device.delivery.journal import Journal, iso_ms
from entryscan.device.delivery.link import PublisherStats, _Link
from entryscan.device.delivery.topics import Topics
from entryscan.device.ports import Clock

log = logging.getLogger("entryscan.device.delivery.publisher")

TRANSIENT_ALERTS = 50  # memory-only alerts awaiting a connection; beyond this the oldest are dropped
LIVE_TAGS = 10
TAG_MAX_AGE_S = 5.0
# The fields of a live decision Home Assistant's event entity gets (event_type is the decision). Nothing
# personal: no subject. event_id lets an automation tell one entry from another.
EVENT_FIELDS = ("event_id", "seq", "ts", "reason", "credential_type", "direction")
# After asking Home Assistant to migrate the earlier discovery topic, time for it to unload those entities
# before the same unique ids arrive on the new topic (else it refuses them as already existing).
MIGRATE_PAUSE_S = 1.0


class ControlMessages:
    """Built on the delivery thread only, except ``transient_alert``/``tag_scanned`` (deque appends are atomic)."""

    def __init__(self, topics: Topics, ids: dict[str, str], clock: Clock, stats: PublisherStats, *,
                 state_provider: Callable[[], dict[str, object]], firmware: str) -> None:
        self._topics = topics
        self._ids = ids
        self._clock = clock
        self._stats = stats
        self._state_provider = state_provider
        self._firmware = firmware
        self._state_error_logged = False
        self._transient: deque[dict[str, object]] = deque(maxlen=TRANSIENT_ALERTS)
        # Memory-only alerts sent on the current link and not yet acknowledged, by message id: a link that ends
        # before their PUBACK puts them back in front of the queue (the same alert_id: the collector de-duplicates).
        self._alerts_unacked: dict[int, dict[str, object]] = {}
        self._alerts_link: _Link | None = None
        self._tags: deque[tuple[float, str]] = deque(maxlen=LIVE_TAGS)
        self._events: deque[tuple[float, str]] = deque(maxlen=LIVE_TAGS)
        self._migrated_at: float | None = None  # legacy discovery topics asked to migrate (once per start)
        self._legacy_cleared = False

    def transient_alert(self, kind: str, detail: dict[str, object]) -> None:
        """An alert kept in memory only, for when the journal itself cannot be written (disk full, I/O)."""
        alert: dict[str, object] = {"kind": kind, "ts": iso_ms(self._clock.now()), **self._ids,
                                    "alert_id": str(uuid.uuid4()), "durable": False}
        alert.update({k: v for k, v in detail.items() if k not in alert})
        self._transient.append(alert)

    def tag_scanned(self, tag_id: str) -> None:
        self._tags.append((self._clock.monotonic(), tag_id))

    def decided(self, event: dict[str, object]) -> None:
        """A decision just shown at the door, for Home Assistant's event entity."""
        doc: dict[str, object] = {"event_type": event.get("decision")}
        doc.update((k, event[k]) for k in EVENT_FIELDS if event.get(k) is not None)
        self._events.append((self._clock.monotonic(), json.dumps(doc, separators=(",", ":"), default=str)))

    def flush(self, link: _Link) -> None:
        """Send the queued memory-only alerts and the live tag scans that are still fresh."""
        if self._alerts_link is not link:
            self.link_ended()
        while self._transient:
            alert = self._transient.popleft()
            payload = json.dumps(alert, separators=(",", ":"), default=str)
            self._alerts_unacked[link.publish_control("alert", self._topics.alert, payload, retain=False)] = alert
            self._alerts_link = link
        now = self._clock.monotonic()
        while self._tags:
            at, tag_id = self._tags.popleft()
            if now - at <= TAG_MAX_AGE_S:
                link.publish_control("tag", self._topics.tag, tag_id, retain=False)
        while self._events:
            at, doc = self._events.popleft()
            if now - at <= TAG_MAX_AGE_S:
                link.publish_control("event", self._topics.event, doc, retain=False)

    def acknowledged(self, link: _Link, mid: int) -> None:
        """A PUBACK for a control message: a memory-only alert is done with (a refusal is counted elsewhere and
        would be refused again)."""
        if link is self._alerts_link:
            self._alerts_unacked.pop(mid, None)

    def link_ended(self) -> None:
        """Alerts not acknowledged on the link that ended go first on the next one (bounded by the queue)."""
        for alert in reversed(list(self._alerts_unacked.values())):
            self._transient.appendleft(alert)
        self._alerts_unacked.clear()
        self._alerts_link = None

    def state(self, link: _Link, journal: Journal | None, *, stopped: bool = False) -> int:
        """Publish the retained state document; returns its message id."""
        doc: dict[str, object] = {}
        try:
            doc.update(self._state_provider())
            self._state_error_logged = False
        except Exception as exc:  # a broken probe must not stop delivery
            if not self._state_error_logged:
                log.exception("mqtt: state provider failed")
                self._state_error_logged = True
            doc["state_error"] = type(exc).__name__
        if journal is not None:
            try:
                doc.update(journal_backlog=journal.backlog(), journal_refused=journal.refused())
            except Exception as exc:  # noqa: BLE001 - the journal may be what is failing
                doc["journal_error"] = type(exc).__name__
        else:
            doc["journal_error"] = "not_open"
        doc.update(mqtt_rejected=self._stats.rejected, mqtt_tls_errors=self._stats.tls_errors, stopped=stopped)
        return link.publish_control("state", self._topics.state, json.dumps(doc, separators=(",", ":"), default=str))

    def discovery(self, link: _Link) -> None:
        if any(what == "discovery" for what in link.control.values()):
            # The last set is not acknowledged yet: send again only after it is, so a flood of
            # homeassistant/status "online" costs one set in flight, not one per message.
            return
        if not self._migrate_legacy(link):
            return
        link.discovery_due = False
        for topic, config in discovery_messages(self._topics, site=self._ids["site"], door=self._ids["door"],
                                                firmware=self._firmware):
            link.publish_control("discovery", topic, json.dumps(config, separators=(",", ":")))
        if self._migrated_at is not None and not self._legacy_cleared:
            # Home Assistant's order: migrate request, the new discovery, then empty retained old topics.
            for topic in legacy_topics(self._topics):
                link.publish_control("discovery", topic, "")
            self._legacy_cleared = True

    def _migrate_legacy(self, link: _Link) -> bool:
        """Once per start, ask Home Assistant to migrate entities from the topics earlier releases used; True
        when the new discovery may go out."""
        now = self._clock.monotonic()
        if self._migrated_at is None:
            self._migrated_at = now
            # The device topic only: the tag scanner has no entity to keep, its empty config just removes it.
            link.publish_control("discovery", legacy_topics(self._topics)[0], '{"migrate_discovery":true}',
                                 retain=False)
            return False
        return self._legacy_cleared or now >= self._migrated_at + MIGRATE_PAUSE_S
