"""Scenario 13: hostile MQTT input on every topic the door subscribes to, against the real daemon and mosquitto.

The door (``entryscan run --simulate``) subscribes to homeassistant/status, ``entryscan/hq/lists/+``,
``entryscan/hq/door-1/cmd/+`` and ``entryscan/hq/door-1/confirm``. An attacker with publish rights there sends
oversized (over the door's MQTT v5 Maximum Packet Size of 4 MiB, and just under it), retained, malformed and
flooding messages while the door decides frames. The door must stay up, keep its memory bounded, keep deciding
and delivering (each badge frame becomes an entry at the collector), and still answer a genuine command after.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import paho.mqtt.client as paho
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.client import CONTROL_HEADROOM, MAX_PACKET_BYTES
from entryscan.device.delivery.publisher import MqttPublisher
from tests.conftest import MosquittoFactory
from tests.paths import SAMPLE_DOOR, SAMPLE_FRAMES
from tests.support import StepClock, wait_for
from tests.support.door import Door, Subscriber
from tests.support.mosquitto import Listener

BASE = "entryscan/hq/door-1"
TOPICS = ("homeassistant/status", "entryscan/hq/lists/revoked", "entryscan/hq/lists/x" + "y" * 60,
          f"{BASE}/cmd/identify", f"{BASE}/cmd/state", f"{BASE}/cmd/unknown", f"{BASE}/confirm")
CODES = ["002-staff-0001.png", "008-staff-0002.png", "012-staff-0003.png"]
CONFIG = """\
[device]
id = "door-1"
site = "hq"
door = "main"
[camera]
source = "dir:{frames}"
fps = 2
timeout_s = 0.5
[decoder]
debounce_s = 1
[mqtt]
url = "{url}"
keepalive_s = 5
discovery = true
delivery = "confirmed"
[journal]
path = "journal.db"
max_rows = 5000
[policy]
mode = "allowlist"
[credentials.badge]
codes_file = "{badges}"
[lists]
trusted_keys = ["lists.pub"]
on_stale = "open"
"""


def hostile_door(folder: Path, url: str, code_frames: int) -> Door:
    frames = folder / "frames"
    frames.mkdir(parents=True)
    for i in range(code_frames):  # a badge, then an empty frame; each badge comes back after 3 s (> debounce)
        shutil.copy(SAMPLE_FRAMES / CODES[i % 3], frames / f"{2 * i:04d}.png")
        shutil.copy(SAMPLE_FRAMES / "000-empty.png", frames / f"{2 * i + 1:04d}.png")
    door = Door(folder / "door", url, frames)
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    (door.workdir / "lists.pub").write_bytes(key.public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    door.config.write_text(CONFIG.format(frames=frames, url=url, badges=SAMPLE_DOOR / "badges.txt"))
    return door


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def hostile_payloads(rng: random.Random) -> Iterator[tuple[bytes, bool, int]]:
    """(payload, retain, qos): junk, near-miss JSON and COSE, control characters, deep nesting, big-but-allowed."""
    shapes = [
        lambda: rng.randbytes(rng.randrange(0, 2000)),
        lambda: b'{"request_id": "' + b"r" * rng.randrange(0, 300) + b'", "ts": "2020-01-01T00:00:00Z"}',
        lambda: b'{"incarnation": 5, "through_seq": -1, "seqs": [' + b"1," * rng.randrange(0, 5000) + b'1]}',
        lambda: b"[" * rng.randrange(1, 50_000),
        lambda: b"online" if rng.random() < 0.5 else b"offline\x00\xff",
        lambda: b"\xd2\x84\x43\xa1\x01\x27\xa0" + rng.randbytes(rng.randrange(0, 500)),  # a COSE_Sign1 start
        lambda: json.dumps({"request_id": rng.randrange(10**6)}).encode(),
        lambda: b"",
    ]
    while True:
        yield rng.choice(shapes)(), rng.random() < 0.1, rng.choice((0, 1))


@dataclass
class Attack:
    sent: int = 0
    oversized: int = 0


def attack(url: str, count: int, oversized: int, seed: int = 13) -> Attack:
    rng = random.Random(seed)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="attacker", protocol=paho.MQTTv5)
    client.max_queued_messages_set(2000)
    port = int(url.rsplit(":", 1)[1])
    client.connect("127.0.0.1", port, 30)
    client.loop_start()
    done = Attack()
    try:
        payloads = hostile_payloads(rng)
        big = b"{" + b"x" * (MAX_PACKET_BYTES + 1024) + b"}"
        near = b"\xd2\x84" + rng.randbytes(MAX_PACKET_BYTES - 64 * 1024)  # under the limit, over a list's 3 MiB
        for i in range(count):
            topic = TOPICS[i % len(TOPICS)]
            if oversized and i % max(1, count // oversized) == 0 and done.oversized < oversized:
                client.publish(topic, big if done.oversized % 2 == 0 else near, qos=1,
                               retain=done.oversized % 3 == 0).wait_for_publish(30)
                done.oversized += 1
            payload, retain, qos = next(payloads)
            info = client.publish(topic, payload, qos=qos, retain=retain)
            if i % 200 == 0:
                info.wait_for_publish(30)  # flood, but do not let the attacker's own queue grow without end
            done.sent += 1
        # Leave junk retained on every topic: the next connect gets it again.
        for topic in TOPICS:
            client.publish(topic, rng.randbytes(300), qos=1, retain=True).wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()
    return done


def run_scenario(tmp_path: Path, factory: MosquittoFactory, messages: int, oversized: int,
                 code_frames: int) -> None:
    broker = factory()
    collector = Subscriber(broker.url, topic=f"{BASE}/#", client_id="collector")
    home_assistant = Listener(broker.url, ["homeassistant/device/#"], client_id="ha-watch")
    door = hostile_door(tmp_path, broker.url, code_frames).start()
    try:
        assert wait_for(lambda: len(collector.entries()) >= 1, timeout=60), "".join(door.output)
        assert door.proc is not None
        before = rss_kib(door.proc.pid)
        started = time.monotonic()
        done = attack(broker.url, messages, oversized)
        flood_s = time.monotonic() - started
        peak = rss_kib(door.proc.pid)
        assert door.proc.poll() is None, "".join(door.output[-40:])
        # Decisions continued: every badge frame became an entry at the collector.
        assert wait_for(lambda: len(collector.entries()) >= code_frames, timeout=60 + code_frames), (
            len(collector.entries()), "".join(door.output[-20:]))
        # The door still answers a genuine command.
        collector.publish(f"{BASE}/cmd/state", b'{"request_id": "after-the-flood"}')
        assert wait_for(lambda: any(b"after-the-flood" in p for p in collector.on("/cmd/state/result")), timeout=30)
        after = rss_kib(door.proc.pid)
        print(f"hostile MQTT: {done.sent} messages + {done.oversized} oversized in {flood_s:.1f} s; door RSS"
              f" {before} -> {peak} -> {after} KiB; {len(collector.entries())} entries; results"
              f" {len(collector.on('/result'))}; discovery {len(home_assistant.on('/config'))}")
        # Nothing of the flood is kept: not the oversized messages (the broker drops them), not the junk.
        assert max(peak, after) - before < 40 * 1024, (before, peak, after)
    finally:
        door.stop()
        collector.close()
        home_assistant.close()
    assert not any("Traceback" in line for line in door.output), "".join(door.output)
    assert sum(1 for line in door.output if len(line) > 1000) == 0  # no payload echoed into the log


def test_hostile_mqtt_flood_on_every_subscribed_topic(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    run_scenario(tmp_path, mosquitto_factory, messages=3000, oversized=4, code_frames=12)


@pytest.mark.soak
def test_hostile_mqtt_flood_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    run_scenario(tmp_path, mosquitto_factory, messages=200_000, oversized=60, code_frames=120)


def test_mosquitto_drops_packets_over_the_clients_maximum_packet_size(mosquitto_factory: MosquittoFactory) -> None:
    """What the door relies on: with Maximum Packet Size in CONNECT, mosquitto never sends it a bigger packet."""
    broker = mosquitto_factory()
    received: list[int] = []
    small = paho.Client(CallbackAPIVersion.VERSION2, client_id="small", protocol=paho.MQTTv5)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.MaximumPacketSize = MAX_PACKET_BYTES
    small.on_message = lambda c, u, m: received.append(len(m.payload))
    subscribed: list[int] = []
    small.on_subscribe = lambda c, u, mid, rcs, p: subscribed.append(mid)
    small.connect("127.0.0.1", broker.port, 30, properties=props)
    small.loop_start()
    sender = Listener(broker.url, ["unused/#"], client_id="sender")
    try:
        small.subscribe("probe/#", qos=1)
        assert wait_for(lambda: subscribed)
        sender.publish("probe/big", b"x" * (MAX_PACKET_BYTES + 1))
        sender.publish("probe/fits", b"x" * (MAX_PACKET_BYTES - 1024))
        sender.publish("probe/barrier", b"b")
        assert wait_for(lambda: 1 in received, timeout=20)
        assert received == [MAX_PACKET_BYTES - 1024, 1]  # the big one never came; the connection lives on
        assert small.is_connected()
    finally:
        small.disconnect()
        small.loop_stop()
        sender.close()



class QueueWatch:
    """Samples the length of paho's outgoing queue inside a publisher's link (the memory a flood could grow)."""

    def __init__(self, pub: MqttPublisher) -> None:
        self.pub, self.peak, self._done = pub, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self._done.is_set():
            link = self.pub._link  # the queue under test is paho's, inside the link
            if link is not None:
                self.peak = max(self.peak, len(link.client._out_messages))
            time.sleep(0.005)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)

    def drained(self) -> bool:
        link = self.pub._link
        return link is not None and not link.client._out_messages


def flooded_publisher(tmp_path: Path, url: str, topic: str, payload: bytes, count: int,
                      discovery: bool = False) -> tuple[MqttPublisher, int]:
    """A real publisher flooded with ``count`` messages on ``topic``; returns it (stopped) and the queue's peak."""
    cfg = MqttConfig(url=url, keepalive_s=5, discovery=discovery, delivery="broker")
    pub = MqttPublisher(cfg, device="door-1", site="hq", door="main", journal_path=tmp_path / "journal.db",
                        max_rows=100, clock=StepClock(), state_provider=dict, firmware="t",
                        commands={"state": lambda request: None})
    pub.start()
    attacker = Listener(url, ["unused/#"], client_id="attacker")
    try:
        assert wait_for(lambda: pub.connected, timeout=10)
        with QueueWatch(pub) as watch:
            for i in range(count):
                info = attacker.client.publish(topic, payload, qos=0)
                if i % 500 == 0:
                    info.wait_for_publish(10)
            attacker.publish(topic, payload)  # QoS 1: the flood has reached the broker
            time.sleep(0.5)  # the last messages are read and answered
            assert wait_for(watch.drained, timeout=60)
    finally:
        attacker.close()
        pub.stop()
    return pub, watch.peak


