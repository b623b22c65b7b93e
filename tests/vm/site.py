"""The host's side of the virtual door: a provisioned site, its TLS broker, a collector, burst frames.

The guest reaches the host's loopback as 10.0.2.2 (QEMU's user network), named ``broker.vm.test`` in its
/etc/hosts, so the broker's certificate name is checked as it is at a real site.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.collector import Collector
from tests.support.mosquitto import free_port, mosquitto_binary

REPO = Path(__file__).resolve().parents[2]
BROKER_HOST = "broker.vm.test"
PROVISION = [sys.executable, "-m", "entryscan.provisioning"]
# The guest's door: what a technician edits in the bundle's config.toml (a dir: camera, the relay, the frames).
FRAMES_IN_GUEST = "/opt/vm-frames"
RELAY_PIN, GREEN_PIN, RED_PIN = 23, 17, 27


def provision(*argv: str) -> None:
    done = subprocess.run([*PROVISION, *argv], check=False, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"entryscan-provision {' '.join(argv)}: {done.returncode}\n{done.stderr}")


@dataclass
class Site:
    """``site init`` + ``device add door-1`` + ``broker``, a TLS mosquitto and a TLS collector, all on loopback."""

    root: Path
    port: int = 0
    broker_proc: subprocess.Popen[bytes] | None = None
    collector: Collector | None = None

    @property
    def bundle(self) -> Path:
        return self.root / "door-1"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def db(self) -> Path:
        return self.root / "collector.db"

    def create(self, badges: list[str]) -> Site:
        self.port = free_port()
        provision("site", "init", "--site", "hq", "--dir", str(self.root / "site"), "--name", "Virtual door")
        provision("device", "add", "--site-dir", str(self.root / "site"), "--device", "door-1", "--door", "main",
                  "--broker", f"mqtts://{BROKER_HOST}:{self.port}", "--out", str(self.bundle))
        provision("broker", "--site-dir", str(self.root / "site"), "--out", str(self.broker_dir), "--host",
                  BROKER_HOST, "--port", str(self.port), "--bind", "127.0.0.1",
                  "--data-dir", str(self.root / "broker-data"))
        config = self.bundle / "config.toml"
        text = config.read_text().replace('source = "picamera2"', f'source = "dir:{FRAMES_IN_GUEST}"\nfps = 4')
        text += f"\n[feedback]\ngreen_pin = {GREEN_PIN}\nred_pin = {RED_PIN}\naccept_s = 0.5\ndeny_s = 0.5\n"
        text += f"\n[relay]\npin = {RELAY_PIN}\npulse_s = 3.0\n"
        text = text.replace('mode = "allowlist"', 'mode = "allowlist"\nrequire_synced_clock = false')
        config.write_text(text)
        (self.bundle / "badges.txt").write_text("".join(f"{b}\n" for b in badges))
        return self

    def start_broker(self) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise AssertionError("mosquitto is not installed")
        conf = self.broker_dir / "mosquitto.conf"
        if os.geteuid() == 0:  # mosquitto would drop to its own user, who cannot read the test folder
            conf.write_text(conf.read_text().replace("\nuser mosquitto\n", "\nuser root\n"))
        (self.root / "broker-data").mkdir(exist_ok=True)
        with (self.root / "mosquitto.log").open("ab") as log:
            self.broker_proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)

    def stop_broker(self) -> None:
        if self.broker_proc is not None and self.broker_proc.poll() is None:
            self.broker_proc.kill()
            self.broker_proc.wait(10)
        self.broker_proc = None

    def start_collector(self) -> None:
        b = self.broker_dir
        self.collector = TlsCollector(f"mqtts://{BROKER_HOST}:{self.port}", self.db, self.root / "collector.log",
                                      b / "ca.pem", b / "collector.pem", b / "collector.key")
        self.collector.start()

    def stop(self) -> None:
        if self.collector is not None:
            self.collector.stop()
        self.stop_broker()

    def stored(self) -> list[tuple[str, int]]:
        """(event_id, seq) of every entry the collector holds."""
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db) as db:
            return [(str(r[0]), int(r[1])) for r in db.execute("SELECT event_id, seq FROM entries")]


class TlsCollector(Collector):
    """The collector checks the broker's certificate name as at a site, so it connects to ``broker.vm.test``:
    in a private mount namespace whose /etc/hosts names 127.0.0.1 so (the host's own file is not touched)."""

    def __init__(self, url: str, db: Path, log: Path, ca: Path, cert: Path, key: Path) -> None:
        super().__init__(url, db, log, client_id="collector")
        self.tls = ["--ca-file", str(ca), "--cert-file", str(cert), "--key-file", str(key)]
        self.hosts = db.parent / "hosts"
        self.hosts.write_text(f"127.0.0.1 localhost {BROKER_HOST}\n")

    def args(self) -> list[str]:
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', str(self.hosts), *super().args(), *self.tls]


def checkout_tar(out: Path) -> Path:
    """This checkout as the technician copies it: the files git tracks, as they are in the work tree."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True,
                           timeout=60).stdout.decode().split("\0")
    with tarfile.open(out, "w") as tar:
        for name in names:
            if name and (REPO / name).exists():
                tar.add(REPO / name, arcname=f"entryscan/{name}", recursive=False)
    return out


def burst_frames(folder: Path, codes: list[str]) -> Path:
    """One frame per code with an empty doorway between: each code is a separate decision."""
    import segno
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    empty = Image.new("L", (640, 480), 200)
    for i, code in enumerate(codes):
        frame = empty.copy()
        png = io.BytesIO()
        segno.make(code, error="m").save(png, kind="png", scale=6, border=4)
        qr = Image.open(io.BytesIO(png.getvalue())).convert("L")
        frame.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
        frame.save(folder / f"{2 * i:05d}.png")
        empty.save(folder / f"{2 * i + 1:05d}.png")
    if not codes:  # a doorway nobody walks through (an empty folder would be a camera fault)
        empty.save(folder / "00000.png")
    return folder
