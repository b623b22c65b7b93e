"""Committing one batch so that no single message can hold the others back.

The store validates every message (bad ones go to quarantine inside the same transaction), but a
message may still make the database refuse the batch for a reason nobody foresaw. A batch that keeps
failing is split in halves until the message that fails is alone; that message is quarantined with
``store_refused:<error>``, and every other message of the batch is stored. While the database itself is
unreachable nothing is quarantined: the quarantine insert fails as well, or the error is one the store
calls "unavailable", and the whole batch waits, unacknowledged, for the next try.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from entryscan.collector.store import Batch, StoreBase

log = logging.getLogger("collector")

Message = tuple[str, bytes]


@dataclass(frozen=True)
class RetryPolicy:
    split_after: int = 3  # failures of a whole batch before it is split
    first_delay_s: float = 0.5
    max_delay_s: float = 30.0


def merge(parts: Sequence[Batch]) -> Batch:
    out = Batch()
    touched: dict[tuple[str, str, str], None] = {}
    for part in parts:
        out.results.extend(part.results)
        touched.update(dict.fromkeys(part.touched))
    out.touched = list(touched)
    return out


class Committer:
    """``commit(messages)`` returns the stored batch, or None when ``done`` was set before it could."""

    def __init__(self, store: StoreBase, done: threading.Event, policy: RetryPolicy | None = None,
                 on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.store = store
        self.done = done
        self.policy = policy or RetryPolicy()
        self.on_failure = on_failure  # told of every failed attempt (health, metrics)
        self.quarantined = 0  # messages this committer had to quarantine itself

    def commit(self, messages: list[Message]) -> Batch | None:
        delay, failures = self.policy.first_delay_s, 0
        while True:
            try:
                if failures >= self.policy.split_after:
                    return self._bisect(messages)
                return self.store.ingest_batch(messages)
            except Exception as exc:  # noqa: BLE001 - any store failure: keep the batch unacknowledged, retry
                failures += 1
                log.error("collector: cannot store a batch of %d (not acknowledged, retrying): %s",
                          len(messages), str(exc)[:300])
                if self.on_failure is not None:
                    self.on_failure(exc)
                if self.done.wait(delay):
                    return None  # never acknowledged: the broker redelivers to the session
                delay = min(delay * 2, self.policy.max_delay_s)
                self.store.recover()

    def _bisect(self, messages: list[Message]) -> Batch:
        """Store what can be stored; the one message that fails alone is quarantined. Raises when the
        database itself fails (then the caller retries the whole batch: what was stored is deduplicated)."""
        try:
            return self.store.ingest_batch(messages)
        except Exception as exc:
            if isinstance(exc, self.store.unavailable_errors):
                raise
            if len(messages) > 1:
                half = len(messages) // 2
                return merge([self._bisect(messages[:half]), self._bisect(messages[half:])])
            topic, payload = messages[0]
            reason = f"store_refused:{type(exc).__name__}"
            log.error("collector: the store refuses one message on %r (%s): quarantined",
                      topic[:200].encode("unicode_escape").decode(), str(exc)[:300])
            result = self.store.quarantine_message(topic, payload, reason)  # raises while the database is down
            self.quarantined += 1
            return Batch([result], [])
