"""Scenario 5: a stopped (SIGSTOP) door is restarted by the watchdog; ``systemctl stop`` is quick in every state."""

from __future__ import annotations

import time

import pytest

from tests.vm.door import CONFIG, VENV, Door

pytestmark = pytest.mark.vm

WATCHDOG_S = 30
STOP_BOUND_S = 2.0
BACKLOG = 10_000

FILL = f"""
from pathlib import Path
from entryscan.device.builder import make_journal_opener
from entryscan.device.access.clock import SystemClock
from entryscan.device.config.settings import load_config
journal = make_journal_opener(load_config(Path("{CONFIG}")), SystemClock())()
for i in range({BACKLOG}):
    journal.record_entry({{"decision": "deny", "reason": "not_allowed", "credential_type": "badge"}})
journal.close()
"""


def timed_stop(door: Door) -> tuple[float, float]:
    """(until the door's process exited, until ``systemctl stop`` returned, ExecStopPost's outputs-off included)."""
    out = door.sh("a=$(date +%s.%N); systemctl stop entryscan; b=$(date +%s.%N); echo $a $b; "
                  "systemctl show entryscan -p ExecMainExitTimestamp --timestamp=unix --value", 60).check("stop")
    began, returned, exited = out.out.split()
    return float(exited.lstrip("@")) - float(began), float(returned) - float(began)


def start(door: Door, frames: str, ready: bool = True) -> None:
    door.restart(frames, ready)


def test_sigstop_is_restarted_within_twice_watchdog_sec(door: Door) -> None:
    start(door, "idle")
    state = door.show("MainPID", "NRestarts")
    began = time.monotonic()
    door.sh(f"kill -STOP {state['MainPID']}").check("SIGSTOP")
    door.vm.wait_for(f"[ $(systemctl show entryscan -p NRestarts --value) -gt {state['NRestarts']} ]",
                     2 * WATCHDOG_S + 10, "a restart after SIGSTOP")
    restarted = time.monotonic() - began
    print(f"SIGSTOP: restarted after {restarted:.1f} s")
    assert restarted <= 2 * WATCHDOG_S
    assert "Watchdog timeout" in door.vm.journal("entryscan", 100)
    door.wait_ready(timeout=120)


@pytest.mark.parametrize("state", ["idle", "burst", "camera_failed", "broker_down", "backlog"])
def test_systemctl_stop_returns_within_2_s(door: Door, state: str) -> None:
    door.sh("systemctl stop entryscan").check("stop first")
    try:
        if state in ("broker_down", "backlog"):
            door.site.stop_broker()
        if state == "backlog":
            door.sh(f"setpriv --reuid entryscan --regid entryscan --init-groups {VENV}/bin/python - <<'EOF'\n"
                    f"{FILL}\nEOF", 900).check("fill the journal")
            door.site.start_broker()
        start(door, "missing" if state == "camera_failed" else ("burst" if state == "burst" else "idle"),
              ready=state != "camera_failed")
        time.sleep(8 if state in ("camera_failed", "backlog") else 1)
        if state == "backlog":
            pending = door.sh("sqlite3 /var/lib/entryscan/journal.db 'SELECT count(*) FROM outbox'").out
            assert int(pending.strip() or 0) > 1000, pending  # still draining when stopped
        exited, returned = timed_stop(door)
        print(f"stop ({state}): the door exited after {exited:.2f} s, systemctl stop returned after {returned:.2f} s")
        # The door's own stop is bounded at 2 s; the rest is ExecStopPost (a Python start: slow under TCG).
        assert exited <= STOP_BOUND_S, door.vm.journal("entryscan", 60)
    finally:
        if door.site.broker_proc is None:
            door.site.start_broker()
        start(door, "idle")
