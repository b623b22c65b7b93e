"""Bounds on connections, applied in uvicorn's h11 protocol: how long a client may take to send a request's
headers and its body, how many connections one address may hold, and how many all together.

A connection over a cap is answered 503 and closed at once, before it costs a request task; a client too
slow with its headers gets 408 and is closed. Trusted proxies are exempt from the per-address cap (every
citizen behind the proxy arrives from its address) but not from the total. One log line per minute at most
says how many were refused, so a flood cannot flood the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from entryscan.collector.web.app import WebSettings

log = logging.getLogger("collector")

BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 14\r\n"
        b"connection: close\r\n\r\ntoo many conns")
SLOW = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n"
        b"connection: close\r\n\r\nrequest slow")


class ConnectionBook:
    """Open connections per address and in all (the event loop's thread only: no lock needed)."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.per_address: Counter[str] = Counter()
        self.total = 0
        self.refused = 0
        self.timed_out = 0
        self._last_log = 0.0

    def admit(self, address: str) -> bool:
        s = self.settings
        if self.total >= s.max_connections or (
                self.per_address[address] >= s.max_per_address and not s.trusts(address)):
            self.refused += 1
            self._log()
            return False
        self.total += 1
        self.per_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self.total -= 1
        self.per_address[address] -= 1
        if self.per_address[address] <= 0:
            del self.per_address[address]

    def _log(self) -> None:
        now = time.monotonic()
        if now - self._last_log >= 60:
            self._last_log = now
            log.warning("collector: http: %d connections refused so far (caps: %d in all, %d per address); "
                        "%d closed for slow requests", self.refused, self.settings.max_connections,
                        self.settings.max_per_address, self.timed_out)


def guarded_protocol(book: ConnectionBook) -> type[H11Protocol]:
    settings = book.settings

    class GuardedH11(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None
            self._deadline_for: object = None
            self._admitted: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else ""
            if not book.admit(address):
                transport.write(BUSY)
                transport.close()
                return
            self._admitted = address
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            if self._admitted is not None:
                book.release(self._admitted)
                self._admitted = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def _watch(self) -> None:
            """Arm the header deadline while a request's head is incomplete, the body deadline while its body
            is; nothing once the request is in (a live-events stream may then stay open)."""
            if self.transport is None or self.transport.is_closing():
                return
            state = self.conn.their_state
            if state is h11.IDLE and self.conn.our_state is h11.IDLE:
                self._arm("head", settings.header_timeout_s)
            elif state is h11.SEND_BODY:
                self._arm("body", settings.body_timeout_s)
            else:
                self._cancel()

        def _arm(self, what: str, seconds: float) -> None:
            if self._deadline_for == what:
                return
            self._cancel()
            self._deadline_for = what
            self._deadline = self.loop.call_later(seconds, self._too_slow, what)

        def _cancel(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline, self._deadline_for = None, None

        def _too_slow(self, what: str) -> None:
            self._deadline, self._deadline_for = None, None
            if self.transport.is_closing():
                return
            book.timed_out += 1
            log.debug("collector: http: %s too slow sending the request %s; closed", self.client, what)
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(SLOW)
            self.transport.close()

    return GuardedH11
