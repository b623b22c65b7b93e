"""The real collector (``python -m entryscan.collector``) as a process that tests can kill and restart."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

LIVE_COLLECTORS: list[Collector] = []


class Collector:
    """One collector with a persistent session (fixed client id) on one SQLite file; its log is kept."""

    def __init__(self, url: str, db: Path | str, log: Path, client_id: str = "campaign-collector",
                 shared: str = "") -> None:
        self.url, self.db, self.log, self.client_id = url, db, log, client_id
        self.shared = shared  # a $share group: several collectors split one stream
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def args(self) -> list[str]:
        group = ["--shared", self.shared] if self.shared else []
        return [sys.executable, "-m", "entryscan.collector", "--url", self.url, "--db", str(self.db),
                "--client-id", self.client_id, "--quiet", "--rules-interval", "3600", *group]

    def subscribed(self, since: int = 0) -> bool:
        """Whether the log shows a ``collector: subscribed`` line after byte ``since`` (one per connection)."""
        try:
            return "collector: subscribed" in self.log.read_text(errors="replace")[since:]
        except OSError:
            return False

    def start(self) -> Collector:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=log)
        LIVE_COLLECTORS.append(self)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""
