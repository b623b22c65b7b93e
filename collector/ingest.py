"""MQTT ingest: QoS 1 messages are committed in batches, then acknowledged, then confirmed to the doors.

paho's network thread only queues messages (``manual_ack``); one committer thread takes a batch
(up to ``batch_size`` messages, or what arrived within ``batch_wait`` of the first), stores it in one
transaction, acknowledges every message of the batch and publishes one retained confirm per door
touched (CONFIRM.md). A crash between commit and ack causes a redelivery, which ``event_id`` dedupes.
Acks carry the connection generation they were received on: a message id from a dropped connection
is never acknowledged on the next one (it would acknowledge a different message).
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from entryscan.collector.commit import Committer
from entryscan.collector.health import STALL_S, IngestProgress, ingest_health
from entryscan.collector.store import Batch, StoreBase
from entryscan.device.errors import ConfigError

log = logging.getLogger("collector")

SESSION_EXPIRY_S = 30 * 24 * 3600
MAX_PACKET_BYTES = 4 * 1024 * 1024  # anything larger is refused by the broker before it reaches us
RECEIVE_MAXIMUM = 2000  # QoS 1 messages in flight to us: room for whole batches awaiting their commit
INGEST_ALERT = "collector_ingest"  # fleet alert (site "", target the client id) while the commit loop errs


@dataclass(frozen=True)
class IngestOptions:
    url: str
    prefix: str = "entryscan"
    client_id: str = "entryscan-collector"
    shared_group: str = ""
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None  # client certificate (the provisioned broker requires one: collector.pem)
    key_file: str | None = None
    batch_size: int = 500
    batch_wait_s: float = 0.05


def tls_context(o: IngestOptions) -> ssl.SSLContext:
    """TLS 1.2+ with certificate and hostname verification; a client certificate when given."""
    try:
        ctx = ssl.create_default_context(cafile=o.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if o.cert_file and o.key_file:
            ctx.load_cert_chain(o.cert_file, o.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("--ca-file/--cert-file/--key-file", f"TLS setup failed: {exc}") from None
    return ctx


def subscriptions(prefix: str, shared_group: str = "") -> list[str]:
    """The collector's topic filters, through ``$share/GROUP/`` when collectors split one stream."""
    filters = [f"{prefix}/+/+/{leaf}" for leaf in ("entry", "alert", "status", "state")]
    return [f"$share/{shared_group}/{f}" for f in filters] if shared_group else filters


@dataclass(frozen=True)
class _Message:
    topic: bytes
    payload: bytes
    mid: int
    qos: int
    generation: int


