"""Scenarios 2, 3 and 8: the door's link to the broker through the fault proxy.

2. PUBACKs swallowed for a while, then healed.
3. Broker down for a long time with a large backlog: decisions continue, the reconnect keeps within the in-flight
   limit, the backlog drains.
8. A half-open connection (black hole) is detected within 1.5 x keepalive and what was decided meanwhile arrives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import MosquittoFactory
from tests.reliability.rig import Rig
from tests.support import wait_for
from tests.support.proxy import FaultProxy

MAX_INFLIGHT = 20  # the door's default [mqtt] max_inflight


def swallowed_pubacks(tmp_path: Path, mosquitto_factory: MosquittoFactory, frames: int, rounds: int) -> None:
    rig = Rig(tmp_path, mosquitto_factory, frames, fps=min(120.0, frames / 4))
    assert rig.proxy is not None
    rig.proxy.swallow_pubacks(True)
    rig.door.start()
    for _ in range(rounds):
        rig.proxy.swallow_pubacks(True)
        wait_for(lambda: False, timeout=4 / rounds)
        rig.proxy.swallow_pubacks(False)
        wait_for(lambda: False, timeout=1)
    rig.wait_shown(frames, timeout=60 + frames / 100)
    assert rig.proxy.swallowed > 0
    rig.settle()
    rig.verdict("2 PUBACKs swallowed, healed", rounds)


def test_swallowed_pubacks_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    swallowed_pubacks(tmp_path, mosquitto_factory, frames=200, rounds=2)


@pytest.mark.soak
def test_swallowed_pubacks_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    swallowed_pubacks(tmp_path, mosquitto_factory, frames=3000, rounds=20)


def broker_down_backlog(tmp_path: Path, mosquitto_factory: MosquittoFactory, frames: int) -> None:
    rig = Rig(tmp_path, mosquitto_factory, frames, max_rows=frames + 1000)
    assert rig.proxy is not None
    rig.proxy.refuse(True)  # the broker is unreachable from the start
    rig.door.start()
    rig.wait_shown(frames, timeout=30 + frames / 50)  # decisions continue while nothing can be sent
    assert len(rig.door.journal_rows()) == frames
    rig.proxy.heal()
    rig.settle(timeout=60 + frames / 20)
    # mosquitto's Receive Maximum is 20: a 21st unacknowledged PUBLISH is refused with 0x97 (quota exceeded).
    refusals = [line for line in rig.door.output if "rejected" in line or "Quota" in line]
    assert rig.proxy.max_inflight <= MAX_INFLIGHT and not refusals, (rig.proxy.max_inflight, refusals[:5])
    rig.verdict(f"3 broker down, {frames} queued", rig.proxy.connections)


def test_broker_down_backlog_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker_down_backlog(tmp_path, mosquitto_factory, frames=1000)


@pytest.mark.soak
def test_broker_down_backlog_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker_down_backlog(tmp_path, mosquitto_factory, frames=10_000)


def closed_since(proxy: FaultProxy, count: int) -> Callable[[], bool]:
    return lambda: len(proxy.client_closes) > count


def half_open(tmp_path: Path, mosquitto_factory: MosquittoFactory, holes: int) -> None:
    keepalive = 5
    rig = Rig(tmp_path, mosquitto_factory, 40 * holes, fps=4, keepalive_s=keepalive)
    assert rig.proxy is not None
    rig.door.start()
    detections = []
    for _ in range(holes):
        assert wait_for(lambda: rig.proxy is not None and rig.proxy.open_connections() == 1, timeout=20)
        rig.wait_shown(rig.shown() + 4)  # a second at least on the live link: CONNACK done, rows flowing
        closes = len(rig.proxy.client_closes)
        rig.proxy.blackhole()
        start = time.monotonic()
        assert wait_for(closed_since(rig.proxy, closes), timeout=4 * keepalive, interval=0.05)
        detections.append(rig.proxy.client_closes[closes] - start)
    rig.wait_shown(40 * holes, timeout=40 * holes)
    rig.settle()
    rig.verdict("8 half-open link", holes)
    # The door closes the dead link itself (nothing tells it) within 1.5 x keepalive of the link dying.
    assert max(detections) <= 1.5 * keepalive, detections


def test_half_open_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    half_open(tmp_path, mosquitto_factory, holes=1)


@pytest.mark.soak
def test_half_open_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    half_open(tmp_path, mosquitto_factory, holes=6)


def cut_and_slow(tmp_path: Path, mosquitto_factory: MosquittoFactory, frames: int, cuts: int) -> None:
    """The rest of the proxy's faults on one link: packets delayed, bandwidth capped, and PUBLISHes cut in the
    middle (the broker sees half a packet, then the connection ends)."""
    rig = Rig(tmp_path, mosquitto_factory, frames, fps=min(120.0, frames / 4))
    assert rig.proxy is not None
    rig.proxy.delay(0.05)
    rig.proxy.throttle(50_000)
    rig.door.start()
    for _ in range(cuts):
        connections = rig.proxy.connections
        rig.proxy.cut_next()
        assert wait_for(lambda c=connections: rig.proxy is not None and rig.proxy.connections > c,  # type: ignore[misc]
                        timeout=30)
    rig.wait_shown(frames, timeout=60 + frames / 50)
    rig.proxy.heal()
    faults = rig.proxy.faults
    rig.settle()
    rig.verdict("2b cut inside a packet, delay, throttle", faults)


def test_cut_and_slow_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    cut_and_slow(tmp_path, mosquitto_factory, frames=200, cuts=2)


@pytest.mark.soak
def test_cut_and_slow_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    cut_and_slow(tmp_path, mosquitto_factory, frames=2000, cuts=10)
