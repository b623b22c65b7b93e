"""Run the real daemon (``entryscan run --simulate``) as a subprocess against a test broker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.paths import SAMPLE_DOOR, SAMPLE_FRAMES
from tests.support.mosquitto import Listener

CONFIG = """\
[device]
id = "door-1"
site = "hq"
door = "main"
[camera]
source = "dir:{frames}"
fps = {fps}
timeout_s = 0.5
[decoder]
debounce_s = {debounce_s}
[mqtt]
url = "{url}"
keepalive_s = {keepalive_s}
discovery = {discovery}
delivery = "{delivery}"
confirm_timeout_s = {confirm_timeout_s}
[journal]
path = "{journal}"
max_rows = {max_rows}
[policy]
mode = "allowlist"
[credentials.badge]
codes_file = "{badges}"
"""


def frames_dir(dest: Path, names: list[str]) -> Path:
    """A frame folder holding copies of the named sample frames, renamed to keep the given order."""
    dest.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        shutil.copy(SAMPLE_FRAMES / name, dest / f"{i:03d}-{name}")
    return dest


def burst_frames(dest: Path, count: int, codes: tuple[str, ...] = ("STAFF-0001", "VISITOR-9")) -> Path:
    """``count`` small QR frames cycling through ``codes`` (hard links of one image per code): with
    ``debounce_s = 0`` every frame is one decision, a few milliseconds each, so bursts of thousands are cheap."""
    import segno

    dest.mkdir(parents=True, exist_ok=True)
    originals = []
    for i, code in enumerate(codes):
        original = dest.parent / f"{dest.name}-code{i}.png"
        if not original.exists():
            segno.make_qr(code, error="m").save(str(original), scale=3, border=4)
        originals.append(original)
    for i in range(count):
        os.link(originals[i % len(originals)], dest / f"{i:06d}.png")
    return dest


LIVE: list[Door] = []  # every started door, so a failing test cannot leave a daemon running


class Door:
    """One daemon process with its own state folder (journal, key) that survives restarts."""

    def __init__(self, workdir: Path, url: str, frames: Path, max_rows: int = 1000,
                 delivery: str = "broker", *, debounce_s: float = 3, keepalive_s: int = 5,
                 journal: Path | None = None, confirm_timeout_s: float = 60, fps: float = 0,
                 discovery: bool = False) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "config.toml"
        self.delivery = delivery
        self.journal = journal or workdir / "journal.db"
        self._tuning = {"fps": fps, "debounce_s": debounce_s, "keepalive_s": keepalive_s,
                        "confirm_timeout_s": confirm_timeout_s, "discovery": str(discovery).lower()}
        self.write_config(url, frames, max_rows)
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def write_config(self, url: str, frames: Path, max_rows: int = 1000) -> None:
        self.config.write_text(CONFIG.format(frames=frames, url=url, max_rows=max_rows, delivery=self.delivery,
                                             badges=SAMPLE_DOOR / "badges.txt", journal=self.journal,
                                             **self._tuning))

    def start(self, env: dict[str, str] | None = None) -> Door:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "entryscan.device.cli.main", "run", "--simulate", "--config", str(self.config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
        LIVE.append(self)
        return self

    def reap(self) -> None:
        """Kill the process if it is still running (test teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output.append(line)

    def log_tail(self, lines: int = 12) -> list[str]:
        """The last lines the door logged, without the LED lines (for assertion messages)."""
        return [line for line in list(self.output) if "[door] green" not in line][-lines:]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)

    def journal_rows(self) -> list[dict[str, Any]]:
        import sqlite3

        path = self.journal
        if not path.exists():
            return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # never create it before the daemon does
        try:
            rows = db.execute("SELECT payload FROM outbox WHERE kind = 'entry' ORDER BY row_id").fetchall()
        except sqlite3.OperationalError:  # schema not created yet
            return []
        finally:
            db.close()
        return [json.loads(r[0]) for r in rows]


class Subscriber(Listener):
    """A collector-side test client: persistent MQTT v5 session, QoS 1, every receipt kept."""

    def __init__(self, url: str, topic: str = "entryscan/+/+/entry", client_id: str = "test-collector") -> None:
        super().__init__(url, [topic], client_id=client_id, session=True)

    @property
    def raw(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def entries(self) -> list[dict[str, Any]]:
        return self.json_on("/entry")

    def unique_by_event_id(self) -> dict[str, dict[str, Any]]:
        return {e["event_id"]: e for e in self.entries()}
