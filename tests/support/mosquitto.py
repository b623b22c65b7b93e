"""A real mosquitto broker on a free 127.0.0.1 port, for integration tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

MOSQUITTO = os.environ.get("ENTRYSCAN_MOSQUITTO", "/usr/sbin/mosquitto")


def mosquitto_binary() -> str | None:
    """The broker binary, or None when it is not installed."""
    if os.access(MOSQUITTO, os.X_OK):
        return MOSQUITTO
    return shutil.which("mosquitto")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """One broker process. ``restart()`` keeps the port, so clients can reconnect."""

    def __init__(
        self,
        workdir: Path,
        *,
        acl: str | None = None,
        persistence: bool = False,
        extra_conf: str = "",
        port: int | None = None,
    ) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError("mosquitto binary not found")
        self.binary = binary
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.conf = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            # As root mosquitto drops to user "mosquitto", who cannot read a 0700 pytest tmp dir (acl_file).
            lines.append("user root")
        if acl is not None:
            acl_path = workdir / "acl"
            acl_path.write_text(acl)
            lines.append(f"acl_file {acl_path}")
        if persistence:
            lines += ["persistence true", f"persistence_location {workdir}/", "autosave_interval 1"]
        lines.append(extra_conf)
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Mosquitto:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise TimeoutError(f"mosquitto did not listen on {self.port}: {self.log()}")

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
        self.proc = None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: a clean shutdown (persistence saved)."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: a crash."""
        self._end(signal.SIGKILL, 10.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


class Listener:
    """A paho test subscriber that records every message it receives.

    ``session=True`` uses a persistent MQTT v5 session, so messages published
    while it (or the broker, with persistence) was down are delivered later.
    ``retain_as_published=True`` subscribes with MQTT v5's Retain As Published option: without it a broker clears
    the retain flag on every live delivery, so a test could not tell a retained publish from an unretained one.
    """

    def __init__(self, url: str, topics: list[str], *, client_id: str | None = None,
                 session: bool = False, retain_as_published: bool = False) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._topics = topics
        self._options = SubscribeOptions(qos=1, retainAsPublished=retain_as_published)
        cid = client_id or f"listener-{uuid.uuid4().hex[:8]}"
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=paho.MQTTv5)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600 if session else 0
        parts = urllib.parse.urlsplit(url)
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, 30,
                            clean_start=not session, properties=props)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("listener did not subscribe")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe([(t, self._options) for t in self._topics])

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, rcs: Any, props: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, suffix: str) -> list[bytes]:
        """Payloads received on topics ending with ``suffix``, in arrival order."""
        with self._lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def json_on(self, suffix: str) -> list[dict[str, Any]]:
        out = []
        for payload in self.on(suffix):
            try:
                out.append(json.loads(payload))
            except ValueError:
                continue
        return out

    def event_ids(self) -> set[str]:
        return {str(e["event_id"]) for e in self.json_on("/entry")}

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
