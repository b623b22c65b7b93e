"""A fake Raspberry Pi root for the install scripts: apt-get, systemctl, useradd, usermod, getent, chown and python3
are recording stubs on PATH; install, cmp, chmod, mv, shred and openssl are real. What only a Pi shows is in the README."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from entryscan.provisioning.__main__ import main as provision
from tests.paths import REPO

SCRIPT = REPO / "scripts" / "install-pi.sh"
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
"""
STUBS = {
    # sync records what it was asked to flush and whether that file exists yet (a flush before its rename).
    "sync": '#!/bin/sh\nif [ $# -eq 0 ]; then echo sync; else echo "sync $*"; fi >> "$STUB_LOG"\n'
            'for f; do [ "$f" = -- ] || [ -e "$f" ] || echo "sync: $f missing" >> "$STUB_LOG"; done\n',
    "apt-get": STUB, "systemctl": STUB, "chown": STUB, "usermod": STUB,
    "useradd": STUB + 'for last; do :; done; echo "$last" >> "$FAKE_PASSWD"\n',
    "getent": STUB + 'case "$1" in passwd) grep -qx "$2" "$FAKE_PASSWD" 2>/dev/null;; group) [ "$2" = video ];;'
                     ' *) exit 2;; esac\n',
    # python3 -m venv --system-site-packages DIR: a venv whose pip only records.
    "python3": STUB + 'for last; do :; done; mkdir -p "$last/bin"\n'
                      'printf \'#!/bin/sh\\necho "pip $*" >> "$STUB_LOG"\\n\' > "$last/bin/pip"\n'
                      'cp "$last/bin/pip" "$last/bin/python"; chmod +x "$last/bin/pip" "$last/bin/python"\n',
}


class FakePi:
    def __init__(self, tmp: Path, codename: str = "trixie") -> None:
        """``codename``: the Raspberry Pi OS release the fake /etc/os-release names (Bookworm pins numpy apart)."""
        tmp.mkdir(exist_ok=True)
        (tmp / "os-release").write_text(f'PRETTY_NAME="Debian GNU/Linux"\nVERSION_CODENAME={codename}\n')
        self.root = tmp / "root"
        self.log = tmp / "calls.log"
        self.stubs = tmp / "stubs"
        self.stubs.mkdir()
        for name, text in STUBS.items():
            (self.stubs / name).write_text(text)
            (self.stubs / name).chmod(0o755)
        self.env = {**os.environ, "PATH": f"{self.stubs}:{os.environ['PATH']}", "ENTRYSCAN_ROOT": str(self.root),
                    "STUB_LOG": str(self.log), "FAKE_PASSWD": str(tmp / "passwd"),
                    "CHECK_PYTHON": sys.executable, "ENTRYSCAN_OS_RELEASE": str(tmp / "os-release")}  # reads the journal's schema version: a real interpreter

    def install(self, bundle: Path | None, *, src: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``install-pi.sh BUNDLE``, or ``--upgrade`` without one; ``src``: the checkout to install (ENTRYSCAN_SRC)."""
        self.log.write_text("")
        env = {**self.env, **({"ENTRYSCAN_SRC": str(src)} if src else {})}
        return subprocess.run(["bash", str(SCRIPT), *([str(bundle)] if bundle else ["--upgrade"])], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "entryscan"

    def snapshot(self) -> dict[str, tuple[bytes, int, int]]:
        return {str(p.relative_to(self.root)): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
                for p in self.root.rglob("*") if p.is_file()}


def make_bundle(tmp: Path, device: str, *extra: str) -> Path:
    site = tmp / "site"
    if not site.exists():
        assert provision(["site", "init", "--site", "hq", "--dir", str(site)]) == 0
    out = tmp / f"bundle-{device}"
    assert provision(["device", "add", "--site-dir", str(site), "--device", device, "--door", "main",
                      "--broker", "mqtts://broker.hq:8883", "--out", str(out), *extra]) == 0
    return out
