"""Scenario 3: the shipped unit's sandbox is live under systemd and the door works inside it.

GPIO through lgpio on the simulated chip (the relay and LED edges, read outside the process), the clock-sync
read, SQLite, TLS to the host's broker and the watchdog, with no refused system call in the journal. A unit
broken on purpose (``PrivateDevices=yes``, which hides /dev/gpiochip*) must make the same check fail.
"""

from __future__ import annotations

import time

import pytest

from tests.vm.door import Door

pytestmark = pytest.mark.vm

DENIALS = ("refused", "Operation not permitted", "EPERM", "Permission denied", "seccomp", "Traceback")


def sandbox_problems(door: Door, settle_s: float) -> list[str]:
    """What is wrong with the running door (empty = the sandbox is live and the door works in it)."""
    time.sleep(settle_s)
    state = door.show("ActiveState", "SubState", "InvocationID", "NRestarts", "WatchdogUSec", "Result")
    problems = []
    if (state.get("ActiveState"), state.get("SubState")) != ("active", "running"):
        problems.append(f"not running: {state}")
    if state.get("WatchdogUSec") != "30s":
        problems.append(f"watchdog: {state.get('WatchdogUSec')}")
    log = door.sh(f"journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID={state.get('InvocationID')}").out
    problems += [f"journal: {line}" for line in log.splitlines() if any(d in line for d in DENIALS)]
    for needed in ("ready: first frame", "mqtt: connected", "(TLS)"):
        if needed not in log:
            problems.append(f"journal lacks {needed!r}")
    return problems


def restart(door: Door) -> None:
    door.sh("systemctl daemon-reload").check("daemon-reload")
    door.restart("burst")


def test_sandbox_is_live_and_the_door_works_in_it(door: Door) -> None:
    since = door.uptime()
    restart(door)
    door.wait_level(23, 1, 90, since)  # lgpio drove the relay on the simulated chip
    # More than WatchdogSec after READY: WATCHDOG=1 kept coming, nothing was refused.
    assert sandbox_problems(door, 35) == []
    assert door.show("NRestarts")["NRestarts"] == "0"
    rows = door.sh("sqlite3 /var/lib/entryscan/journal.db 'PRAGMA integrity_check'").check("sqlite").out
    assert rows.strip() == "ok"


def test_a_broken_unit_is_seen_by_the_same_check(door: Door) -> None:
    dropin = "/run/systemd/system/entryscan.service.d/broken.conf"
    door.sh(f"mkdir -p {dropin.rsplit('/', 1)[0]} && printf '[Service]\\nPrivateDevices=yes\\n' > {dropin} && "
            "systemctl daemon-reload && systemctl restart --no-block entryscan").check("broken unit")
    try:
        problems = sandbox_problems(door, 40)
        assert problems, "PrivateDevices=yes hides the GPIO chip: the check must see the door fail"
        print(f"broken unit, as expected: {problems[:3]}")
    finally:
        door.sh(f"rm -f {dropin}").check("unbreak")
        restart(door)
