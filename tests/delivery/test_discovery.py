# ruff: noqa: F811 - pytest fixtures imported from test_publisher are the parameters
"""Home Assistant discovery, live events and refused control messages, against a real mosquitto.

Home Assistant itself is driven in tests/ha (slow); these check what the door puts on the broker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher
from tests.conftest import MosquittoFactory
from tests.delivery.test_publisher import DEV, FAST, FIELDS, Rig, listeners, rig_factory  # noqa: F401 - the fixtures
from tests.support import StepClock, wait_for
from tests.support.mosquitto import Listener, Mosquitto

LEGACY = ["homeassistant/device/door-1/config", "homeassistant/tag/door-1/scan/config"]


def _publisher(url: str, tmp_path: Path, clock: StepClock, site: str) -> tuple[MqttPublisher, Journal]:
    path = tmp_path / site / "j.db"
    journal = Journal(path, device="door-1", site=site, door="main", max_rows=100, clock=clock)
    pub = MqttPublisher(MqttConfig(url=url, keepalive_s=5, delivery="broker"), device="door-1", site=site,
                        door="main", journal_path=path, max_rows=100, clock=clock,
                        state_provider=lambda: {"camera": "starting"}, firmware="9.9", **FAST)
    return pub, journal


def test_discovery_is_one_message_per_site_and_door(mosquitto: Mosquitto, rig_factory: Callable[..., Rig],
                                                    listeners: Callable[..., Listener]) -> None:
    """Before: both sites' door-1 wrote homeassistant/device/door-1/config (and one tag topic), overwriting
    each other's retained discovery; the tag scanner came alone with bare identifiers, root-level qos reached no
    component, `sa` made an area named after the site, and the origin url named a repository that does not
    exist. (Failed on the topic: KeyError 'dev' on the legacy topic's migrate request, then two equal topics.)"""
    rig = rig_factory(mosquitto.url, discovery=True)
    listener = listeners(mosquitto.url, ["homeassistant/#"])
    rig.publisher.start()
    topic = "homeassistant/device/entryscan_hq/door-1/config"
    assert wait_for(lambda: len(listener.on(topic)) == 1)
    config = json.loads(listener.on(topic)[0])
    assert config["dev"] == {"ids": ["entryscan_hq_door_1"], "name": "Door scanner hq/main", "mf": "entryscan",
                             "mdl": "QR door scanner", "sw": "9.9"}  # full device block, no suggested area
    assert config["o"] == {"name": "entryscan", "sw": "9.9"} and "qos" not in config
    cmps = config["cmps"]
    assert {c["p"] for c in cmps.values()} == {"event", "sensor", "binary_sensor", "button", "tag"}
    assert all(c["qos"] == 1 for c in cmps.values())
    assert cmps["scan"]["topic"] == f"{DEV}/tag" and "value_template" not in cmps["scan"]
    assert cmps["entry"]["state_topic"] == f"{DEV}/event"  # live decisions, not the journal's entry topic
    assert "fault" in cmps["camera"]["value_template"]  # "starting" is no problem (HA suite renders it)
    assert cmps["identify"]["command_topic"] == f"{DEV}/cmd/identify"
    assert config["availability"] == [{"topic": f"{DEV}/status", "payload_available": "online",
                                       "payload_not_available": "offline"}]
    assert len({c.get("unique_id") for c in cmps.values() if c["p"] != "tag"}) == 4
    # The earlier topics: Home Assistant's migration request first, then cleared (empty, retained).
    assert wait_for(lambda: listener.on(LEGACY[0]) == [b'{"migrate_discovery":true}', b""])
    assert wait_for(lambda: listener.on(LEGACY[1]) == [b""])
    late = listeners(mosquitto.url, ["homeassistant/#"])
    assert wait_for(lambda: len(late.on(topic)) == 1)
    time.sleep(0.3)
    assert [t for t, p, _ in late.messages if p] == [topic]  # nothing retained on the old topics
    # Untrusted input on the subscribed topic: garbage is ignored, "online" republishes (no second migration).
    for junk in (b"\xff\xfe\x00", b"x" * 10_000, b"offline"):
        listener.publish("homeassistant/status", junk)
    listener.publish("homeassistant/status", b"online")
    assert wait_for(lambda: len(listener.on(topic)) == 2)
    time.sleep(0.3)
    assert len(listener.on(topic)) == 2 and len(listener.on(LEGACY[0])) == 2 and rig.publisher.connected


def _device_ids(listener: Listener) -> set[str]:
    return {json.loads(p)["dev"]["ids"][0] for p in listener.on("/config") if p.startswith(b'{"dev')}


def test_two_sites_with_a_door_1_keep_their_own_discovery(mosquitto: Mosquitto, tmp_path: Path,
                                                          clock: StepClock,
                                                          listeners: Callable[..., Listener]) -> None:
    pubs = [_publisher(mosquitto.url, tmp_path, clock, site) for site in ("hq", "annex")]
    try:
        for pub, _ in pubs:
            pub.start()
        both = {"entryscan_hq_door_1", "entryscan_annex_door_1"}
        live = listeners(mosquitto.url, ["homeassistant/device/#"])
        assert wait_for(lambda: _device_ids(live) == both, timeout=10)
        time.sleep(0.5)
        late = listeners(mosquitto.url, ["homeassistant/device/#"])  # what a Home Assistant starting now reads
        assert wait_for(lambda: _device_ids(late) == both, timeout=5), _device_ids(late)
    finally:
        for pub, journal in pubs:
            pub.stop(1.0)
            journal.close()


def test_the_event_entity_hears_live_decisions_only(mosquitto: Mosquitto, rig_factory: Callable[..., Rig],
                                                    listeners: Callable[..., Listener]) -> None:
    """Before: the event entity read the entry topic, so journal replays and every unconfirmed re-send fired it
    again (an automation ran two or three times per entry) and the event carried no event_id."""
    rig = rig_factory(mosquitto.url)
    heard = listeners(mosquitto.url, [f"{DEV}/event", f"{DEV}/entry"])
    stale = rig.journal.record_entry(FIELDS)
    assert stale is not None
    rig.publisher.decided(stale)
    rig.clock.advance_monotonic(60)  # offline for a minute: no longer live
    rig.record(2)  # journal rows: replays as far as Home Assistant is concerned
    rig.publisher.start()
    assert wait_for(lambda: len(heard.on("/entry")) == 3)
    live = rig.journal.record_entry({**FIELDS, "decision": "deny", "reason": "revoked"})
    assert live is not None
    rig.publisher.decided(live)
    assert wait_for(lambda: len(heard.on("/event")) == 1)
    time.sleep(0.3)
    events = heard.json_on("/event")
    assert events == [{"event_type": "deny", "event_id": live["event_id"], "seq": live["seq"], "ts": live["ts"],
                       "reason": "revoked", "credential_type": "badge"}]  # nothing personal: no subject


def test_refused_control_messages_are_counted_and_alerted(mosquitto_factory: MosquittoFactory,
                                                         rig_factory: Callable[..., Rig],
                                                         listeners: Callable[..., Listener]) -> None:
    """Before: a broker ACL refusing the tag topic logged a warning per accept while the state said
    mqtt_rejected: 0 and no alert went out (failed: rejected stayed 0, no publish_rejected alert)."""
    acl = "\n".join(f"topic readwrite {DEV}/{leaf}" for leaf in ("status", "state", "entry", "alert", "event"))
    broker = mosquitto_factory(acl=acl + "\n")
    rig = rig_factory(broker.url)
    alerts = listeners(broker.url, [f"{DEV}/alert", f"{DEV}/state"])
    rig.publisher.start()
    assert wait_for(lambda: rig.publisher.connected)
    rig.publisher.tag_scanned("subject-1")
    assert wait_for(lambda: rig.publisher.stats.rejected == 1)
    assert wait_for(lambda: any(a.get("kind") == "publish_rejected" for a in alerts.json_on("/alert")), timeout=10)
    alert: dict[str, Any] = next(a for a in alerts.json_on("/alert") if a.get("kind") == "publish_rejected")
    assert alert["topic"] == f"{DEV}/tag" and alert["reason_code"] == 0x87 and alert["rejected"] == 1
    rig.publisher.publish_state()
    assert wait_for(lambda: any(s.get("mqtt_rejected") == 1 for s in alerts.json_on("/state")))
