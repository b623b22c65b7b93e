"""A memory-only alert (``storage_fault``: the journal is what failed) is kept until the broker acknowledges it
(issue 18, "The door"). Before, it left the queue when published: a link that dropped before its PUBACK lost it.
Real mosquitto; the fault proxy (tests/support/proxy.py) drops the broker's PUBACKs, then the connection."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.delivery.test_publisher import DEV, Rig, listeners, rig_factory  # noqa: F401 - the fixtures
from tests.support import wait_for
from tests.support.mosquitto import Listener, Mosquitto
from tests.support.proxy import FaultProxy


def test_an_alert_whose_puback_never_came_goes_again_on_the_next_link(
        mosquitto: Mosquitto, rig_factory: Callable[..., Rig], listeners: Callable[..., Listener]) -> None:  # noqa: F811
    proxy = FaultProxy(mosquitto.port)
    listener = listeners(mosquitto.url, [f"{DEV}/alert"])  # straight to the broker, not through the proxy
    rig = rig_factory(proxy.url)
    rig.publisher.start()
    try:
        assert wait_for(lambda: rig.publisher.connected, timeout=10)
        proxy.swallow_pubacks(True)
        rig.publisher.transient_alert("storage_fault", {"error": "disk I/O error"})
        assert wait_for(lambda: listener.json_on("/alert"), timeout=10)  # the broker has it; the door heard nothing
        proxy.swallow_pubacks(False)
        proxy.drop()  # the link ends before the PUBACK could arrive
        assert wait_for(lambda: len(listener.json_on("/alert")) >= 2, timeout=15), rig.publisher.stats
        first, again = listener.json_on("/alert")[:2]
        assert again["alert_id"] == first["alert_id"] and again["kind"] == "storage_fault"
        assert again["durable"] is False
        # Acknowledged this time: the next link does not send it a third time.
        connects = rig.publisher.stats.connects
        proxy.drop()
        assert wait_for(lambda: rig.publisher.connected and rig.publisher.stats.connects > connects, timeout=15)
        time.sleep(1.0)
        assert len(listener.json_on("/alert")) == 2
        assert rig.journal.backlog() == 0  # nothing was journaled for it
    finally:
        rig.publisher.stop(1.0)
        proxy.close()
