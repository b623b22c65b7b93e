"""Every topic a door publishes, against the ACL and the mosquitto config that ``broker`` generates.

Before: the generated ACL refused the door's tag topic (``entryscan/<site>/<device>/tag``): every accept logged
"broker rejected the tag message: Not authorized" and Home Assistant's tag scans never arrived.
"""

from __future__ import annotations

import json

from entryscan.device.config.settings import load_config
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher
from entryscan.device.delivery.topics import Topics
from tests.provisioning.test_broker import (
    NOT_AUTHORIZED,
    Site,
    bundle_config_for_test,
    collector_client,
    device_client,
    site,  # noqa: F401 - the fixture
)
from tests.support import StepClock, wait_for


def test_the_generated_acl_grants_every_topic_the_door_publishes(site: Site) -> None:  # noqa: F811
    door = device_client(site, "door-a")
    try:
        topics = Topics("entryscan", "hq", "door-a").published()
        codes = {topic: door.publish(topic, b"") for topic in topics}
        assert {t: c for t, c in codes.items() if c >= 0x80} == {}
        # ... and nothing of door-b's.
        for topic in Topics("entryscan", "hq", "door-b").published():
            assert door.publish(topic, b"x") == NOT_AUTHORIZED, topic
    finally:
        door.close()


def test_a_door_from_its_bundle_has_nothing_refused(site: Site) -> None:  # noqa: F811
    """The real publisher, discovery on, every kind of message it sends: nothing counted as refused."""
    cfg = load_config(bundle_config_for_test(site.bundle("door-a")))
    cfg.journal.path.parent.mkdir()
    clock = StepClock()
    journal = Journal(cfg.journal.path, device="door-a", site="hq", door="main", max_rows=100, clock=clock)
    pub = MqttPublisher(cfg.mqtt, device="door-a", site="hq", door="main", journal_path=cfg.journal.path,
                        max_rows=100, clock=clock, state_provider=dict, firmware="t",
                        reconnect_min_s=0.2, reconnect_max_s=0.5)
    collector = collector_client(site)
    assert collector.subscribe("entryscan/hq/door-a/+") == 1
    event = journal.record_entry({"decision": "accept", "reason": "ok", "credential_type": "badge",
                                  "subject": "p-1", "policy_version": "1", "clock_synced": True})
    assert event is not None
    journal.record_alert("tamper", {})
    pub.start()
    try:
        assert wait_for(lambda: pub.connected, timeout=20)
        pub.tag_scanned("p-1")
        pub.decided(event)
        pub.transient_alert("storage_fault", {})
        assert wait_for(lambda: {t for t, _ in collector.received()} >= {
            "entryscan/hq/door-a/entry", "entryscan/hq/door-a/alert", "entryscan/hq/door-a/state"}, timeout=20)
        assert wait_for(lambda: pub.stats.acked >= 2 and journal.backlog() <= 2, timeout=10)
        pub.publish_state()
        assert wait_for(lambda: any(t.endswith("/state") and json.loads(p).get("mqtt_rejected") == 0
                                    for t, p in collector.received()[1:]), timeout=10)
        assert pub.stats.rejected == 0 and pub.stats.reject_alerts == 0
    finally:
        pub.stop()
        journal.close()
        collector.close()