class Ingestor:
    def __init__(self, opts: IngestOptions, store: StoreBase,
                 on_batch: Callable[[Batch], None] | None = None) -> None:
        self.opts = opts
        self.store = store
        self.on_batch = on_batch
        self.done = threading.Event()
        self.subscribed = threading.Event()
        self.committed = 0
        # Bounded: QoS 1 is capped by Receive Maximum, but QoS 0 publishes are not; a full queue blocks
        # paho's network thread, which is backpressure on the broker, never lost or unbounded memory.
        self._queue: queue.Queue[_Message] = queue.Queue(maxsize=2 * RECEIVE_MAXIMUM)
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._confirms_out: list[paho.MQTTMessageInfo] = []
        self.progress = IngestProgress()
        self.observers: list[Callable[[Batch, float], None]] = []  # after each commit: (batch, seconds)
        self._committer = Committer(store, self.done, on_failure=self._failed_attempt)
        self._thread: threading.Thread | None = None
        self._alert_open = False
        self.stall_s = STALL_S  # /healthz: a batch retried (or a queue not taken) this long is a stalled ingest
        self.client = self._make_client()

    def _make_client(self) -> paho.Client:
        o = self.opts
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=o.client_id, protocol=paho.MQTTv5,
                             manual_ack=True)
        if o.username:
            client.username_pw_set(o.username, o.password)
        if urllib.parse.urlsplit(o.url).scheme == "mqtts":
            client.tls_set_context(tls_context(o))
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    # -- network thread ------------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        with self._ack_lock:
            self._generation += 1
        if rc.is_failure:
            log.error("collector: broker refused the connection: %s", rc)
            return
        log.info("collector: connected (session present: %s)", flags.session_present)
        self.progress.link(True)
        client.subscribe([(f, 1) for f in subscriptions(self.opts.prefix, self.opts.shared_group)])

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        with self._ack_lock:
            self._generation += 1
        self.progress.link(False)

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, rcs: list[Any], props: Any) -> None:
        failed = [str(rc) for rc in rcs if rc.is_failure]
        if failed:
            log.error("collector: subscription refused: %s", ", ".join(failed))
            return
        log.info("collector: subscribed to %s", " ".join(subscriptions(self.opts.prefix, self.opts.shared_group)))
        self.subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        message = _Message(msg._topic, bytes(msg.payload), msg.mid, msg.qos, self._generation)
        # A full queue blocks the network thread (backpressure), but never past ``done``: a stopping
        # collector whose committer is gone would otherwise wait here forever (and loop_stop with it).
        # A message dropped here was never acknowledged: the broker redelivers it to the session.
        while not self.done.is_set():
            try:
                self._queue.put(message, timeout=0.2)
                return
            except queue.Full:
                continue

    # -- committer thread ------------------------------------------------------------------------

    def _take_batch(self) -> list[_Message]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.opts.batch_wait_s
        while len(batch) < self.opts.batch_size:
            try:
                batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _commit_loop(self) -> None:
        """The guarded loop: an exception (in ``on_batch``, say) is logged and alerted, never the end."""
        try:
            while not self.done.is_set():
                try:
                    messages = self._take_batch()
                    if messages:
                        self._commit(messages)
                except Exception as exc:  # noqa: BLE001 - the loop must outlive any one batch's failure
                    self._guard_caught(exc)
                    with self.progress.lock:
                        self.progress.waiting_since = None  # the alert tells of it; the next batch may pass
                    self.done.wait(1.0)  # a fault that repeats every batch must not spin
        except BaseException as exc:
            self.progress.stopped_by = f"{type(exc).__name__}: {exc}"[:300]
            raise
        finally:
            if not self.done.is_set() and not self.progress.stopped_by:
                self.progress.stopped_by = "the commit thread ended"

    def _guard_caught(self, exc: Exception) -> None:
        with self.progress.lock:
            self.progress.guard_errors += 1
            count = self.progress.guard_errors
            self.progress.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if count <= 3 or count % 1000 == 0:  # bounded: a fault of every batch must not flood the log
            log.error("collector: the commit loop caught an error (%d so far; ingest goes on)", count,
                      exc_info=exc)
        self._alert(f"the commit loop caught {type(exc).__name__}: {exc}")

    def _alert(self, detail: str) -> None:
        try:
            if self.store.raise_alert(INGEST_ALERT, "", self.opts.client_id, detail):
                log.warning("collector: alert %s raised: %s", INGEST_ALERT, detail[:200])
                self._alert_open = True
        except Exception as exc:  # noqa: BLE001 - the store may be what failed; the log has it
            log.warning("collector: cannot raise the %s alert: %s", INGEST_ALERT, exc)

    def _commit(self, messages: list[_Message]) -> None:
        with self.progress.lock:
            self.progress.waiting_since = time.monotonic()
        started = time.monotonic()
        batch = self._committer.commit([(m.topic.decode("utf-8", "replace"), m.payload) for m in messages])
        if batch is None:
            return  # stopping: never acknowledged, the broker redelivers to the session
        seconds = time.monotonic() - started
        with self._ack_lock:
            for m in messages:
                if m.qos > 0 and m.generation == self._generation:
                    self.client.ack(m.mid, m.qos)
        self.committed += len(messages)
        self.progress.committed_batch(len(messages))
        self._confirm(batch)
        try:  # the batch is stored and acknowledged: what follows only reports it
            for observe in self.observers:
                observe(batch, seconds)
            if self.on_batch is not None:
                self.on_batch(batch)  # prints a line per new event: a broken pipe raises here
        except Exception as exc:  # noqa: BLE001 - reporting must never stop the storing
            self._guard_caught(exc)
            return
        if self._alert_open and self.store.clear_alert(INGEST_ALERT, "", self.opts.client_id):
            self._alert_open = False

    def _failed_attempt(self, exc: BaseException) -> None:
        with self.progress.lock:
            self.progress.failures += 1
            self.progress.last_error = f"{type(exc).__name__}: {exc}"[:300]

    def health(self) -> dict[str, Any]:
        """The ingest's part of ``/healthz`` (see ``entryscan.collector.health``)."""
        alive = self._thread is not None and self._thread.is_alive()
        return ingest_health(self.progress, alive or self._thread is None, self._queue.qsize(), time.monotonic(),
                             self.stall_s)

    def _confirm(self, batch: Batch) -> None:
        prefixes = {(site, device): prefix for prefix, site, device in batch.touched}
        try:
            docs = self.store.confirmations(list(prefixes))
        except Exception as exc:  # noqa: BLE001 - the next batch or a re-send confirms again
            log.warning("collector: cannot build the confirmations of a batch: %s", exc)
            return
        self._confirms_out = [
            self.client.publish(f"{prefixes[(site, device)]}/{site}/{device}/confirm",
                                json.dumps(doc, separators=(",", ":")), qos=1, retain=True)
            for (site, device), doc in docs.items()]

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self) -> None:
        """Connect (retrying with backoff), ingest until ``done`` is set, then disconnect."""
        committer = self._thread = threading.Thread(target=self._commit_loop, name="collector-commit", daemon=True)
        committer.start()
        url = urllib.parse.urlsplit(self.opts.url)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.MaximumPacketSize = MAX_PACKET_BYTES
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        self.client.reconnect_delay_set(1, 30)
        # paho's own thread writes every packet (acks and confirms from the committer are only queued)
        # and reconnects with the same clean_start=False and properties.
        self.client.connect_async(url.hostname or "127.0.0.1", port, 30, clean_start=False, properties=props)
        self.client.loop_start()
        try:
            self.done.wait()
        finally:
            committer.join(5)
            for info in self._confirms_out:  # the last batch's confirms leave before the DISCONNECT
                if self.client.is_connected():
                    info.wait_for_publish(2.0)
            self.client.disconnect()
            self.client.loop_stop()
