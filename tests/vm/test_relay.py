"""Scenario 4: the relay is off after a SIGKILL during an accept pulse, at boot, and through crash loops.

The level is gpio-sim's, read by vm-led-watch outside the door's process. Under TCG the ExecStopPost
(`entryscan outputs-off`, a Python start) is slow: its time is measured and bounded here; on a Pi it is 1 s.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.vm.door import CONFIG, Door
from tests.vm.site import RELAY_PIN

pytestmark = pytest.mark.vm

RELAY_OFF_BOUND_S = 20.0  # under emulation (measured 2.6 to 8.6 s before); the README has this run's figures


def exec_stop_post_s(door: Door) -> float:
    """How long the last ExecStopPost ran (systemd's own start and stop timestamps)."""
    out = door.sh("systemctl show entryscan -p ExecStopPost --timestamp=unix").check("show").out
    stamps = re.findall(r"(?:start|stop)_time=\[@(\d+(?:\.\d+)?)\]", out)
    assert len(stamps) == 2, out
    return float(stamps[1]) - float(stamps[0])


def exits_70(door: Door) -> int:
    """Exits with status 70 (the hardware lock held elsewhere) in this boot's journal."""
    out = door.sh("journalctl -u entryscan -b -o cat | grep -c 'status=70/SOFTWARE' || true").check("journal").out
    return int(out.strip() or 0)


def kill_during_pulse(door: Door, before_kill: str = "true") -> float:
    """Restart on the burst, SIGKILL while the relay is energised; the seconds until it reads off."""
    since = door.uptime()
    door.restart("burst")
    on = door.wait_level(RELAY_PIN, 1, 90, since)
    out = door.sh(f"{before_kill} && cut -d' ' -f1 /proc/uptime && systemctl kill -s KILL entryscan").check("kill").out
    killed = float(out.split()[0])
    still_on = [lv for lv in door.events() if lv.boot == on.boot and on.uptime <= lv.uptime <= killed]
    assert still_on[-1].pins[RELAY_PIN] == 1, "the pulse ended before the kill: not a kill during a pulse"
    off = door.wait_level(RELAY_PIN, 0, 60, killed)
    return off.uptime - killed


def test_sigkill_during_an_accept_pulse_leaves_the_relay_off(door: Door) -> None:
    seconds = kill_during_pulse(door)
    print(f"relay off {seconds:.2f} s after SIGKILL; ExecStopPost ran {exec_stop_post_s(door):.2f} s")
    assert seconds <= RELAY_OFF_BOUND_S
    door.wait_ready(timeout=120)  # Restart=on-failure brought it back


def test_relay_is_off_at_boot_before_the_door_starts(door: Door) -> None:
    first = next(lv for lv in door.events() if RELAY_PIN in lv.pins)
    assert first.pins[RELAY_PIN] == 0
    start = door.sh("systemctl show entryscan -p ExecMainStartTimestampMonotonic").check("show").out
    assert first.uptime * 1e6 < float(start.split("=")[1]) or start.endswith("=0\n")


def test_relay_stays_off_through_crash_loops_78_and_70(door: Door) -> None:
    door.sh(f"cp {CONFIG} /root/config.good").check("backup")
    try:
        # 78: a config error. outputs-off reads [feedback] and [relay] only, so it still drives off.
        seconds = kill_during_pulse(door, f"printf '\\n[mqtt2]\\nbad = 1\\n' >> {CONFIG}")
        # Result is exit-code, or timeout when outputs-off outran TimeoutStopSec (15 s) under emulation.
        door.vm.wait_for("systemctl show entryscan -p ActiveState | grep -q failed", 120, "exit 78")
        status = door.show("ExecMainStatus", "Result")
        assert status["ExecMainStatus"] == "78", status
        assert door.relay() == 0
        print(f"78: relay off {seconds:.2f} s after SIGKILL; after the exit 78 ExecStopPost "
              f"{exec_stop_post_s(door):.2f} s, Result={status['Result']}")
        # 70: a second holder of the hardware lock; systemd restarts the door every RestartSec meanwhile.
        door.sh(f"cp /root/config.good {CONFIG}").check("restore")
        before, since, boot = exits_70(door), door.uptime(), door.boot_id()
        door.sh("systemd-run --unit vm-lock-holder flock /var/lib/entryscan/hardware.lock sleep 150 && sleep 1 && "
                "systemctl reset-failed entryscan; systemctl start --no-block entryscan").check("hold lock")
        # Read from the journal, not ExecMainStatus: between two exits systemd starts the next run (status 0).
        deadline = time.monotonic() + 150
        while exits_70(door) < before + 2:
            assert time.monotonic() < deadline, f"no crash loop 70 within 150 s:\n{door.vm.journal('entryscan', 40)}"
            time.sleep(2)
        energised = [lv for lv in door.events() if lv.boot == boot and lv.uptime >= since and lv.pins.get(RELAY_PIN) == 1]
        assert not energised and door.relay() == 0, energised
        print(f"70: {exits_70(door) - before} exits 70 in a row, relay off throughout")
    finally:
        door.sh(f"systemctl stop vm-lock-holder; cp /root/config.good {CONFIG}; systemctl reset-failed entryscan; "
                "systemctl restart --no-block entryscan")
        door.wait_ready(timeout=120)
