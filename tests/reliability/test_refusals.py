"""Scenarios 6 and 7.

6. The broker refuses the door's entries (ACL): the rows stay, an alert is raised, and they drain after the fix
   (the ACL corrected and mosquitto told with SIGHUP).
6b. The broker refuses rows by size (mosquitto's ``message_size_limit``, which it does not announce, and which
   paho meets as a protocol error that ends the link): the big rows stay, an alert is raised, the rows behind them
   flow meanwhile, and they drain after the fix (the limit raised, the broker restarted).
7. A paho callback raises inside the network loop (each of on_connect, on_publish, on_message, on_disconnect):
   delivery rebuilds its client, says so in an alert, and nothing is lost.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from entryscan.device.access.clock import SystemClock
from entryscan.device.delivery.journal import Journal
from tests.conftest import MosquittoFactory
from tests.reliability.rig import InProcessDoor, Rig, settle_and_check
from tests.support import wait_for
from tests.support.history import stored

ACL = """topic {entry} entryscan/+/+/entry
topic readwrite entryscan/+/+/alert
topic readwrite entryscan/+/+/status
topic readwrite entryscan/+/+/state
topic readwrite entryscan/+/+/confirm
topic readwrite entryscan/+/+/cmd/#
topic readwrite entryscan/+/lists/#
"""


def broker_refuses(tmp_path: Path, mosquitto_factory: MosquittoFactory, frames: int, episodes: int) -> None:
    rig = Rig(tmp_path, mosquitto_factory, frames, proxy=False, fps=frames / 3,
              broker_kw={"acl": ACL.format(entry="read")})
    acl = rig.broker.workdir / "acl"
    assert rig.broker.proc is not None
    for episode in range(1, episodes + 1):
        acl.write_text(ACL.format(entry="read"))  # the collector may read entries, nobody may write them
        rig.broker.proc.send_signal(signal.SIGHUP)
        if episode == 1:
            rig.door.start()
        else:
            rig.door.stop()
            rig.door.start()  # the camera replays its frames: new decisions into the refusing broker
        rig.wait_shown(frames * episode)
        assert wait_for(lambda e=episode: len(rig.alerts("publish_rejected")) >= e, timeout=60), (  # type: ignore[misc]
            rig.collector.tail())
        assert rig.door.journal_rows(), "refused rows must stay in the journal"
        acl.write_text(ACL.format(entry="readwrite"))
        rig.broker.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: not rig.door.journal_rows(), timeout=90, interval=0.5), rig.door.output[-5:]
    rig.settle()
    rig.verdict("6 broker refuses (ACL)", episodes)


def test_broker_refuses_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker_refuses(tmp_path, mosquitto_factory, frames=30, episodes=1)


@pytest.mark.soak
def test_broker_refuses_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker_refuses(tmp_path, mosquitto_factory, frames=300, episodes=3)


SIZE_LIMIT = 2000  # bytes; a door's entry is about 600


def broker_refuses_size(tmp_path: Path, mosquitto_factory: MosquittoFactory, frames: int, big_rows: int) -> None:
    rig = Rig(tmp_path, mosquitto_factory, frames, proxy=False, fps=frames / 6,
              broker_kw={"extra_conf": f"message_size_limit {SIZE_LIMIT}"})
    rig.door.start()
    rig.wait_shown(frames // 6)
    # Rows larger than the limit, written into the running door's journal as its own (a second connection to the
    # same file, the door's identity): entries with a large extra field, which the collector accepts.
    writer = Journal(rig.door.journal, device="door-1", site="hq", door="main", max_rows=10_000, clock=SystemClock())
    try:
        big = [writer.record_entry({"decision": "accept", "reason": "ok", "credential_type": "badge",
                                    "note": "x" * (2 * SIZE_LIMIT)}) for _ in range(big_rows)]
    finally:
        writer.close()
    rig.wait_shown(frames)  # the door's own decisions go on, and flow past the big rows
    assert wait_for(lambda: len(rig.alerts("publish_rejected")) >= 1, timeout=60), rig.door.log_tail()
    big_ids = {e["event_id"] for e in big if e}
    assert wait_for(lambda: len({r["event_id"] for r in stored(rig.db)[0]} - big_ids) >= frames, timeout=60), (
        "the door's own rows, behind the refused ones, must be delivered meanwhile")
    assert not big_ids & {r["event_id"] for r in stored(rig.db)[0]}
    kept = [r for r in rig.door.journal_rows() if len(json.dumps(r)) > SIZE_LIMIT]
    assert len(kept) == big_rows, "refused rows must stay in the journal"
    rig.broker.conf.write_text(rig.broker.conf.read_text().replace(f"message_size_limit {SIZE_LIMIT}", ""))
    rig.broker.restart()
    rig.settle()
    rig.verdict("6b broker refuses (size)", big_rows)


def test_broker_refuses_size_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker_refuses_size(tmp_path, mosquitto_factory, frames=30, big_rows=1)


@pytest.mark.soak
def test_broker_refuses_size_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker_refuses_size(tmp_path, mosquitto_factory, frames=300, big_rows=5)


class Raising:
    """Wraps one paho callback: raises the first ``times`` calls, then passes through."""

    def __init__(self, real: Any, times: int) -> None:
        self.real, self.left, self.raised = real, times, 0

    def __call__(self, *args: Any) -> Any:
        if self.left > 0:
            self.left -= 1
            self.raised += 1
            raise RuntimeError("injected callback failure")
        return self.real(*args)


CALLBACKS = ("_on_connect", "_on_publish", "_on_message", "_on_disconnect")


def raising_callbacks(tmp_path: Path, mosquitto_factory: MosquittoFactory, frames: int, starts: int) -> None:
    """Each start of the door: every callback raises once (the camera replays its frames meanwhile)."""
    rig = Rig(tmp_path, mosquitto_factory, frames, proxy=False, fps=frames / 6)
    output: list[str] = []
    raised = errors = 0
    for start in range(1, starts + 1):
        door = InProcessDoor(rig.door, output)
        publisher = door.parts.publisher
        wrapped = {name: Raising(getattr(publisher, name), 1) for name in CALLBACKS}
        for name, wrapper in wrapped.items():
            setattr(publisher, name, wrapper)  # read by each new paho client
        door.start()
        assert wait_for(lambda s=start: len(output) >= frames * s, timeout=60)  # type: ignore[misc]
        assert wait_for(lambda w=wrapped: all(x.raised for n, x in w.items() if n != "_on_disconnect"),  # type: ignore[misc]
                        timeout=60), {n: w.raised for n, w in wrapped.items()}
        raised += sum(w.raised for w in wrapped.values())
        if start < starts:
            door.stop()
            errors += publisher.stats.client_errors
    settle_and_check(door, rig.collector, rig.db, "7 paho callbacks raise", raised)
    errors += publisher.stats.client_errors
    assert errors >= 3 * starts
    assert rig.alerts("mqtt_client_error"), "the failure must be reported, not only logged"


def test_raising_callbacks_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    raising_callbacks(tmp_path, mosquitto_factory, frames=60, starts=1)


@pytest.mark.soak
def test_raising_callbacks_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    raising_callbacks(tmp_path, mosquitto_factory, frames=200, starts=5)
