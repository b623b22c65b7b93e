"""Shared bench helpers: JSON-lines output, robust statistics, interleaved timing, a private broker."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# External test material ships in the repository with its licences (tests/data/README.md).
TESTDATA = REPO / "tests" / "data"
QR_PHOTOS = TESTDATA / "qr-photos"
SAMPLE_DOOR = REPO / "examples" / "door"
MOSQUITTO = os.environ.get("ENTRYSCAN_MOSQUITTO", "/usr/sbin/mosquitto")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Mode:
    """How hard to run: ``quick`` proves the suite works; the full run produces the figures."""

    quick: bool

    def pick(self, quick: int, full: int) -> int:
        return quick if self.quick else full

    def pick_f(self, quick: float, full: float) -> float:
        return quick if self.quick else full


def emit(bench: str, metric: str, value: float | str | None, unit: str, **extra: Any) -> None:
    """One result line; ``extra`` carries labels (case, method, ...), never other results."""
    if isinstance(value, float):
        value = round(value, 4)
    line = {"bench": bench, "metric": metric, "value": value, "unit": unit, **extra}
    print(json.dumps(line, sort_keys=False), flush=True)


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: every value reported was measured)."""
    if not xs:
        return float("nan")
    ordered = sorted(xs)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[rank]


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def interleaved(
    methods: dict[str, Callable[[Any], object]], items: Sequence[Any], reps: int, seed: int = 7
) -> dict[str, list[float]]:
    """Seconds per call for each method, all methods run on each item in a shuffled order.

    Shuffled, not rotated: the call after a slow C decoder (pyzbar, ~30 ms) pays for cold
    interpreter caches (~0.15 ms here); with a rotation the same method would always follow the
    slowest one. Items are visited in order within each repetition, so a method never sees the
    same item twice in a row (FrameScanner would rightly skip an unchanged frame).
    """
    rng = random.Random(seed)
    names = list(methods)
    out: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(reps):
        for item in items:
            rng.shuffle(names)
            for name in names:
                fn = methods[name]
                t0 = time.perf_counter()
                fn(item)
                out[name].append(time.perf_counter() - t0)
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mosquitto(workdir: Path) -> Iterator[str]:
    """A private broker on a free loopback port; yields its mqtt:// URL and stops it by PID."""
    binary = MOSQUITTO if os.access(MOSQUITTO, os.X_OK) else shutil.which("mosquitto")
    if binary is None:
        raise RuntimeError("mosquitto not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
             "log_dest none", "max_queued_messages 100000"]
    if os.geteuid() == 0:
        lines.append("user root")
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        stop(proc)


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not listen on {port}")


def stop(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process from /proc/<pid>/stat (fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def door_config(workdir: Path, url: str, frames_dir: Path, fps: float) -> Path:
    """A config like examples/door/config.toml, pointing at a private broker and a frame folder."""
    text = (SAMPLE_DOOR / "config.toml").read_text()
    text = text.replace("mqtt://127.0.0.1:1883", url).replace("dir:frames", f"dir:{frames_dir}")
    text = text.replace('"badges.txt"', f'"{SAMPLE_DOOR / "badges.txt"}"')
    text = text.replace("fps = 3", f"fps = {fps}")
    text = text.replace('path = "journal.db"', f'path = "{workdir / "state" / "journal.db"}"')
    path = workdir / "config.toml"
    path.write_text(text)
    return path


def daemon_command(config: Path) -> list[str]:
    """``entryscan run --simulate``: the daemon as shipped (the builder wires FrameScanner).

    The console script beside this interpreter, as systemd starts it (ExecStart=<venv>/bin/entryscan),
    not whatever ``entryscan`` is first on PATH: a version manager's shim there (pyenv's is a bash
    script that execs pyenv) adds ~0.15 s to every start and would be counted in start -> READY.
    """
    script = Path(sys.executable).with_name("entryscan")
    base = [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "entryscan.device.cli.main"]
    return [*base, "run", "--simulate", "--config", str(config)]


@contextmanager
def notify_socket(workdir: Path) -> Iterator[socket.socket]:
    """A unix datagram socket to pass as NOTIFY_SOCKET (the daemon sends READY=1 on its first frame)."""
    path = workdir / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        yield sock
    finally:
        sock.close()
        path.unlink(missing_ok=True)


def wait_ready(sock: socket.socket, proc: subprocess.Popen[Any], timeout: float) -> float | None:
    """Block until READY=1 arrives; returns the monotonic arrival time, or None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        sock.settimeout(max(0.01, min(0.5, end - time.monotonic())))
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        if b"READY=1" in data.split(b"\n"):
            return time.monotonic()
    return None
