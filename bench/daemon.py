"""Helpers to run the real daemon (``entryscan run --simulate``) as a subprocess for idle/footprint.

The camera is DirCamera over a generated folder. DirCamera replays a folder once, so the folder
holds as many entries as the run needs: symlinks to a handful of stored (uncompressed) PNGs, so a
long replay costs no disk and the PNG load (~0.5 ms, measured and reported separately) stays far
below a compressed PNG's ~2 ms. A Pi camera delivers the Y plane with no load at all.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench.common import daemon_command, door_config, notify_socket, proc_cpu_s, stop, wait_ready
from entryscan.device.model import GreyImage
from entryscan.device.scan.decoders import load_grey

READY_TIMEOUT_S = 30.0


def frame_folder(folder: Path, distinct: Sequence[GreyImage], count: int,
                 coded: Sequence[GreyImage] = (), every: int = 0) -> Path:
    """``count`` entries cycling over ``distinct``; with ``every``, each every-th is the next coded frame."""
    store = folder / "store"
    store.mkdir(parents=True, exist_ok=True)
    frames_dir = folder / "frames"
    frames_dir.mkdir(exist_ok=True)
    stored = [_store(store / f"s{i:03d}.png", img) for i, img in enumerate(distinct)]
    coded_paths = [_store(store / f"c{i:03d}.png", img) for i, img in enumerate(coded)]
    for i in range(count):
        if every and coded_paths and i % every == every - 1:
            target = coded_paths[(i // every) % len(coded_paths)]
        else:
            target = stored[i % len(stored)]
        os.symlink(target, frames_dir / f"{i:06d}.png")
    return frames_dir


def _store(path: Path, img: GreyImage) -> Path:
    Image.fromarray(img).save(path, compress_level=0)  # stored deflate: cheap to load
    return path


def load_cost_ms(path: Path, n: int = 30) -> float:
    """Median ms for DirCamera's loader on one stored frame (the replay's own cost)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        load_grey(path)
        times.append(time.perf_counter() - t0)
    return sorted(times)[n // 2] * 1000


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    started: float
    ready: float | None
    failed_starts: int = 0  # earlier attempts that never sent READY=1 (see START_ATTEMPTS)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)


# A fresh journal is opened by the scan and the publisher threads at once; before c78d7d7 the WAL
# switch of one could lose with "database is locked" and the scan thread died before its first
# frame. The bench retries and reports failed starts, so a regression shows up instead of hanging.
START_ATTEMPTS = 3


@contextmanager
def daemon(workdir: Path, url: str, frames_dir: Path, fps: float) -> Iterator[Running]:
    """Start the daemon with NOTIFY_SOCKET set; yields once READY=1 (its first frame) arrived."""
    failures: list[str] = []
    for attempt in range(START_ATTEMPTS):
        work = workdir if attempt == 0 else workdir.with_name(f"{workdir.name}-retry{attempt}")
        with _started(work, url, frames_dir, fps) as run:
            if run.ready is not None:
                run.failed_starts = len(failures)
                yield run
                return
            failures.append((work / "daemon.log").read_text(errors="replace")[-1500:])
    raise RuntimeError(f"daemon not READY in {START_ATTEMPTS} attempts; last log tail:\n{failures[-1]}")


@contextmanager
def _started(workdir: Path, url: str, frames_dir: Path, fps: float) -> Iterator[Running]:
    workdir.mkdir(parents=True, exist_ok=True)
    config = door_config(workdir, url, frames_dir, fps)
    with notify_socket(workdir) as sock, (workdir / "daemon.log").open("wb") as log:
        env = dict(os.environ, NOTIFY_SOCKET=str(workdir / "notify.sock"), GPIOZERO_PIN_FACTORY="mock")
        started = time.monotonic()
        proc = subprocess.Popen(daemon_command(config), env=env, stdout=log, stderr=log)
        try:
            yield Running(proc, started, wait_ready(sock, proc, READY_TIMEOUT_S))
        finally:
            stop(proc)


def wait_idle(run: Running, settle_s: float = 0.6, timeout: float = 120.0) -> float:
    """Wait until the daemon's CPU time stops growing (replay done); returns the CPU seconds then."""
    end = time.monotonic() + timeout
    last = run.cpu_s()
    while time.monotonic() < end:
        time.sleep(settle_s)
        now = run.cpu_s()
        if now - last < 0.02 * settle_s:  # under 2 % of a core: only the idle publisher is left
            return now
        last = now
    raise RuntimeError("daemon did not go idle")
