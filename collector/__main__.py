"""``entryscan-collector``: subscribe to every scanner's events and store them.

MQTT v5, QoS 1, persistent session (clean_start False, long session expiry), so
events published while the collector is down are queued by the broker. Each
message is committed to SQLite before it is acknowledged (paho manual_ack), so
a crash between the two causes a redelivery, which ``event_id`` dedupes.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sqlite3
import ssl
import sys
import threading
import urllib.parse
from pathlib import Path
from types import FrameType
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from entryscan.collector.fleet import fleet, render
from entryscan.collector.store import Store
from entryscan.device.delivery.topics import collector_filters
from entryscan.device.errors import EntryscanError
from entryscan.device.keys import read_secret_text

log = logging.getLogger("collector")

SESSION_EXPIRY_S = 30 * 24 * 3600


class Collector:
    def __init__(self, args: argparse.Namespace, store: Store) -> None:
        self.args = args
        self.store = store
        self.new_entries = 0
        self.done = threading.Event()
        self.client = self._make_client()

    def _make_client(self) -> paho.Client:
        a = self.args
        url = urllib.parse.urlsplit(a.url)
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=a.client_id, protocol=paho.MQTTv5,
                             manual_ack=True)
        user = a.username or urllib.parse.unquote(url.username or "") or None
        if user:
            client.username_pw_set(user, read_secret_text(a.password_file, "--password-file") if a.password_file else None)
        if url.scheme == "mqtts":
            ctx = ssl.create_default_context(cafile=a.ca_file)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            client.tls_set_context(ctx)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            log.error("collector: broker refused the connection: %s", rc)
            return
        log.info("collector: connected (session present: %s)", flags.session_present)
        client.subscribe([(f, 1) for f in collector_filters(self.args.prefix)])

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, rcs: list[Any], props: Any) -> None:
        failed = [str(rc) for rc in rcs if rc.is_failure]
        if failed:
            log.error("collector: subscription refused: %s", ", ".join(failed))
        else:
            log.info("collector: subscribed to %s", " ".join(collector_filters(self.args.prefix)))

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            result = self.store.ingest(msg.topic, bytes(msg.payload))
        except sqlite3.Error as exc:
            # Not acknowledged: drop the connection so the broker redelivers it.
            log.error("collector: cannot store message, will be redelivered: %s", exc)
            client.disconnect()
            return
        except UnicodeDecodeError:  # topic that is not UTF-8: garbage, acknowledge it
            log.warning("collector: ignored a message with an undecodable topic")
            result = None
        client.ack(msg.mid, msg.qos)
        if result is not None and result.new:
            print(f"[collector] {result.line}", flush=True)
            if result.kind == "entry":
                self.new_entries += 1
                if self.args.once_count and self.new_entries >= self.args.once_count:
                    self.done.set()

    def run(self) -> None:
        url = urllib.parse.urlsplit(self.args.url)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        attempt = 0
        while not self.done.is_set():
            try:
                self.client.connect(url.hostname or "127.0.0.1", port, 30, clean_start=False, properties=props)
            except OSError as exc:
                log.warning("collector: cannot connect: %s", exc)
            else:
                attempt = 0
                while not self.done.is_set() and self.client.loop(timeout=0.2) == paho.MQTT_ERR_SUCCESS:
                    pass
            if not self.done.is_set():
                delay = min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.5)
                attempt = min(attempt + 1, 10)
                self.done.wait(delay)
        self.client.disconnect()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="entryscan-collector", description=__doc__.splitlines()[0])
    p.add_argument("--url", help="mqtt://host:port or mqtts://host:port (required unless --report)")
    p.add_argument("--report", action="store_true", help="print the fleet view from --db and exit")
    p.add_argument("--prefix", default="entryscan", help="topic prefix (default entryscan)")
    p.add_argument("--db", type=Path, default=Path("collector.db"), help="SQLite file (default collector.db)")
    p.add_argument("--client-id", default="entryscan-collector", help="stable id: it names the persistent session")
    p.add_argument("--once-count", type=int, default=0, help="exit after N new entries (tests, demos)")
    p.add_argument("--username", default="")
    p.add_argument("--password-file", type=Path, default=None)
    p.add_argument("--ca-file", default=None)
    args = p.parse_args(argv)
    if args.report:
        return args
    if not args.url or urllib.parse.urlsplit(args.url).scheme not in ("mqtt", "mqtts"):
        p.error("--url must start with mqtt:// or mqtts://")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        if not args.db.exists():
            print(f"entryscan-collector: {args.db} does not exist", file=sys.stderr)
            return 2
        print(render(fleet(args.db)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    store = Store(args.db)
    try:
        collector = Collector(args, store)
    except EntryscanError as exc:
        store.close()
        print(f"entryscan-collector: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        collector.done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        collector.run()
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
