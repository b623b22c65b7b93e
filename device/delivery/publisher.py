"""The publisher: one delivery thread moves journal rows to the broker.

The thread owns a paho client and its own Journal connection and runs its own loop (no ``loop_start``): paho's
background thread dies silently when a callback raises (paho #894/#636), and its in-memory session is not a
durable queue. Here a callback exception surfaces from ``client.loop()`` on our thread, is recorded as an
``mqtt_client_error`` alert and the client is replaced.

Each connection gets a fresh client, so paho never holds messages we do not track: after any reconnect the
journal is simply read again and undelivered rows are republished (duplicates are expected; the collector
dedupes on event_id). In ``confirmed`` delivery (the default) a PUBACK only marks a row as sent: it leaves the
journal when the collector's retained confirmation names it, and is sent again if none comes. In ``broker``
delivery a successful PUBACK deletes it. Either way 0x10 (no matching subscribers: the broker dropped it) and
rejections (>= 0x80, e.g. 0x87 from a broker ACL) keep the row. The link comes up even while the journal cannot
be opened (see ``opener``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.client import (
    backoff_delay,
    connect_properties,
    identity,
    new_client,
    tls_context,
    wire_keepalive,
)
from entryscan.device.delivery.commands import Handler
from entryscan.device.delivery.control import ControlMessages
from entryscan.device.delivery.inbox import Inbox
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.link import PublisherStats, Tuning, _Link
from entryscan.device.delivery.opener import JournalOpener
from entryscan.device.delivery.probe import REFUSED, LinkProbe, link_refused
from entryscan.device.delivery.pump import JournalPump
from entryscan.device.delivery.rejections import ClientErrors
from entryscan.device.delivery.tlsreport import TlsFailures
from entryscan.device.delivery.topics import Topics
from entryscan.device.errors import JournalError
from entryscan.device.ports import Clock

if TYPE_CHECKING:
    from entryscan.device.access.lists import ListStore
    from entryscan.device.access.peers import PeerPassages

log = logging.getLogger(__name__)

HEALTHY_LINK_S = 300.0  # a link that carried rows this long before failing resets the reconnect backoff


class MqttPublisher:
    """Delivers journal rows over MQTT v5 QoS 1 from its own thread."""

    def __init__(
        self,
        cfg: MqttConfig,
        *,
        device: str,
        site: str,
        door: str,
        journal_path: Path,
        max_rows: int,
        clock: Clock,
        state_provider: Callable[[], dict[str, object]],
        firmware: str,
        lists: ListStore | None = None,
        commands: Mapping[str, Handler] | None = None, peers: PeerPassages | None = None,
        **tuning: float,
    ) -> None:
        self._cfg = cfg
        self._ids = {"device": device, "site": site, "door": door}
        self._clock = clock
        self._tuning = Tuning(**{"confirm_wait_s": cfg.confirm_timeout_s, **tuning})
        self.topics = Topics(cfg.topic_prefix, site, device, cfg.discovery_prefix)
        self._confirmed = cfg.delivery == "confirmed"
        self._inbox = Inbox(self.topics, clock, discovery=cfg.discovery, lists=lists, commands=commands,
                            confirmations=self._confirmed, peers=peers)
        self._ident = identity(cfg, site=site, device=device)  # raises ConfigError early (exit 78)
        self._tls = tls_context(cfg) if cfg.tls else None
        self.stats = PublisherStats()
        self._control = ControlMessages(self.topics, self._ids, clock, self.stats, state_provider=state_provider,
                                        firmware=firmware)
        self._wake = threading.Event()
        self._state_due = threading.Event()
        self._stopping = threading.Event()
        self._stop_timeout = 5.0
        self._thread: threading.Thread | None = None
        self._beat = clock.monotonic()
        self._link: _Link | None = None
        self._opener = JournalOpener(
            lambda: Journal(journal_path, max_rows=max_rows, clock=clock, **self._ids), clock)
        self._probe = LinkProbe()
        self._receive_max: int | None = None  # the broker's Receive Maximum, from the last CONNACK
        self._next_state = 0.0
        self._client_errors = ClientErrors(self.stats, clock)
        self._tls_failures = TlsFailures(cfg.host, cfg.port, clock, self.stats, lambda: self._opener.journal)
        self._journal_pump = JournalPump(self._tuning, self.topics, self.stats, self._wake, confirmed=self._confirmed,
                                         lists=self._inbox.lists, now=clock.monotonic())

    # -- public API ----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._beat = self._clock.monotonic()
        self._thread = threading.Thread(target=self._run, name="mqtt-delivery", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """New rows are in the journal (called from the scan thread)."""
        self._wake.set()

    def transient_alert(self, kind: str, detail: dict[str, object]) -> None:
        """An alert kept in memory only, for when the journal itself cannot be written (disk full, I/O)."""
        self._control.transient_alert(kind, detail)
        self._wake.set()

    def tag_scanned(self, tag_id: str) -> None:
        """A live accept for Home Assistant's tag scanner (called from the scan thread)."""
        self._control.tag_scanned(tag_id)
        self._wake.set()

    def decided(self, event: dict[str, object]) -> None:
        """A decision just shown at the door, for Home Assistant's event entity (called from the scan thread)."""
        self._control.decided(event)
        self._wake.set()

    def publish_state(self) -> None:
        self._state_due.set()
        self._wake.set()

    def alive(self) -> bool:
        """Thread running and its loop turned recently (for the systemd watchdog)."""
        t = self._thread
        return (t is not None and t.is_alive()
                and self._clock.monotonic() - self._beat < self._tuning.alive_window_s)

    @property
    def connected(self) -> bool:
        link = self._link
        return link is not None and link.connected

    def stop(self, timeout: float = 5.0) -> None:
        """Publish the final state and ``offline``, wait (bounded) for the PUBACKs, disconnect, close the journal."""
        self._stop_timeout = timeout
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 2.0)
            if self._thread.is_alive():
                log.warning("mqtt delivery thread did not stop within %.1f s", timeout + 2.0)

    # -- the delivery thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._deliver()
        finally:
            self._opener.close()

    @property
    def _journal(self) -> Journal | None:
        return self._opener.journal

    def _deliver(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            self._opener.get()
            link = _Link(self._make_client(), started=self._clock.monotonic())
            self._link = link
            failed = False
            try:
                self._run_link(link)
            except Exception as exc:  # noqa: BLE001 - a callback or journal bug must not end delivery
                failed = True
                self._client_errors.record(exc, self._journal)
            finally:
                self._teardown(link)
            if self._stopping.is_set():
                break
            if link.resize:
                continue  # straight back with the window the broker takes
            if self._inbox.lists is not None and self._journal is not None:
                self._inbox.lists.poll(self._journal)
            # Backoff resets after a CONNACK, but not when the link soon died of an error: a bug that fires on
            # every connect must not become a 1 s loop (one that fires once a day must not leave 120 s waits).
            lived = self._clock.monotonic() - link.started
            attempt = 0 if link.was_connected and (not failed or lived >= HEALTHY_LINK_S) else attempt + 1
            self._sleep(backoff_delay(attempt, base=self._tuning.reconnect_min_s,
                                      cap=self._tuning.reconnect_max_s))

    def _make_client(self) -> paho.Client:
        client = new_client(self._cfg, self._ident, self._tls, self.topics.status, self._cfg.max_inflight,
                            self._receive_max)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_log = self._tls_failures.paho_log
        return client

    def _run_link(self, link: _Link) -> None:
        self._beat = self._clock.monotonic()
        try:
            link.client.connect(self._cfg.host, self._cfg.port, wire_keepalive(self._cfg.keepalive_s), clean_start=False,
                                properties=connect_properties(self._cfg))
        except (OSError, ValueError) as exc:  # refused, unreachable, TLS failure (ssl.SSLError is OSError)
            if not self._tls_failures.connect_failed(exc):
                log.info("mqtt: connect to %s:%d failed: %s", self._cfg.host, self._cfg.port, exc)
            return
        connack_by = self._clock.monotonic() + max(self._cfg.keepalive_s, 10)
        while True:
            self._beat = self._clock.monotonic()
            rc = link.client.loop(timeout=0.05)
            if rc != paho.MQTT_ERR_SUCCESS:
                log.info("mqtt: connection lost (%s)", paho.error_string(rc))
                link.refused |= link_refused(rc)
                return
            if link.resize:
                link.disconnect(graceful=True)
                return
            if self._stopping.is_set():
                if link.connected:
                    self._graceful_stop(link)
                return
            if not link.connected:
                if self._beat > connack_by:
                    log.warning("mqtt: no CONNACK within %d s", self._cfg.keepalive_s)
                    return
                continue
            self._pump(link, self._opener.get())

    # -- between loop calls ----------------------------------------------------------------

    def _pump(self, link: _Link, journal: Journal | None) -> None:
        now = self._clock.monotonic()
        if journal is not None:
            try:
                self._journal_pump.pump(link, journal, now)
                self._opener.write_succeeded()
            except JournalError as exc:  # full or failing disk: the link (and its fault alert) carries on
                self._opener.write_failed(exc)
                journal = None
        if self._state_due.is_set() or now >= self._next_state:
            self._state_due.clear()
            self._control.state(link, journal)
            self._next_state = now + self._cfg.state_interval_s
        if link.discovery_due:
            self._control.discovery(link)
        self._control.flush(link)
        link.reconnect_if_stuck(now, max(2.0 * self._cfg.keepalive_s, 10.0))

    # -- control messages --------------------------------------------------------------------

    def _announce(self, client: paho.Client, link: _Link) -> None:
        """After CONNACK: status online, state, discovery. Runs inside paho's on_connect."""
        link.publish_control("status", self.topics.status, "online")
        link.discovery_due = self._cfg.discovery
        for topic_filter, qos in self._inbox.filters():
            client.subscribe(topic_filter, qos=qos)
        self._state_due.set()

    # -- paho callbacks (run inside client.loop() on this thread) ------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: ReasonCode,
                    properties: Any) -> None:
        link = self._link
        if link is None or link.client is not client:
            return
        if rc.is_failure:
            log.warning("mqtt: broker refused the connection: %s", rc.getName())
            return
        self._receive_max = link.sized_by(properties, self._cfg.max_inflight, client.max_inflight_messages)
        if link.resize:
            log.info("mqtt: the broker's Receive Maximum is %d; reconnecting with that window", self._receive_max)
            return
        link.connected = link.was_connected = True
        self.stats.connects += 1
        self._tls_failures.connected()
        self._probe.begin(link)
        log.info("mqtt: connected to %s:%d (session present: %s)", self._cfg.host, self._cfg.port,
                 flags.session_present)
        self._announce(client, link)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, rc: ReasonCode,
                       properties: Any) -> None:
        link = self._link
        if link is not None and link.client is client:
            link.connected = False
            link.refused |= link_refused(from_server=bool(getattr(flags, "is_disconnect_packet_from_server", False)),
                                         reason=rc.value if isinstance(rc, ReasonCode) else 0)
        log.info("mqtt: disconnected (%s)", rc.getName() if isinstance(rc, ReasonCode) else rc)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, rc: ReasonCode,
                    properties: Any) -> None:
        link = self._link
        if link is None or link.client is not client:
            return
        outcome = link.on_puback(mid, rc, self._clock.monotonic())
        if outcome in ("control", "control_rejected"):
            self._control.acknowledged(link, mid)
        else:
            self._probe.answered(link)
        if outcome == "acked":
            self.stats.acked += 1
        elif outcome in ("rejected", "control_rejected"):
            self.stats.rejected += 1

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        # Anything arriving here is untrusted input: compare bytes, never parse or raise.
        try:
            link = self._link
            if link is None or link.client is not client:
                return
            reaction = self._inbox.handle(message.topic, bytes(message.payload), self._journal,
                                          retained=bool(message.retain))
            if reaction.confirmation is not None:
                self._journal_pump.confirmation.offer(reaction.confirmation)  # applied between loop calls
            if reaction.rediscover:
                link.discovery_due = True
            if reaction.result is not None:
                link.publish_result(self.topics.cmd_result(reaction.result.verb), reaction.result.payload(), self.stats)
        except Exception:  # noqa: BLE001 - odd topic encodings and the like
            log.warning("mqtt: ignored an unusable message")

    # -- ending a link -------------------------------------------------------------------------

    def _graceful_stop(self, link: _Link) -> None:
        """A clean stop says ``offline`` like the will does (Home Assistant knows only online/offline); the
        retained state document says ``"stopped": true``, so the fleet view tells a clean stop from a crash."""
        journal = self._journal
        self._control.state(link, journal, stopped=True)
        link.stopped_mid = link.publish_control("stopped", self.topics.status, "offline")
        deadline = self._clock.monotonic() + self._stop_timeout
        while not link.stopped_acked and link.connected and self._clock.monotonic() < deadline:
            if link.client.loop(timeout=0.05) != paho.MQTT_ERR_SUCCESS:
                break
        if not link.stopped_acked:
            log.warning("mqtt: no PUBACK for the final 'offline' status before shutdown")
        if journal is not None:
            self._journal_pump.apply_confirmation(journal)
            self._journal_pump.settle(link, journal)

    def _teardown(self, link: _Link) -> None:
        culprit = None if self._stopping.is_set() else self._probe.ended(link)
        if culprit is not None:
            link.rejections.append((culprit, REFUSED))
        try:
            if link.client.socket() is not None:
                link.disconnect(graceful=link.stopped_acked)
        except Exception as exc:  # noqa: BLE001 - the client may be half broken already
            log.debug("mqtt: teardown: %s", exc)
        link.connected = False
        self._control.link_ended()  # memory-only alerts without a PUBACK go again on the next link
        if self._journal is not None and (link.acked or link.rejections):
            try:  # acks received before the failure still count
                self._journal_pump.settle(link, self._journal)
            except Exception as exc:  # noqa: BLE001 - the rows are retried, never lost
                log.error("mqtt: could not record acks at teardown: %s", exc)

    def _sleep(self, seconds: float) -> None:
        """Wait for a backoff period, keeping the heartbeat fresh, waking on stop()."""
        end = self._clock.monotonic() + seconds
        while not self._stopping.is_set():
            self._beat = self._clock.monotonic()
            left = end - self._beat
            if left <= 0:
                return
            self._stopping.wait(min(left, 0.5))
