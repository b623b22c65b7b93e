"""footprint: RSS after start and after 10,000 frames, and process start -> READY.

``entryscan run --simulate`` with a private mosquitto and DirCamera at fps 0 (as fast as the
pipeline goes) over 10,000 frames: the idle scene with fresh noise, and every 500th frame a new
visitor code (so the journal, policy and publisher run too). READY = the daemon's READY=1 on
NOTIFY_SOCKET, sent on its first frame. ``floor`` is the CPU share once the replay is over (the
camera idle): publisher, supervisor and, under --simulate only, the console-lights redraw thread.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import frames
from bench.common import Mode, emit, median, mosquitto, proc_rss_mb
from bench.daemon import daemon, frame_folder, wait_idle

W, H = 640, 480
CODE_EVERY = 500
FLOOR_WINDOW_S = 3.0


def folder_for(work: Path, count: int) -> Path:
    coded = [frames.make_set(W, H, "clean", 1, payload=f"VISITOR-{i:04d}", seed=i).frames[0] for i in range(20)]
    return frame_folder(work, frames.still_scene(W, H, 16), count, coded=coded, every=CODE_EVERY)


def measure(tmp: Path, url: str, count: int, starts: int) -> None:
    work = tmp / "daemon"
    folder = folder_for(work, count)
    ready_s: list[float] = []
    failed = 0
    for i in range(starts):  # extra starts only for the READY time; the last one replays everything
        with daemon(work / f"run{i}", url, folder, 0) as run:
            assert run.ready is not None
            ready_s.append(run.ready - run.started)
            failed += run.failed_starts
            rss_start = proc_rss_mb(run.pid)
            if i < starts - 1:
                continue
            cpu_ready = run.cpu_s()
            cpu_replayed = wait_idle(run)
            rss_end = proc_rss_mb(run.pid)
            time.sleep(FLOOR_WINDOW_S)
            floor = (run.cpu_s() - cpu_replayed) / FLOOR_WINDOW_S
    emit("footprint", "start_to_ready_median", median(ready_s), "s", n=len(ready_s))
    emit("footprint", "start_to_ready_max", max(ready_s), "s", n=len(ready_s))
    emit("footprint", "failed_starts", failed, "starts", n=len(ready_s) + failed)
    emit("footprint", "rss_after_start", rss_start, "MB")
    emit("footprint", f"rss_after_{count}_frames", rss_end, "MB")
    # fps 0: frames back to back, so this is the CPU per frame with no idle time in between.
    emit("footprint", "cpu_per_1000_frames_fps0", (cpu_replayed - cpu_ready) / count * 1000, "s",
         frames=count)
    emit("footprint", "idle_floor_cpu_share", floor * 100, "% of one core")


def main(mode: Mode) -> None:
    count = mode.pick(1000, 10_000)
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp_name:
        tmp = Path(tmp_name)
        with mosquitto(tmp / "broker") as url:
            measure(tmp, url, count, mode.pick(1, 3))
