"""Scenario 7: upgrade in place, N -> N+1 of this checkout, the documented way (``install-pi.sh`` again).

N+1 is this checkout with its version raised. Config and keys stay byte for byte, rows not yet delivered
(broker down) stay and are delivered afterwards, the service is restarted exactly once and runs N+1. Then
back to N the same way: the project supports it (one journal schema across both), so it must work too.
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.vm.door import VENV, Door

pytestmark = pytest.mark.vm

KEPT = "/etc/entryscan/config.toml /etc/entryscan/device.key /etc/entryscan/site.key /etc/entryscan/device.pem"
PENDING = "sqlite3 /var/lib/entryscan/journal.db \"SELECT event_id FROM outbox WHERE kind = 'entry'\""


def version(door: Door) -> str:
    return door.sh(f"{VENV}/bin/python -c 'import entryscan.device as d; print(d.__version__)'").check("v").out.strip()


def reinstall(door: Door, source: str) -> tuple[str, int]:
    """Run install-pi.sh from ``source``; the version the door that started since runs, and how many starts."""
    since = door.sh("date +%s").check("date").out.strip()
    door.sh(f"cd {source} && scripts/install-pi.sh /root/door-1 2>&1", 900).check(f"install-pi.sh from {source}")
    starts = f"journalctl -u entryscan --since @{since} -o cat | grep ' starting: '"
    door.vm.wait_for(starts, 180, "a door start after install-pi.sh")
    door.wait_ready(timeout=180)
    time.sleep(10)  # a second restart, if install-pi.sh caused one, would show by now
    lines = door.sh(starts).out.splitlines()
    return lines[-1].split()[3], len(lines)


def test_upgrade_keeps_config_keys_and_rows_and_restarts_once(door: Door) -> None:
    old = version(door)
    door.sh("rm -rf /root/entryscan-next && cp -a /root/entryscan /root/entryscan-next && "
            "sed -i 's/^__version__ = .*/__version__ = \"99.0.0\"/' /root/entryscan-next/device/__init__.py"
            ).check("N+1")
    door.site.stop_broker()
    try:
        door.restart("burst")
        door.vm.wait_for(f"[ $({PENDING} | wc -l) -ge 5 ]", 120, "undelivered rows")
        door.sh("systemctl stop entryscan").check("stop")  # a fixed set of rows to follow through the upgrade
        kept = door.sh(f"sha256sum {KEPT}").check("sums").out
        pending = set(door.sh(PENDING).check("pending").out.split())
        door.restart("idle")
        new, starts = reinstall(door, "/root/entryscan-next")
        assert (new, starts) == ("99.0.0", 1), f"after the upgrade: version {new}, {starts} door starts"
        assert door.sh(f"sha256sum {KEPT}").check("sums").out == kept
        assert pending <= set(door.sh(PENDING).check("pending").out.split()), "rows lost in the upgrade"
    finally:
        door.site.start_broker()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with sqlite3.connect(door.site.db) as db:
            have = {str(r[0]) for r in db.execute("SELECT event_id FROM entries")}
        if pending <= have:
            break
        time.sleep(3)
    assert pending <= have, f"{len(pending - have)} rows kept through the upgrade never reached the collector"
    back, starts = reinstall(door, "/root/entryscan")
    assert (back, starts) == (old, 1), f"after the downgrade: version {back}, {starts} door starts"
