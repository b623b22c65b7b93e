"""issue 17, scenario 5: `systemctl stop` (SIGTERM) ends the door within 2 s, whatever it is doing.

A door draining a backlog logged ``stop requested (signal 15)`` and ran on for minutes: the handler called
``threading.Event.set()``, which takes the event's lock, and a signal that arrived while the main thread held that
same lock inside ``Event.wait`` (the main loop waits on it 50 times a second until the first frame) deadlocked the
main thread in its own handler; the scan and delivery threads carried on.
"""

from __future__ import annotations

import subprocess
import sys

from tests.paths import REPO

RUNS = 80  # line events of the main loop's first cycles: every point of one poll cycle, more than once


def test_sigterm_at_any_point_of_the_main_loop_stops_the_daemon() -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.support.stop_probe", str(RUNS)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    lines = proc.stdout.splitlines()
    hung = [line for line in lines if line.startswith("HUNG")]
    assert not hung, f"the stop signal deadlocked the daemon at {hung} (after {len(lines) - 1} good runs)"
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len([line for line in lines if line.startswith("ok")]) == RUNS
