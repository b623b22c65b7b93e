"""A second broker: Aedes 1.2.0 from the npm registry (README "Brokers").

Every broker the registries offer here speaks MQTT 3.1.1 only: Aedes 1.2.0 (npm), amqtt 0.12.1 (PyPI: it accepts
protocol level 4 alone) and Debian 12's rabbitmq-server 3.10.8 (MQTT 5 came with RabbitMQ 3.13). The door and
the collector speak MQTT 5 only (Maximum Packet Size, session expiry, reason codes on every PUBACK), so such a
broker must refuse them, and the door must say why, keep deciding and journaling, and retry with its backoff.
The first run installs Aedes with npm (the network marker: it fails, never skips, without the registry).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.support import wait_for
from tests.support.aedes import Aedes
from tests.support.door import Door, frames_dir

pytestmark = pytest.mark.network
REFUSED = "broker refused the connection: Unsupported protocol version"


@pytest.fixture
def aedes(tmp_path: Path) -> Iterator[Aedes]:
    broker = Aedes(tmp_path).start()
    yield broker
    broker.stop()


def _connect(url_port: int, protocol: MQTTProtocolVersion) -> list[str]:
    answers: list[str] = []
    done = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=protocol)

    def on_connect(client: paho.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        answers.append(str(rc))
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", url_port, 10)
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return answers


def test_aedes_answers_mqtt_311_and_refuses_mqtt_5(aedes: Aedes) -> None:
    assert _connect(aedes.port, paho.MQTTv311) == ["Success"]  # the broker works...
    assert _connect(aedes.port, paho.MQTTv5) == ["Unsupported protocol version"]  # ...in 3.1.1 only


def test_a_door_on_an_mqtt_311_broker_says_why_and_keeps_deciding(aedes: Aedes, tmp_path: Path) -> None:
    door = Door(tmp_path / "door", aedes.url, frames_dir(tmp_path / "frames", ["002-staff-0001.png"])).start()
    assert wait_for(lambda: sum(REFUSED in line for line in door.output) >= 2, timeout=30), door.log_tail()
    assert door.proc is not None and door.proc.poll() is None  # retrying with its backoff, not dead
    assert [row["decision"] for row in door.journal_rows()] == ["accept"]  # decided and kept for later
    assert "unacceptable protocol version" in aedes.log()
    assert door.stop() == 0
