"""Per-connection delivery state: what is in flight, acked, rejected.

A ``_Link`` lives exactly as long as one paho client. Dropping it on any
disconnect is what keeps our in-flight view and paho's identical: rows that
were in flight are simply read from the journal again by the next link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Literal

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from entryscan.device.delivery.journal import Journal, OutboxRow

log = logging.getLogger("entryscan.device.delivery.publisher")

NO_MATCHING_SUBSCRIBERS = 0x10
RECEIVE_MAXIMUM_DEFAULT = 65535  # MQTT v5 Receive Maximum of a broker that states none
PUBLISH_OVERHEAD = 16  # fixed header, topic length, packet id and a properties length: an upper bound


def packet_size(topic: str, payload: bytes) -> int:
    return len(topic.encode()) + len(payload) + PUBLISH_OVERHEAD
# Command results waiting for their PUBACK, at most: a command flood would otherwise queue one result per command
# in paho's unbounded outgoing queue (45,044 for 50,000 commands on a local broker).
MAX_PENDING_RESULTS = 32


@dataclass
class PublisherStats:
    """Counters for tests, benchmarks and the state document (read from other threads)."""

    connects: int = 0
    publishes: int = 0
    acked: int = 0
    rejected: int = 0
    client_errors: int = 0
    reject_alerts: int = 0
    results_dropped: int = 0  # command results not sent because too many were still waiting (a flood)
    confirmed: int = 0  # rows the collector's confirmations removed
    tls_errors: int = 0  # TLS handshake failures and alerts (delivery.tlsreport)


@dataclass
class Tuning:
    """Timings tests shorten; production uses the defaults."""

    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 120.0
    reject_retry_s: float = 5.0  # first retry of a rejected entry; doubles per attempt
    reject_retry_max_s: float = 3600.0
    alert_reject_retry_s: float = 60.0  # rejected alert rows: long backoff, never an alert about them
    alert_reject_retry_max_s: float = 6 * 3600.0
    alive_window_s: float = 30.0
    confirm_wait_s: float = 60.0  # a sent row not confirmed by the collector goes again after this; doubles per send
    confirm_wait_max_s: float = 3600.0


@dataclass
class _Inflight:
    row: OutboxRow
    sent: float


@dataclass
class _Link:
    """State of one connection (one paho client)."""

    client: paho.Client
    started: float
    connected: bool = False
    was_connected: bool = False
    max_inflight: int = 20
    inflight: dict[int, _Inflight] = field(default_factory=dict)
    acked: list[OutboxRow] = field(default_factory=list)  # PUBACKed, journal not yet told
    unheard: int = 0  # PUBACKs saying 0x10 "no matching subscribers" on this link
    max_packet: int = 0  # the broker's Maximum Packet Size from its CONNACK (0: none said)
    first_ack: float = 0.0
    rejections: list[tuple[OutboxRow, ReasonCode]] = field(default_factory=list)
    control: dict[int, str] = field(default_factory=dict)  # mid -> what (status/state/discovery)
    control_topics: dict[int, str] = field(default_factory=dict)  # mid -> topic, to name a refused one
    control_rejections: list[tuple[str, str, ReasonCode]] = field(default_factory=list)  # (what, topic, rc)
    stopped_mid: int | None = None
    stopped_acked: bool = False
    discovery_due: bool = False
    more: bool = True
    next_poll: float = 0.0
    window: int = 20  # max_inflight as the CONNACK allows it (a probe narrows max_inflight to 1 for a while)
    refused: bool = False  # ended by a protocol error or a refusing DISCONNECT (see probe.py)
    resize: bool = False  # paho's window is over the broker's Receive Maximum: reconnect with a smaller one

    def sized_by(self, properties: object, max_inflight: int, paho_window: int) -> int:
        """Apply the CONNACK's Receive Maximum and Maximum Packet Size; returns the Receive Maximum.

        paho's window (unacknowledged PUBLISHes, control messages included) is fixed when its client is made and
        cannot change while connected, so a broker that allows fewer gets a new client (``resize``)."""
        receive_max = int(getattr(properties, "ReceiveMaximum", 0) or RECEIVE_MAXIMUM_DEFAULT)
        self.max_inflight = min(max_inflight, receive_max)
        self.max_packet = int(getattr(properties, "MaximumPacketSize", 0) or 0)
        self.resize = paho_window > receive_max
        return receive_max

    def busy_rows(self) -> set[int]:
        """Rows not to fetch again: in flight, or acked but not yet deleted."""
        busy = {row.row_id for row in self.acked}
        busy.update(f.row.row_id for f in self.inflight.values())
        return busy

    def publish_row(self, row: OutboxRow, topic: str, now: float) -> None:
        if self.max_packet and packet_size(topic, row.payload) > self.max_packet:
            # The broker said in its CONNACK it takes nothing larger: sending it would only get us disconnected,
            # and the same row would go first again after every reconnect. Refused here, like a 0x95 PUBACK.
            self.rejections.append((row, ReasonCode(PacketTypes.DISCONNECT, identifier=0x95)))  # "Packet too large"
            return
        info = self.client.publish(topic, row.payload, qos=1)
        # Even on MQTT_ERR_NO_CONN the message is tracked: the next loop() call
        # reports the lost connection and this whole link is discarded anyway.
        self.inflight[info.mid] = _Inflight(row, now)

    def publish_control(self, what: str, topic: str, payload: str, retain: bool = True) -> int:
        mid = self.client.publish(topic, payload, qos=1, retain=retain).mid
        self.control[mid] = what
        self.control_topics[mid] = topic
        return mid

    def publish_result(self, topic: str, payload: str, stats: PublisherStats) -> None:
        """A command's result, unless MAX_PENDING_RESULTS results still wait for their PUBACK (then dropped)."""
        if sum(1 for what in self.control.values() if what == "result") >= MAX_PENDING_RESULTS:
            if stats.results_dropped % 1000 == 0:
                log.warning("mqtt: command flood: %d results dropped so far", stats.results_dropped + 1)
            stats.results_dropped += 1
            return
        self.publish_control("result", topic, payload, retain=False)

    def on_puback(self, mid: int, rc: ReasonCode,
                  now: float) -> Literal["acked", "rejected", "control", "control_rejected"]:
        """Sort one PUBACK; journal work happens later, outside paho's callback.

        0x10 "no matching subscribers" is a success code, but the broker dropped the message: it counts as acked
        (the row waits for a confirmation that will not come, then goes again), never as delivered.
        """
        flight = self.inflight.pop(mid, None)
        if flight is None:
            what = self.control.pop(mid, None)
            topic = self.control_topics.pop(mid, "")
            if mid == self.stopped_mid:
                self.stopped_acked = True
            if what is not None and rc.is_failure:
                # Counted and alerted like a refused row (rejections.py): a broker ACL that refuses the tag or
                # discovery topic otherwise left Home Assistant deaf while the state said mqtt_rejected: 0.
                log.warning("mqtt: broker rejected the %s message on %s: %s", what, topic, rc.getName())
                if len(self.control_rejections) < MAX_PENDING_RESULTS * 4:  # bounded while no journal takes them
                    self.control_rejections.append((what, topic, rc))
                return "control_rejected"
            return "control"
        if rc.is_failure:
            self.rejections.append((flight.row, rc))
            return "rejected"
        if not self.acked:
            self.first_ack = now
        if rc.value == NO_MATCHING_SUBSCRIBERS:
            self.unheard += 1
            flight = _Inflight(replace(flight.row, unheard=True), flight.sent)
        self.acked.append(flight.row)
        self.more = True
        return "acked"

    def flush_acks(self, journal: Journal, confirmed: bool, wait_s: float, max_wait_s: float) -> None:
        """Tell the journal what the broker took: delete what needs no confirmation, keep the rest as sent."""
        if not self.acked:
            return
        def delivered(row: OutboxRow) -> bool:
            return not row.unheard and (row.legacy or not confirmed)

        journal.delete([r.row_id for r in self.acked if delivered(r)])
        journal.mark_sent([r.row_id for r in self.acked if not delivered(r)], wait_s, max_wait_s)
        self.acked = []

    def reconnect_if_stuck(self, now: float, limit_s: float) -> None:
        """paho retries only on reconnect; a PUBACK that never comes means a stuck link, so force the reconnect."""
        waited = self.oldest_wait(now)
        if waited > limit_s:
            log.warning("mqtt: no PUBACK for %.0f s; reconnecting", waited)
            self.disconnect(graceful=False)

    def oldest_wait(self, now: float) -> float:
        return now - min(f.sent for f in self.inflight.values()) if self.inflight else 0.0

    def disconnect(self, *, graceful: bool) -> None:
        """Send DISCONNECT; unless stopping cleanly, ask the broker to publish the LWT.

        A plain DISCONNECT discards the will, which would leave ``online``
        retained while this device is in fact reconnecting or gone.
        """
        reason = "Normal disconnection" if graceful else "Disconnect with will message"
        self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, reason))
        self.connected = False
