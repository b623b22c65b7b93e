"""Aedes, an MQTT broker from the npm registry (MQTT 3.1.1 only), on a free loopback port.

Installed once with ``npm ci`` from tests/brokers/aedes (exact versions in its lock file, no registry addresses)
into ENTRYSCAN_BROKER_CACHE (default /var/cache/entryscan-brokers), keyed by the lock file's hash. Needs node
and npm (Node.js >= 20), which this kind of machine has, and the npm registry the first time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.paths import REPO
from tests.support.mosquitto import free_port

SOURCE = REPO / "tests" / "brokers" / "aedes"


def install() -> Path:
    """The folder holding node_modules/aedes, installed on first use."""
    key = hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()[:16]
    home = Path(os.environ.get("ENTRYSCAN_BROKER_CACHE", "/var/cache/entryscan-brokers")) / f"aedes-{key}"
    if (home / ".ready").exists():
        return home
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise FileNotFoundError("node and npm are needed for the aedes broker (apt-get install nodejs npm)")
    build = home.with_name(home.name + ".build")
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    for name in ("package.json", "package-lock.json", "broker.mjs"):
        shutil.copy(SOURCE / name, build / name)
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=build, capture_output=True,
                          text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"npm ci of aedes failed: {done.stderr[-2000:]}")
    (build / ".ready").touch()
    shutil.rmtree(home, ignore_errors=True)
    build.rename(home)
    return home


class Aedes:
    def __init__(self, workdir: Path) -> None:
        self.home = install()
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.log_path = workdir / "aedes.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Aedes:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(["node", str(self.home / "broker.mjs"), str(self.port)], cwd=self.home,
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "listening" in self.log():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"aedes exited with {self.proc.returncode}: {self.log()}")
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"aedes did not listen: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
