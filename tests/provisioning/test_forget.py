# ruff: noqa: F811 - the site fixture imported from test_broker is the parameter
"""``device remove --broker``: a retired door's retained Home Assistant discovery is cleared on the real broker.

The broker is the one ``entryscan-provision broker`` generated (TLS, client certificates, its ACL); the command
uses the collector's certificate from that folder. An observer (a certificate from the site CA, allowed to read
the discovery topics, as Home Assistant's would be) checks what a Home Assistant starting now would read.
Before: ``device remove`` left the door's retained discovery on the broker, so Home Assistant showed it forever.
"""

from __future__ import annotations

import signal
import time

from entryscan.provisioning import manifest
from entryscan.provisioning.__main__ import main
from entryscan.provisioning.broker import _leaf, discovery_topics
from entryscan.provisioning.pki import SiteCA
from tests.provisioning.test_broker import Client, Site, device_client, site  # noqa: F401 - the fixture
from tests.support import wait_for


def _observer(site: Site) -> Client:
    b = site.broker_dir
    client = Client(site.port, b / "ca.pem", b / "observer.pem", b / "observer.key")
    assert wait_for(lambda: client.connack == ["Success"])
    return client


def _retained(site: Site) -> set[str]:
    """The discovery topics that hold a retained (non-empty) message now."""
    observer = _observer(site)
    try:
        assert observer.subscribe("homeassistant/#") == 1
        time.sleep(0.5)  # retained messages arrive right after the SUBACK
        return {topic for topic, payload in observer.received() if payload}
    finally:
        observer.close()


def _allow_observer(site: Site) -> None:
    _leaf(SiteCA.load(site.dir), site.broker_dir, "observer", "observer")
    with (site.broker_dir / "acl").open("a") as acl:
        acl.write("\nuser observer\ntopic read homeassistant/#\n")
    assert site.proc is not None
    site.proc.send_signal(signal.SIGHUP)  # mosquitto rereads its ACL
    time.sleep(0.5)


def _publish_discovery(site: Site, device: str) -> None:
    door = device_client(site, device)
    try:
        for topic in discovery_topics("hq", device):
            assert door.publish(topic, b'{"dev": {"ids": ["x"]}}', retain=True) < 0x80, topic  # 0x10: no subscriber
    finally:
        door.close()


def test_device_remove_broker_clears_only_that_doors_retained_discovery(site: Site) -> None:
    _allow_observer(site)
    _publish_discovery(site, "door-a")
    _publish_discovery(site, "door-b")
    assert _retained(site) == set(discovery_topics("hq", "door-a")) | set(discovery_topics("hq", "door-b"))
    code = main(["device", "remove", "--site-dir", str(site.dir), "--device", "door-a",
                 "--broker", f"mqtts://localhost:{site.port}", "--broker-dir", str(site.broker_dir)])
    assert code == 0
    assert _retained(site) == set(discovery_topics("hq", "door-b"))  # door-b's stays
    assert manifest.load(site.dir).device("door-a") is None


def test_a_refused_clear_leaves_the_door_in_the_manifest(site: Site) -> None:
    """Without the collector's certificate nothing is cleared, and the door is not retired, so the command can be
    run again once the broker folder is right."""
    empty = site.dir.parent / "not-a-broker-folder"
    empty.mkdir()
    code = main(["device", "remove", "--site-dir", str(site.dir), "--device", "door-b",
                 "--broker", f"mqtts://localhost:{site.port}", "--broker-dir", str(empty)])
    assert code != 0
    assert manifest.load(site.dir).device("door-b") is not None
