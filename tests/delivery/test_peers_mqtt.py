"""Anti-passback across the doors of a site over a real broker: the exit's entry events clear the entrance.

Two doors in-process (real policy, journal, scan loop, publisher, MockFactory feedback) sharing the site key,
one real mosquitto.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from gpiozero.pins.mock import MockFactory

from entryscan.device.access.assemble import make_policy
from entryscan.device.access.credentials import signed_pass
from entryscan.device.access.peers import PeerStats
from entryscan.device.builder import make_journal_opener, make_peers
from entryscan.device.config.settings import Config, parse_config
from entryscan.device.delivery.publisher import MqttPublisher
from entryscan.device.hardware.feedback import GpioFeedback
from entryscan.device.model import Code, Reason
from entryscan.device.scan.debounce import Debouncer
from entryscan.device.scan.decoders import ZxingDecoder
from entryscan.device.scan.loop import ScanLoop, ScanSettings
from tests.support import StepClock, wait_for
from tests.support.mosquitto import Listener, Mosquitto

SITE_KEY = b"k" * 32  # provisioning gives every door of a site the same pseudonym key


class NoCamera:
    name = "none"

    def open(self) -> None:
        pass

    def capture(self, timeout: float) -> None:
        return None

    def close(self) -> None:
        pass


class DoorUnderTest:
    def __init__(self, folder: Path, device: str, direction: str, url: str, clock: StepClock) -> None:
        folder.mkdir()
        (folder / "issuer.pub").write_bytes(ISSUER.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        self.cfg: Config = parse_config(f"""
[device]
id = "{device}"
site = "hq"
door = "{device}"
[mqtt]
url = "{url}"
keepalive_s = 5
discovery = false
delivery = "broker"
[journal]
path = "state/journal.db"
[policy]
mode = "credentials"
direction = "{direction}"
passback_window_s = 3600
[credentials.signed_pass]
trusted_keys = ["issuer.pub"]
""", folder)
        cfg = self.cfg
        self.policy = make_policy(cfg, clock, SITE_KEY)
        self.factory = MockFactory()
        self.publisher = MqttPublisher(cfg.mqtt, device=device, site="hq", door=device, journal_path=cfg.journal.path,
                                       max_rows=1000, clock=clock, state_provider=dict, firmware="t",
                                       peers=make_peers(cfg, self.policy, clock))
        feedback = GpioFeedback(cfg.feedback, cfg.relay, pin_factory=self.factory)
        self.loop = ScanLoop(NoCamera(), ZxingDecoder(), Debouncer(0.0), self.policy, feedback,
                             make_journal_opener(cfg, clock), self.publisher, ScanSettings(capture_timeout_s=0.1))
        self.publisher.start()

    def scan(self, code: Code) -> dict[str, object]:
        return self.loop.handle(code)

    def close(self) -> None:
        self.publisher.stop()
        self.loop.feedback.close()
        self.factory.reset()


ISSUER = ed25519.Ed25519PrivateKey.generate()


def a_pass(subject: str = "emp-7") -> Code:
    now = dt.datetime.now(dt.UTC)
    text = signed_pass.issue(signed_pass.PassClaims(subject=subject, valid_until=now + dt.timedelta(days=1)),
                             ISSUER, now - dt.timedelta(minutes=1))
    return Code(raw=text.encode(), text=text)


def peer_stats(door: DoorUnderTest) -> PeerStats:
    peers = door.publisher._inbox._peers
    assert peers is not None
    return peers.stats


@pytest.fixture
def doors(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[DoorUnderTest, DoorUnderTest]]:
    clock = StepClock(synced=True)
    entrance = DoorUnderTest(tmp_path / "entrance", "entrance", "in", mosquitto.url, clock)
    exit_door = DoorUnderTest(tmp_path / "exit", "exit", "out", mosquitto.url, clock)
    assert wait_for(lambda: entrance.publisher.connected and exit_door.publisher.connected, timeout=15)
    probe = Listener(mosquitto.url, ["entryscan/hq/probe/unused"])
    for door in (entrance, exit_door):  # subscribed once a probe on the site's entry topics arrives
        assert wait_for(lambda d=door: probe.publish("entryscan/hq/probe/entry", b"{}") or peer_stats(d).ignored)
    probe.close()
    yield entrance, exit_door
    entrance.close()
    exit_door.close()


def test_an_exit_at_the_exit_door_clears_the_entrance(doors: tuple[DoorUnderTest, DoorUnderTest],
                                                      mosquitto: Mosquitto) -> None:
    entrance, exit_door = doors
    code = a_pass()
    first = entrance.scan(code)
    assert (first["decision"], first["direction"]) == ("accept", "in")
    assert entrance.scan(code)["reason"] == "passback"
    out = exit_door.scan(code)
    assert (out["decision"], out["direction"]) == ("accept", "out")  # before: no direction, nothing learnt
    assert wait_for(lambda: entrance.policy.decide(code.raw).reason is Reason.OK, timeout=15)
    assert entrance.scan(code)["decision"] == "accept"
    # The entrance's "in" reached the exit too: a second "out" there is a passback.
    assert wait_for(lambda: exit_door.policy.decide(code.raw).reason is Reason.PASSBACK, timeout=15)


def test_hostile_peer_messages_neither_crash_nor_flood(doors: tuple[DoorUnderTest, DoorUnderTest],
                                                      mosquitto: Mosquitto) -> None:
    entrance, _ = doors
    stats = peer_stats(entrance)
    rogue = Listener(mosquitto.url, ["entryscan/hq/rogue/unused"])
    now = dt.datetime.now(dt.UTC).isoformat()
    good = {"decision": "accept", "credential_type": "signed_pass", "device": "rogue", "site": "hq",
            "direction": "out", "clock_synced": True, "ts": now}
    hostile = [b"", b"\xff\xfe", b"[" * 5000, b'{"a":' * 100, b"x" * (64 * 1024), b"null", b"[]",
               json.dumps({**good, "subject": "not hex"}).encode(), json.dumps({**good, "device": "other"}).encode(),
               json.dumps({**good, "subject": "ab" * 16, "ts": "2001-01-01T00:00:00+00:00"}).encode(),
               json.dumps({**good, "subject": "ab" * 16, "direction": "sideways"}).encode()]
    for payload in hostile:
        rogue.publish("entryscan/hq/rogue/entry", payload)
    # A flood of well-formed passages for invented subjects: the rate limit holds the writes back.
    for i in range(1000):
        rogue.publish("entryscan/hq/rogue/entry", json.dumps({**good, "subject": f"{i:032x}"}).encode())
    assert wait_for(lambda: stats.noted + stats.dropped >= 1000, timeout=30)
    assert stats.ignored >= len(hostile) + 1  # + the fixture's probe
    assert stats.noted <= 300 and stats.dropped >= 700  # BURST plus what the rate refilled
    assert entrance.publisher.alive()
    assert entrance.scan(a_pass("still-works"))["decision"] == "accept"
    rogue.close()
