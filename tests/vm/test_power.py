"""Scenario 6: power cuts. The door decides a burst; QEMU is SIGKILLed at a random moment, then booted again.

What is lost: everything the guest had not yet written to its virtual disk (its page cache, the disk queue in
its RAM). Writes QEMU had already received survive in the overlay (``cache=writeback``: the guest sees a
volatile write cache and must flush it, which SQLite's ``synchronous=FULL`` does). A disk that acknowledges a
flush it has not done is not modelled. After each boot: ``PRAGMA integrity_check`` is ok. At the end, with the
broker up: every decision shown (an LED's rising edge on the 2nd serial port, which reaches the host at once)
is at the collector, ``seq`` is gap-free and each decision is stored once. Cuts: ENTRYSCAN_VM_CUTS (CI runs
fewer than the soak; README).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import time

import pytest

from tests.vm.door import Door

pytestmark = pytest.mark.vm

CUTS = int(os.environ.get("ENTRYSCAN_VM_CUTS", "6"))
DRAIN_TIMEOUT_S = 900


def boot_again(door: Door) -> float:
    started = time.monotonic()
    door.vm.boot()
    door.wait_ready(timeout=240)
    return time.monotonic() - started


def stored_between(door: Door, start: str, end: str) -> int:
    with sqlite3.connect(door.site.db) as db:
        row = db.execute("SELECT count(DISTINCT event_id) FROM entries WHERE ts >= ? AND ts <= ?",
                         (start, end)).fetchone()
    return int(row[0])


def guest_now(door: Door) -> tuple[str, float]:
    """The guest's wall clock (as the journal's ``ts`` writes it) and its uptime."""
    out = door.sh("date -u +%Y-%m-%dT%H:%M:%S.%3NZ; cut -d' ' -f1 /proc/uptime").check("date").out.split()
    return out[0], float(out[1])


def bump(stamp: str, seconds: float = 1.5) -> str:
    moment = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ") + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_power_cuts_lose_no_shown_decision(door: Door) -> None:
    rng = random.Random(int(os.environ.get("ENTRYSCAN_VM_SEED", "17")))
    windows: list[tuple[str, float, str, str]] = []  # (boot id, uptime, guest clock at restart, at the cut)
    boots: list[float] = []
    for cut in range(CUTS):
        begin, since = guest_now(door)
        door.restart("burst")
        boot = door.boot_id()
        time.sleep(rng.uniform(0.0, 8.0))  # the burst is 12 decisions over about 6 s
        end, _ = guest_now(door)
        door.vm.kill()
        windows.append((boot, since, begin, end))
        boots.append(boot_again(door))
        check = door.sh("sqlite3 /var/lib/entryscan/journal.db 'PRAGMA integrity_check'", 60).check("integrity")
        assert check.out.strip() == "ok", f"cut {cut + 1}: {check.out}"
    door.frames("idle")
    door.vm.wait_for("[ $(sqlite3 /var/lib/entryscan/journal.db 'SELECT count(*) FROM outbox') -eq 0 ]",
                     DRAIN_TIMEOUT_S, "the journal drained to the collector", interval=5)
    time.sleep(3)
    time.sleep(1)  # the last levels of each boot are already in the events file (QEMU wrote them before the cut)
    shown = [door.shown(boot, since) for boot, since, _, _ in windows]
    # The guest's clock at the cut is read just before it: a decision shown after that read is counted in
    # `shown` but could fall outside the window, so the window's end is widened by one second.
    journaled = [stored_between(door, start, bump(end)) for _, _, start, end
                 in windows]
    with sqlite3.connect(door.site.db) as db:
        seqs = [int(r[0]) for r in db.execute("SELECT seq FROM entries WHERE device = 'door-1' ORDER BY seq")]
    pairs = list(zip(shown, journaled, strict=True))
    print(f"power cuts: {CUTS}, shown {sum(shown)}, stored {sum(journaled)} in the cut windows, "
          f"lost {sum(max(0, s - j) for s, j in pairs)}, "
          f"boot to READY {min(boots):.0f}-{max(boots):.0f} s; per cut shown/stored {pairs}")
    assert all(s <= j for s, j in pairs), pairs
    assert sum(shown) > 0
    assert seqs == list(range(1, len(seqs) + 1)), "seq has a gap or a duplicate at the collector"
