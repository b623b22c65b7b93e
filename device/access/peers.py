"""Anti-passback across the doors of one site: passages learnt from peer doors' entry events.

A door with ``[policy] direction = "in"`` or ``"out"`` subscribes to ``<prefix>/<site>/+/entry`` (the site's
broker ACL lets every door read it) and every entry event carries ``direction`` when its door has one. Subjects
are keyed pseudonyms made with the site key that provisioning gives every door of the site, so an accepted
event of a peer door names the same passage record as a scan here: an "out" at the exit clears the "in" at the
entrance, and an "in" at one entrance counts at the others.

The messages are untrusted (a compromised door can publish them): each is at most ``MAX_EVENT_BYTES``, parsed
strictly, its fields checked, and no more than ``RATE_PER_S`` (bursts of ``BURST``) are written per second; the
passage table itself is capped (``reuse.MAX_PASSAGES``). What is dropped is counted, never raised.

Time: the event's own ``ts`` when both clocks are synchronised (an event delivered late keeps its time, and an
older passage never replaces a newer one); otherwise the local time of arrival, the clock every local decision
uses. Events older than the window are ignored.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from entryscan.device.access.credentials import jsonguard
from entryscan.device.access.reuse import ReuseStore
from entryscan.device.errors import EntryscanError
from entryscan.device.ports import Clock

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 32 * 1024
RATE_PER_S = 20.0
BURST = 200.0
FUTURE_SLACK_S = 60.0  # a peer clock this far ahead is still taken at its word, capped at "now"
_SUBJECT = re.compile(r"[0-9a-f]{16,64}")
_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


@dataclass
class PeerStats:
    noted: int = 0
    ignored: int = 0  # not an accepted passage of another door, stale, or malformed
    dropped: int = 0  # over the rate limit or the table cap
    failed: int = 0  # the journal file could not take it
    last_dropped_log: float = field(default=float("-inf"))


class PeerPassages:
    """Called on the delivery thread with each message on ``<prefix>/<site>/+/entry``. Never raises."""

    def __init__(self, store: ReuseStore, clock: Clock, *, device: str, site: str, window_s: float) -> None:
        self._store = store
        self._clock = clock
        self._device = device
        self._site = site
        self._window_s = window_s
        self._tokens = BURST
        self._refilled = clock.monotonic()
        self.stats = PeerStats()

    def handle(self, sender: str, payload: bytes) -> None:
        """One peer event; ``sender`` is the device level of its topic."""
        try:
            self._handle(sender, payload)
        except Exception as exc:  # noqa: BLE001 - hostile input must never reach the MQTT thread
            self.stats.ignored += 1
            log.debug("peer event ignored: %s", type(exc).__name__)

    def _handle(self, sender: str, payload: bytes) -> None:
        if sender == self._device or not _ID.fullmatch(sender) or len(payload) > MAX_EVENT_BYTES:
            self.stats.ignored += 1
            return
        passage = self._passage(sender, payload)
        if passage is None:
            self.stats.ignored += 1
            return
        if not self._take_token():
            self._dropped("rate limit")
            return
        kind, subject, direction, at = passage
        try:
            noted = self._store.note_passage(kind, subject, direction, at)
        except EntryscanError as exc:
            self.stats.failed += 1
            log.error("peer passage not recorded: %s", exc)
            return
        if noted:
            self.stats.noted += 1
        else:
            self._dropped("passage table full")

    def _passage(self, sender: str, payload: bytes) -> tuple[str, str, Any, dt.datetime] | None:
        event = jsonguard.loads(payload, "peer event", max_depth=4)
        if not isinstance(event, dict) or event.get("decision") != "accept":
            return None
        kind, subject, direction = event.get("credential_type"), event.get("subject"), event.get("direction")
        if event.get("device") != sender or event.get("site") != self._site or direction not in ("in", "out"):
            return None
        if not (isinstance(kind, str) and _TYPE.fullmatch(kind) and isinstance(subject, str)
                and _SUBJECT.fullmatch(subject)):
            return None
        at = self._when(event)
        return None if at is None else (kind, subject, direction, at)

    def _when(self, event: dict[str, Any]) -> dt.datetime | None:
        now = self._clock.now()
        if event.get("clock_synced") is not True or not self._clock.synced():
            return now
        ts = event.get("ts")
        try:
            at = dt.datetime.fromisoformat(ts) if isinstance(ts, str) and len(ts) <= 40 else None
        except ValueError:
            return None
        if at is None or at.tzinfo is None:
            return None
        age = (now - at).total_seconds()
        if age > self._window_s or age < -FUTURE_SLACK_S:
            return None  # too old to matter, or from a clock that is not what it claims
        return min(at, now)

    def _take_token(self) -> bool:
        mono = self._clock.monotonic()
        self._tokens = min(BURST, self._tokens + (mono - self._refilled) * RATE_PER_S)
        self._refilled = mono
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _dropped(self, why: str) -> None:
        self.stats.dropped += 1
        mono = self._clock.monotonic()
        if mono - self.stats.last_dropped_log >= 60.0:  # one line a minute, not one per message
            self.stats.last_dropped_log = mono
            log.warning("peer passages dropped (%s); %d so far", why, self.stats.dropped)
