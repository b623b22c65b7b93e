"""Signed site lists arriving over MQTT, handed to the list store on the delivery thread.

Lists are retained on ``<prefix>/<site>/lists/<name>``, so every reconnect
re-delivers the current documents; the store answers those with ``unchanged``
and no alert. Whatever the store has to say (refused, rollback, stale) goes
into the journal as an alert, so it survives being offline like any event.
"""

from __future__ import annotations

import logging

from entryscan.device.access.lists import ListAlert, ListStore
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.topics import Topics
from entryscan.device.ports import Clock

log = logging.getLogger(__name__)

STALE_POLL_S = 60.0


class ListFeed:
    def __init__(self, store: ListStore, topics: Topics, clock: Clock) -> None:
        self.store = store
        self._prefix = topics.site_list("")
        self.topic_filter = topics.site_list("+")
        self._clock = clock
        self._next_poll = 0.0

    def handle(self, topic: str, payload: bytes, journal: Journal) -> bool:
        """Apply a message if it is a list document; True when the topic was ours."""
        if not topic.startswith(self._prefix):
            return False
        update = self.store.apply(topic[len(self._prefix):], payload)
        if update.status == "applied":
            log.info("lists: %s version %s applied", update.name, update.version)
        elif update.status == "refused" and update.alerts:  # as rate-limited as the alerts
            log.warning("lists: %s refused (%s)", update.name, update.reason)
        self._journal_alerts(update.alerts, journal)
        return True

    def poll(self, journal: Journal) -> None:
        """Raise ``list_stale`` alerts; cheap to call often, works while offline."""
        now = self._clock.monotonic()
        if now < self._next_poll:
            return
        self._next_poll = now + STALE_POLL_S
        self._journal_alerts(self.store.poll_alerts(self._clock.now()), journal)

    @staticmethod
    def _journal_alerts(alerts: tuple[ListAlert, ...] | list[ListAlert], journal: Journal) -> None:
        for alert in alerts:
            journal.record_alert(alert.kind, alert.detail)
