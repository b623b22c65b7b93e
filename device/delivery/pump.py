"""The journal side of the delivery loop, run between paho loop calls on the delivery thread.

It records what the last loop brought (PUBACKs, rejections, the collector's confirmation), sends the rows the link
has room for, and folds the WAL back when idle. The publisher owns the link's life; this owns the journal work.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from entryscan.device.delivery.confirm import PendingConfirmation
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.link import PublisherStats, Tuning, _Link
from entryscan.device.delivery.rejections import Rejections
from entryscan.device.delivery.topics import Topics

if TYPE_CHECKING:
    from entryscan.device.delivery.listsync import ListFeed

ACK_FLUSH_COUNT = 50
ACK_FLUSH_S = 0.2
POLL_S = 1.0  # re-read the journal this often even without notify() (deferred rows fall due)
CHECKPOINT_S = 300.0


class JournalPump:
    def __init__(self, tuning: Tuning, topics: Topics, stats: PublisherStats, wake: threading.Event, *,
                 confirmed: bool, lists: ListFeed | None, now: float) -> None:
        self._tuning = tuning
        self._topics = topics
        self._stats = stats
        self._wake = wake  # set by notify(): new rows; set here when rows leave (room for more)
        self._confirmed = confirmed
        self._lists = lists
        self.rejections = Rejections(tuning, topics, stats)
        self.confirmation = PendingConfirmation()
        self._next_checkpoint = now + CHECKPOINT_S

    def pump(self, link: _Link, journal: Journal, now: float) -> None:
        """One turn; a JournalError (full or failing disk) is the caller's to handle."""
        self.rejections.handle(link, journal)
        self.apply_confirmation(journal)
        if link.acked and (len(link.acked) >= ACK_FLUSH_COUNT or now - link.first_ack >= ACK_FLUSH_S):
            self.flush_acks(link, journal)
        room = link.max_inflight - len(link.inflight)
        if room > 0 and (link.more or self._wake.is_set()):
            self._wake.clear()
            self._send(link, journal, room, now)
        if self.rejections.alert_due(now):
            self.rejections.alert(journal, now)
            self._wake.set()
        if self._lists is not None:
            self._lists.poll(journal)
        if now >= link.next_poll:
            link.more = True  # periodic re-read: deferred rows fall due, rows added without notify()
            link.next_poll = now + POLL_S

    def _send(self, link: _Link, journal: Journal, room: int, now: float) -> None:
        rows = journal.pending(room, exclude=link.busy_rows())
        for row in rows:
            link.publish_row(row, self._topics.for_kind(row.kind), now)
            self._stats.publishes += 1
        link.more = len(rows) == room
        if not rows and not link.inflight and now >= self._next_checkpoint:
            # Idle with nothing to send: fold the WAL back so a long offline
            # period does not leave a large -wal file on the SD card.
            self._next_checkpoint = now + CHECKPOINT_S
            journal.checkpoint()

    def flush_acks(self, link: _Link, journal: Journal) -> None:
        link.flush_acks(journal, self._confirmed, self._tuning.confirm_wait_s, self._tuning.confirm_wait_max_s)

    def apply_confirmation(self, journal: Journal) -> None:
        removed = self.confirmation.apply(journal)
        self._stats.confirmed += removed
        if removed:
            self._wake.set()

    def settle(self, link: _Link, journal: Journal) -> None:
        """What the link's last loop calls brought, recorded before the link is dropped."""
        self.rejections.handle(link, journal)
        self.flush_acks(link, journal)
