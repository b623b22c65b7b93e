"""``device remove --broker``: clear a retired door's retained Home Assistant discovery.

A door's discovery is retained on the broker, so Home Assistant would show a retired door forever. This publishes
an empty retained message on each of its discovery topics (the current one and those earlier releases used) with
the collector's certificate from the broker folder, whose ACL lines allow exactly those topics for the site's doors
(``broker.collector_acl``). Bounded: the connection and every PUBACK are waited for at most ``timeout_s``.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from entryscan.device.errors import ConfigError
from entryscan.provisioning.broker import COLLECTOR, discovery_topics


class _Acks:
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.refused = ""
        self.codes: dict[int, int] = {}
        self.lock = threading.Lock()

    def on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            self.refused = str(rc)
        self.connected.set()

    def on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with self.lock:
            self.codes[mid] = int(rc.value)


def _context(broker_dir: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(broker_dir / "ca.pem"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(broker_dir / f"{COLLECTOR}.pem"), str(broker_dir / f"{COLLECTOR}.key"))
    return ctx


def clear_discovery(broker_url: str, broker_dir: Path, site: str, device: str, *,
                    timeout_s: float = 10.0) -> list[str]:
    """Clear ``device``'s retained discovery; returns the topics cleared, raises ConfigError if any was refused."""
    parts = urllib.parse.urlsplit(broker_url)
    if parts.scheme != "mqtts" or not parts.hostname:
        raise ConfigError("--broker", "must be mqtts://HOST[:PORT]")
    try:
        ctx = _context(broker_dir)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("--broker-dir", f"no usable collector certificate in {broker_dir}: {exc}") from exc
    acks = _Acks()
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.tls_set_context(ctx)
    client.on_connect, client.on_publish = acks.on_connect, acks.on_publish
    deadline = time.monotonic() + timeout_s
    client.connect(parts.hostname, parts.port or 8883, 30)
    client.loop_start()
    try:
        if not acks.connected.wait(max(deadline - time.monotonic(), 0.0)) or acks.refused:
            raise ConfigError("--broker", f"could not connect as {COLLECTOR}: {acks.refused or 'no answer'}")
        topics = discovery_topics(site, device)
        mids = {client.publish(t, b"", qos=1, retain=True).mid: t for t in topics}
        while time.monotonic() < deadline and len(acks.codes) < len(mids):
            time.sleep(0.05)
        with acks.lock:
            refused = [t for mid, t in mids.items() if acks.codes.get(mid, 0x80) >= 0x80]
        if refused:
            raise ConfigError("--broker", f"the broker did not clear {', '.join(refused)} (run broker, reload)")
        return topics
    finally:
        client.disconnect()
        client.loop_stop()
