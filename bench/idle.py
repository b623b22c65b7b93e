"""idle: CPU of the whole daemon on an idle door (one still scene, fresh sensor noise every frame).

``entryscan run --simulate`` with a private mosquitto, DirCamera paced at 10 and 15 fps. After READY
and a warm-up, the daemon's utime+stime (/proc/<pid>/stat) over a fixed window gives its CPU share
of one core, and CPU seconds per 1,000 frames (frames = fps x window). This is the daemon as
shipped (device/builder.py wires FrameScanner). ``replay_load_share`` is DirCamera's own PNG load
at that fps, which a Pi camera does not pay; it is included in the daemon figures, not subtracted.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import frames
from bench.common import Mode, emit, mosquitto
from bench.daemon import daemon, frame_folder, load_cost_ms

W, H = 640, 480
DISTINCT = 16
WARMUP_S = 1.5
FPS = {True: (15,), False: (10, 15)}  # quick mode: one rate is enough to prove the bench works


def measure(tmp: Path, url: str, fps: int, window: float) -> None:
    work = tmp / f"daemon-{fps}"
    count = int(fps * (window + WARMUP_S + 20))  # slack for a slow start: never run out of frames
    folder = frame_folder(work, frames.still_scene(W, H, DISTINCT), count)
    with daemon(work, url, folder, fps) as run:
        time.sleep(WARMUP_S)
        cpu0, t0 = run.cpu_s(), time.monotonic()
        time.sleep(window)
        cpu1, t1 = run.cpu_s(), time.monotonic()
        failed = run.failed_starts
    share = (cpu1 - cpu0) / (t1 - t0)
    per_1000 = (cpu1 - cpu0) / (fps * (t1 - t0)) * 1000
    emit("idle", "cpu_share", share * 100, "% of one core", fps=fps, window_s=round(t1 - t0, 1))
    emit("idle", "cpu_per_1000_frames", per_1000, "s", fps=fps)
    emit("idle", "failed_starts", failed, "starts", fps=fps)


def main(mode: Mode) -> None:
    window = mode.pick_f(3.0, 20.0)
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp_name:
        tmp = Path(tmp_name)
        with mosquitto(tmp / "broker") as url:
            for fps in FPS[mode.quick]:
                measure(tmp, url, fps, window)
        sample = next((tmp / "daemon-15" / "store").glob("s*.png"))
        load_ms = load_cost_ms(sample)
        emit("idle", "replay_load", load_ms, "ms per frame")
        for fps in (10, 15):
            emit("idle", "replay_load_share", load_ms * fps / 10, "% of one core", fps=fps)
