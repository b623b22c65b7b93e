"""The delivery thread's journal, opened lazily and retried with backoff while it cannot be opened or written.

The link to the broker does not wait for it: with a full or failed disk the door still sends ``status``, ``state``
and its memory-only ``storage_fault`` alert. A write that fails (a PUBACK or a confirmation cannot be recorded)
pauses the journal work, with backoff, instead of ending the link: ending it would also end the control messages
that report the fault.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from entryscan.device.delivery.client import backoff_delay
from entryscan.device.delivery.journal import Journal
from entryscan.device.ports import Clock

log = logging.getLogger("entryscan.device.delivery.publisher")


class JournalOpener:
    """Owned by the delivery thread (a SQLite connection belongs to the thread that opened it)."""

    def __init__(self, open_journal: Callable[[], Journal], clock: Clock) -> None:
        self._open = open_journal
        self._clock = clock
        self._attempts = 0
        self._next_try = 0.0
        self._write_faults = 0
        self.journal: Journal | None = None

    def get(self) -> Journal | None:
        """The journal, opened now if it is not yet and its backoff has passed; None while it cannot be used."""
        if self._clock.monotonic() < self._next_try:
            return None
        if self.journal is not None:
            return self.journal
        try:
            self.journal = self._open()
            self._attempts = 0
        except Exception as exc:  # noqa: BLE001 - keep retrying: the disk may come back
            log.error("mqtt: cannot open journal, retrying: %s", exc)
            self._next_try = self._clock.monotonic() + backoff_delay(self._attempts, cap=60.0)
            self._attempts += 1
        return self.journal

    def write_failed(self, exc: Exception) -> None:
        """A journal write failed on the delivery thread: pause the journal work (1 s doubling to 30 s)."""
        if self._write_faults == 0:
            log.error("mqtt: journal cannot be written, pausing its delivery work: %s", exc)
        self._next_try = self._clock.monotonic() + backoff_delay(self._write_faults, cap=30.0)
        self._write_faults += 1

    def write_succeeded(self) -> None:
        if self._write_faults:
            log.info("mqtt: journal writable again after %d failed attempts", self._write_faults)
            self._write_faults = 0

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None
