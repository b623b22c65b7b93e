"""Scenario 1: the door SIGKILLed during bursts while the broker (no persistence) and the collector are SIGKILLed
and restarted; afterwards every decision is stored exactly once (confirmed delivery, end to end)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import MosquittoFactory
from tests.reliability.conftest import record
from tests.support import wait_for
from tests.support.collector import Collector
from tests.support.door import Door, burst_frames
from tests.support.history import check, door_history, settled


@dataclass(frozen=True)
class KillPlan:
    door_kills: int
    burst: int  # frames per start: the camera replays them from the first on every start
    broker_every: int  # the broker is SIGKILLed every this many door kills
    collector_every: int


def shown_count(door: Door) -> int:
    return sum("[door] #" in line for line in list(door.output))


def shown_more(door: Door, before: int) -> Callable[[], bool]:
    return lambda: shown_count(door) > before


def run_kills(tmp_path: Path, mosquitto_factory: MosquittoFactory, plan: KillPlan, seed: int) -> None:
    rng = random.Random(seed)
    broker = mosquitto_factory()  # no persistence: a SIGKILL loses sessions, queues and retained confirms
    db = tmp_path / "collector.db"
    collector = Collector(broker.url, db, tmp_path / "collector.log").start()
    door = Door(tmp_path / "door", broker.url, burst_frames(tmp_path / "frames", plan.burst),
                delivery="confirmed", debounce_s=0, confirm_timeout_s=2)
    faults = 0
    for round_ in range(1, plan.door_kills + 1):
        door.start()
        assert wait_for(shown_more(door, shown_count(door)), timeout=30), door.output[-5:]
        if round_ % plan.broker_every == 0:
            broker.kill()
            broker.start()
            faults += 1
        if round_ % plan.collector_every == 0:
            collector.kill()
            collector.start()
            faults += 1
        wait_for(lambda: False, timeout=rng.uniform(0.0, 0.3))
        door.kill()
        faults += 1
    door.start()
    try:
        assert wait_for(lambda: settled(door.journal, db), timeout=120, interval=0.5), collector.tail()
    finally:
        door.stop()
        collector.stop()
    verdict = check([door_history(door.journal, door.output)], db)
    record("1 kills (door, broker, collector)", faults, verdict)
    verdict.assert_ok()
    assert verdict.decisions >= plan.door_kills


def test_kills_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    run_kills(tmp_path, mosquitto_factory, KillPlan(door_kills=8, burst=300, broker_every=3, collector_every=4),
              seed=1)


@pytest.mark.soak
def test_kills_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    run_kills(tmp_path, mosquitto_factory, KillPlan(door_kills=100, burst=400, broker_every=10, collector_every=7),
              seed=13)
