"""Finding the row a broker refuses by closing the link, so that it cannot block the rows behind it.

A broker may end the connection instead of answering one PUBLISH. mosquitto's ``message_size_limit`` answers an
oversized PUBLISH with a PUBACK carrying 0x95, a code MQTT 5 does not allow in a PUBACK (3.4.2.1), and paho then
drops the link as a protocol error; an MQTT 5 broker may send DISCONNECT 0x95 "Packet too large" or 0x87 instead.
Either way no PUBACK names the row, and the same row would go first after every reconnect.

So after a link ends that way with rows in flight, the next link sends one row at a time until one is answered.
A link refused with only that one row in flight is a strike against it; the second strike in a row hands it back
as the culprit, to be deferred and alerted like a rejected PUBACK (kept, retried with backoff, never deleted).
An ordinary outage (connection lost, broker restart, our own keepalive reconnect) never starts a probe.
"""

from __future__ import annotations

import logging

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from entryscan.device.delivery.journal import OutboxRow
from entryscan.device.delivery.link import _Link

log = logging.getLogger("entryscan.device.delivery.publisher")

STRIKES = 2
# DISCONNECT reasons that answer something the client sent (MQTT 5 3.14.2.1): Malformed Packet, Protocol Error,
# Implementation specific error, Not authorized, Topic Name invalid, Packet too large, Quota exceeded,
# Payload format invalid. Server shutting down, Keep Alive timeout, Session taken over and the like are outages.
REFUSING_DISCONNECTS = frozenset({0x81, 0x82, 0x83, 0x87, 0x90, 0x95, 0x97, 0x99})
# The reason the culprit is journaled with: what mosquitto meant by its out-of-spec PUBACK, and the common case.
REFUSED = ReasonCode(PacketTypes.DISCONNECT, identifier=0x95)


def link_refused(loop_rc: int | None = None, *, from_server: bool = False, reason: int = 0) -> bool:
    """Whether a link's end says the broker refused what it was sent (not a mere loss of the connection)."""
    if loop_rc is not None:
        return loop_rc == paho.MQTT_ERR_PROTOCOL
    return from_server and reason in REFUSING_DISCONNECTS


class LinkProbe:
    """Owned by the delivery thread; its state spans links."""

    def __init__(self) -> None:
        self.active = False
        self._suspect: int | None = None
        self._strikes = 0

    def begin(self, link: _Link) -> None:
        """After CONNACK, once ``link.max_inflight`` is set: a link after a refusal starts with a window of one."""
        link.window = link.max_inflight
        if self.active:
            link.max_inflight = 1

    def answered(self, link: _Link) -> None:
        """A row got its PUBACK (success or rejection): the link carries rows, so its full window opens."""
        if self.active:
            self.active = False
            self._suspect, self._strikes = None, 0
            link.max_inflight = link.window

    def ended(self, link: _Link) -> OutboxRow | None:
        """A link ended (not by our stop): the row to refuse, when this end convicts one."""
        if not (link.refused and link.inflight):
            return None
        if not self.active or len(link.inflight) != 1:
            self.active = True
            log.warning("mqtt: the broker refused the link with %d rows in flight; sending one at a time",
                        len(link.inflight))
            return None
        (flight,) = link.inflight.values()
        if flight.row.row_id != self._suspect:
            self._suspect, self._strikes = flight.row.row_id, 0
        self._strikes += 1
        if self._strikes < STRIKES:
            return None
        self._suspect, self._strikes = None, 0
        log.warning("mqtt: the broker refused the link %d times with only %s row %d in flight; deferring it",
                    STRIKES, flight.row.kind, flight.row.row_id)
        return flight.row
