"""The three losses measured before end-to-end delivery, reproduced against a real mosquitto and the real collector.

Each runs in both delivery modes. ``confirmed`` (the default) must lose nothing; ``broker`` shows that the loss is
real (the test could fail) wherever the broker is what loses it, and that 0x10 no longer deletes a row there either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from entryscan.collector.store import open_store
from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher
from tests.conftest import MosquittoFactory
from tests.support import StepClock, wait_for
from tests.support.collector import Collector
from tests.support.mosquitto import Mosquitto

FIELDS: dict[str, object] = {"decision": "accept", "reason": "ok", "credential_type": "badge",
                             "subject": "5f0c3e9a1b2d4c6e8f7a9b0c1d2e3f40", "policy_version": "1",
                             "clock_synced": True}
SETTLE_S = 8.0  # how long a mode gets to deliver what it still can


def start(collector: Collector) -> Collector:
    """Start and wait for its subscription (the log is emptied first, so an earlier run's line does not count)."""
    collector.log.write_text("")
    collector.start()
    assert wait_for(collector.subscribed, 20), collector.tail()
    return collector


def stored(collector: Collector) -> int:
    if not Path(collector.db).exists():
        return 0
    store = open_store(str(collector.db))
    try:
        return len(store.entries(limit=1_000_000))
    finally:
        store.close()


class Door:
    """A journal and the device's real publisher on it, in this process."""

    def __init__(self, tmp: Path, url: str, delivery: str) -> None:
        clock = StepClock()
        path = tmp / "door" / "journal.db"
        self.journal = Journal(path, device="door-1", site="hq", door="main", max_rows=10_000, clock=clock)
        cfg = MqttConfig(url=url, keepalive_s=5, discovery=False, delivery=delivery)  # type: ignore[arg-type]
        self.publisher = MqttPublisher(cfg, device="door-1", site="hq", door="main", journal_path=path,
                                       max_rows=10_000, clock=clock, state_provider=dict, firmware="t",
                                       reconnect_min_s=0.2, reconnect_max_s=1.0, confirm_wait_s=1.0,
                                       confirm_wait_max_s=2.0)

    def decide(self, n: int) -> None:
        for _ in range(n):
            assert self.journal.record_entry(FIELDS) is not None
        self.publisher.notify()

    def close(self) -> None:
        self.publisher.stop(1.0)
        self.journal.close()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Callable[..., tuple[Door, Collector]]]:
    made: list[tuple[Door, Collector]] = []

    def make(broker: Mosquitto, delivery: str) -> tuple[Door, Collector]:
        collector = Collector(broker.url, tmp_path / "collector.db", tmp_path / "collector.log", "loss-collector")
        door = Door(tmp_path, broker.url, delivery)
        made.append((door, collector))
        return door, collector

    yield make
    for door, collector in made:
        door.close()
        collector.stop()


def settle(door: Door, collector: Collector, decided: int, delivery: str) -> int:
    """Wait until everything is stored (or, where loss is expected, until the door has nothing left to send)."""
    if delivery == "confirmed":
        assert wait_for(lambda: stored(collector) == decided and door.journal.backlog() == 0, 60), \
            (stored(collector), door.journal.backlog())
    else:
        wait_for(lambda: door.journal.backlog() == 0, SETTLE_S)
        wait_for(lambda: stored(collector) == decided, SETTLE_S)
    return decided - stored(collector)


@pytest.mark.parametrize("delivery", ["confirmed", "broker"])
def test_broker_killed_without_persistence_after_puback(
        delivery: str, mosquitto_factory: MosquittoFactory, parts: Callable[..., tuple[Door, Collector]]) -> None:
    """Measured before: 2,804 of 4,105 decisions lost when mosquitto (no persistence) was SIGKILLed."""
    broker = mosquitto_factory()
    door, collector = parts(broker, delivery)
    start(collector).stop()  # the collector's persistent session exists; it is away (a restart, a deploy)
    door.publisher.start()
    door.decide(300)
    assert wait_for(lambda: door.publisher.stats.acked >= 300, 30)  # the broker took them all
    broker.kill()
    broker.start()  # no persistence: the queued messages and the collector's session are gone
    start(collector)
    lost = settle(door, collector, 300, delivery)
    print(f"\n{delivery}: broker killed after PUBACK: 300 decided, {300 - lost} stored, {lost} lost")
    assert lost == 0 if delivery == "confirmed" else lost > 0


@pytest.mark.parametrize("delivery", ["confirmed", "broker"])
def test_broker_queue_limit_with_the_collector_offline(
        delivery: str, mosquitto_factory: MosquittoFactory, parts: Callable[..., tuple[Door, Collector]]) -> None:
    """Measured before: 507 of 1,500 lost to mosquitto's max_queued_messages (1000) with the collector offline.
    The limit is 100 here so the test stays short; the mechanism is the same."""
    broker = mosquitto_factory(extra_conf="max_queued_messages 100")
    door, collector = parts(broker, delivery)
    start(collector).stop()
    door.publisher.start()
    door.decide(300)
    assert wait_for(lambda: door.publisher.stats.acked >= 300, 30)
    start(collector)
    lost = settle(door, collector, 300, delivery)
    print(f"\n{delivery}: queue limit 100, collector offline: 300 decided, {300 - lost} stored, {lost} lost")
    assert lost == 0 if delivery == "confirmed" else lost > 0


@pytest.mark.parametrize("delivery", ["confirmed", "broker"])
def test_no_collector_session_yet(
        delivery: str, mosquitto_factory: MosquittoFactory, parts: Callable[..., tuple[Door, Collector]]) -> None:
    """Measured before: 5 of 5 lost: the first deployment (or a broker restarted without persistence) has no
    collector session, mosquitto answers PUBACK 0x10 "no matching subscribers", drops the message, and the door
    deleted the row. 0x10 now keeps the row in both modes."""
    broker = mosquitto_factory()
    door, collector = parts(broker, delivery)
    door.publisher.start()
    door.decide(5)
    assert wait_for(lambda: door.publisher.stats.acked >= 5, 30)
    assert door.journal.backlog() == 5  # nobody heard them: kept
    start(collector)
    lost = settle(door, collector, 5, "confirmed")  # both modes must now deliver all five
    print(f"\n{delivery}: no collector session: 5 decided, {5 - lost} stored, {lost} lost")
    assert lost == 0

