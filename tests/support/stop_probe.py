"""Child process for tests/system/test_stop.py: SIGTERM delivered at every line the daemon's main loop runs.

A signal handler runs between two bytecodes of the main thread, wherever that thread is, including inside the
lock-holding part of ``threading.Event.wait``. This probe runs the real ``Daemon`` (its main loop, its handlers) on
stub threads and, for run k, sends SIGTERM at the k-th line the main thread executes once the loop has begun, so
every point of one poll cycle (and of the next) gets its signal. A run that has not returned within
``RUN_LIMIT_S`` is reported as ``HUNG k <where>`` and the process exits 3 (from a watchdog thread: a deadlocked
main thread cannot report itself).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from types import FrameType, SimpleNamespace
from typing import Any

from entryscan.device.daemon import Daemon
from entryscan.device.hardware.sdnotify import SystemdNotifier

RUN_LIMIT_S = 2.0


def stub_parts() -> Any:
    """What Daemon touches: a scan thread that never sees a frame (the door polls fast until READY)."""
    health = SimpleNamespace(first_frame=threading.Event(), started=time.monotonic(), frame_age=lambda: 0.0,
                             failed=False)
    worker = SimpleNamespace(start=lambda: None, stop=lambda timeout=0.0: None, alive=lambda: True)
    scan = SimpleNamespace(health=health, start=worker.start, stop=worker.stop, alive=worker.alive)
    config = SimpleNamespace(camera=SimpleNamespace(timeout_s=0.5))
    return SimpleNamespace(config=config, scan=scan, publisher=worker, tamper=None,
                           feedback=SimpleNamespace(close=lambda: None))


class SignalAtLine:
    """A trace function: SIGTERM to this process at the k-th line event after the main loop is entered."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.seen = -1  # -1: the loop has not started yet
        self.where = ""

    def __call__(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "call" and frame.f_code.co_name == "_supervise" and self.seen < 0:
            self.seen = 0
        if event == "line" and self.seen >= 0:
            if self.seen == self.k:
                self.where = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
                sys.settrace(None)
                os.kill(os.getpid(), signal.SIGTERM)
                return None
            self.seen += 1
        return self


def watchdog(done: threading.Event, probe: SignalAtLine) -> None:
    if not done.wait(RUN_LIMIT_S):
        print(f"HUNG {probe.k} {probe.where}", flush=True)
        os._exit(3)


def main(runs: int) -> int:
    for k in range(runs):
        daemon = Daemon(stub_parts(), SystemdNotifier(None), None)
        daemon.install_signal_handlers()
        probe, done = SignalAtLine(k), threading.Event()
        threading.Thread(target=watchdog, args=(done, probe), daemon=True).start()
        sys.settrace(probe)
        try:
            daemon.run()
        finally:
            sys.settrace(None)
        done.set()
        print(f"ok {k} {probe.where}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