def test_a_command_flood_queues_a_bounded_number_of_results(tmp_path: Path,
                                                            mosquitto_factory: MosquittoFactory) -> None:
    """Each command is answered on .../result at QoS 1; 50,000 junk commands once queued 45,044 results in
    paho's unbounded outgoing queue. Results waiting for a PUBACK are now capped (link.MAX_PENDING_RESULTS)."""
    broker = mosquitto_factory()
    pub, peak = flooded_publisher(tmp_path, broker.url, f"{BASE}/cmd/state", b'{"request_id": 7}', 20_000)
    assert 0 < peak <= 64 + CONTROL_HEADROOM, peak  # thousands before the cap
    assert pub.stats.results_dropped > 0


def test_a_home_assistant_online_flood_keeps_one_discovery_in_flight(tmp_path: Path,
                                                                     mosquitto_factory: MosquittoFactory) -> None:
    """Each homeassistant/status "online" asks for discovery again; 20,000 of them once re-sent 342 sets with up to
    224 messages queued. Now a new set goes only once the last one is acknowledged."""
    broker = mosquitto_factory()
    home_assistant = Listener(broker.url, ["homeassistant/device/#"], client_id="ha-watch")
    try:
        _, peak = flooded_publisher(tmp_path, broker.url, "homeassistant/status", b"online", 20_000, discovery=True)
        assert peak <= CONTROL_HEADROOM, peak
        assert home_assistant.on("/config")  # discovery itself still works
    finally:
        home_assistant.close()
