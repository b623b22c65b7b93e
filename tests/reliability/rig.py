"""One door -> (fault proxy) -> mosquitto -> collector, all real processes, with the history check at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import MosquittoFactory
from tests.reliability.conftest import record
from tests.support import wait_for
from tests.support.collector import Collector
from tests.support.door import Door, burst_frames
from tests.support.history import Verdict, check, door_history, settled
from tests.support.mosquitto import Mosquitto
from tests.support.proxy import FaultProxy


def wait_quiet(count: Callable[[], int], still_s: float = 2.0, timeout: float = 120) -> None:
    """Wait until ``count()`` (decisions shown) has not changed for ``still_s``: the camera ran through its frames."""
    last, since = count(), time.monotonic()
    deadline = since + timeout
    while time.monotonic() - since < still_s:
        assert time.monotonic() < deadline, "the door kept deciding"
        time.sleep(0.1)
        if count() != last:
            last, since = count(), time.monotonic()


class Rig:
    def __init__(self, tmp_path: Path, mosquitto_factory: MosquittoFactory, frames: int, *,
                 proxy: bool = True, broker_kw: dict[str, Any] | None = None, **door_kw: Any) -> None:
        self.tmp = tmp_path
        self.broker: Mosquitto = mosquitto_factory(**(broker_kw or {}))
        self.proxy = FaultProxy(self.broker.port) if proxy else None
        self.db = tmp_path / "collector.db"
        self.collector = Collector(self.broker.url, self.db, tmp_path / "collector.log").start()
        door_kw = {"delivery": "confirmed", "debounce_s": 0, "confirm_timeout_s": 3, **door_kw}
        url = self.proxy.url if self.proxy else self.broker.url
        self.door = Door(tmp_path / "door", url, burst_frames(tmp_path / "frames", frames), **door_kw)

    def shown(self) -> int:
        return sum("[door] #" in line for line in list(self.door.output))

    def wait_shown(self, count: int, timeout: float = 60) -> None:
        assert wait_for(lambda: self.shown() >= count, timeout=timeout, interval=0.1), self.door.output[-5:]

    def settle(self, timeout: float = 120) -> None:
        """Once the door is done deciding, wait until every journaled decision is stored and confirmed, then stop
        door and collector. (Settled between two decisions and stopped after the second, the door would keep that
        one in its journal: counted as lost, though delivered on its next start.)"""
        try:
            if self.door.proc is not None and self.door.proc.poll() is None:
                wait_quiet(self.shown)
            assert wait_for(lambda: settled(self.door.journal, self.db), timeout=timeout, interval=0.5), (
                self.door.output[-8:], self.collector.tail())
        finally:
            self.door.stop()
            self.collector.stop()
            if self.proxy:
                self.proxy.close()

    def verdict(self, scenario: str, faults: int) -> Verdict:
        verdict = check([door_history(self.door.journal, self.door.output)], self.db)
        record(scenario, faults, verdict)
        verdict.assert_ok()
        return verdict

    def alerts(self, kind: str) -> list[dict[str, Any]]:
        """Device alerts of this kind the collector stored (read-only)."""
        import json
        import sqlite3

        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT payload FROM alert_events WHERE kind = ?", (kind,)).fetchall()
        except sqlite3.Error:
            return []
        finally:
            db.close()
        return [json.loads(r[0]) for r in rows]


class InProcessDoor:
    """The same daemon in this process (``build`` + ``Daemon``), for faults that need a hook inside it: a raising
    paho callback, a stalling camera, a stepping wall clock. Its decisions are kept as the lines the console shows."""

    def __init__(self, door: Door, output: list[str] | None = None, **build_kw: Any) -> None:
        from entryscan.device.builder import build
        from entryscan.device.config.settings import load_config
        from entryscan.device.daemon import Daemon
        from entryscan.device.hardware.sdnotify import SystemdNotifier

        self.journal = door.journal
        self.output: list[str] = [] if output is None else output  # shared by restarts of one door
        self.parts = build(load_config(door.config), simulate=True, on_event=self._shown, **build_kw)
        self.daemon = Daemon(self.parts, SystemdNotifier(None), None)
        self._thread: Any = None

    def _shown(self, event: dict[str, object]) -> None:
        seq = event.get("seq") or "unjournaled"
        self.output.append(f"[door] #{seq} {str(event['decision']).upper()} {event['reason']}"
                           f" ({event['credential_type']})")

    def start(self) -> InProcessDoor:
        import threading

        self._thread = threading.Thread(target=self.daemon.run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.daemon.request_stop()
        self._thread.join(30)
        assert not self._thread.is_alive()


def settle_and_check(door: InProcessDoor, collector: Collector, db: Path, scenario: str, faults: int) -> Verdict:
    try:
        wait_quiet(lambda: len(door.output))
        assert wait_for(lambda: settled(door.journal, db), timeout=90, interval=0.5), collector.tail()
    finally:
        door.stop()
        collector.stop()
    verdict = check([door_history(door.journal, door.output)], db)
    record(scenario, faults, verdict)
    verdict.assert_ok()
    return verdict
