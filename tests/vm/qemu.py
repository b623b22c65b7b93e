"""One virtual door: QEMU on a copy-on-write overlay of the built image, its agent, its serial ports.

Every wait has a limit; ``stop()`` (and ``kill()``, a power cut) always ends the QEMU process.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

BOOT_TIMEOUT_S = float(os.environ.get("ENTRYSCAN_VM_BOOT_TIMEOUT", "300"))
# An arm64 guest on an x86 host: TCG translates another instruction set (the raspi3b booted in ~177 s).
SLOWER = {"aarch64": 3.0}
LIVE: list[Vm] = []


class VmError(AssertionError):
    """The guest did not do what the test needed (an AssertionError, so pytest reports it as a failure)."""


@dataclass(frozen=True)
class Image:
    folder: Path

    @property
    def base(self) -> Path:
        return self.folder / "base.qcow2"

    @property
    def kernel(self) -> Path:
        return self.folder / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.folder / "initrd.img"

    @property
    def arch(self) -> str:
        """The guest's machine: build-arm64.sh writes ``arch`` (aarch64); build.sh's images are x86_64."""
        try:
            return (self.folder / "arch").read_text().strip() or "x86_64"
        except OSError:
            return "x86_64"


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str

    def check(self, what: str) -> Result:
        if self.rc != 0:
            raise VmError(f"{what}: exit {self.rc}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}")
        return self


def accel(arch: str = "x86_64") -> str:
    """KVM only where it really is hardware virtualisation; kvm_pvm (a nested software one) stops Debian early.
    Another architecture than the host's is always TCG (emulated)."""
    if arch != platform.machine():
        return "tcg"
    wanted = os.environ.get("ENTRYSCAN_VM_ACCEL", "auto")
    if wanted != "auto":
        return wanted
    if os.access("/dev/kvm", os.R_OK | os.W_OK) and not Path("/sys/module/kvm_pvm").exists():
        return "kvm"
    return "tcg"


def make_overlay(backing: Path, overlay: Path) -> Path:
    overlay.unlink(missing_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(backing), str(overlay)],
                   check=True, timeout=60)
    return overlay


class Vm:
    """``disk`` is the overlay this VM writes; ``share`` is the host folder the guest mounts at /mnt/host."""

    def __init__(self, image: Image, disk: Path, workdir: Path, *, cache: str = "writeback", name: str = "vm") -> None:
        self.image, self.disk, self.cache, self.name = image, disk, cache, name
        self.workdir = workdir
        self.share = workdir / "share"
        self.share.mkdir(parents=True, exist_ok=True)
        self.console = workdir / f"{name}-console.log"
        self.events = workdir / f"{name}-events.log"
        self.sock_path = workdir / f"{name}-agent.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._buf = b""
        self._id = 0
        self.boot_s = 0.0
        # How much slower than the amd64 guest under TCG this one is: waits are scaled by it (door.py).
        self.slow = SLOWER.get(image.arch, 1.0) if image.arch != platform.machine() else 1.0

    def machine(self) -> tuple[list[str], str]:
        """QEMU's binary, board, CPU and serial ports for the image's architecture, and the kernel's console."""
        arch, mode = self.image.arch, accel(self.image.arch)
        console = ["-chardev", f"file,id=console,path={self.console},append=on", "-serial", "chardev:console"]
        if arch == "aarch64":
            # virt: PCIe for the same virtio devices, a PL011 UART (one only: no LED log port) and a PL061 GPIO
            # controller (gpiochip0, the door's lines). cortex-a72 is a Raspberry Pi 4's core (ARMv8.0); it has
            # no RNDR, so a virtio RNG seeds the kernel as RDRAND does on amd64 (TLS keys at boot).
            return ["qemu-system-aarch64", "-machine", f"virt,accel={mode}", "-cpu", "cortex-a72", *console,
                    "-device", "virtio-rng-pci"], "console=ttyAMA0"
        cpu = ["-cpu", "host"] if mode == "kvm" else ["-cpu", "max"]
        return ["qemu-system-x86_64", "-machine", f"q35,accel={mode}", *cpu, *console,
                "-chardev", f"file,id=events,path={self.events},append=on", "-serial", "chardev:events"], \
            "console=ttyS0"

    def args(self) -> list[str]:
        head, console = self.machine()
        return [
            # append=on (the serial logs): a VM booted again on the same disk (after a power cut) adds to them.
            *head, "-smp", "2", "-m", "1024", "-display", "none", "-monitor", "none", "-no-reboot",
            "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
            "-append", f"root=/dev/vda rw {console} quiet panic=-1 systemd.show_status=auto",
            "-drive", f"file={self.disk},if=virtio,format=qcow2,cache={self.cache},discard=unmap",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=agent,path={self.sock_path},server=on,wait=off",
            "-device", "virtserialport,chardev=agent,name=org.entryscan.agent",
            "-virtfs", f"local,path={self.share},mount_tag=host0,security_model=none,id=share",
        ]

    def boot(self, timeout: float | None = None) -> Vm:
        """Start QEMU and wait until the agent answers (systemd has reached sysinit at least)."""
        timeout = BOOT_TIMEOUT_S * self.slow if timeout is None else timeout
        self.sock_path.unlink(missing_ok=True)
        started = time.monotonic()
        log = (self.workdir / f"{self.name}-qemu.log").open("ab")
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        LIVE.append(self)
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise VmError(f"QEMU exited with {self.proc.returncode}: {self.tail(self.workdir / f'{self.name}-qemu.log')}")
            if self._try_agent():
                self.boot_s = time.monotonic() - started
                return self
            time.sleep(1)
        self.kill()
        raise VmError(f"no agent within {timeout:.0f} s; console:\n{self.tail(self.console)}")

    def _try_agent(self) -> bool:
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(str(self.sock_path))
                self._sock, self._buf = sock, b""
            return self.sh("true", timeout=5, wait=8).rc == 0
        except (OSError, TimeoutError, VmError):
            return False

    def sh(self, command: str, *, timeout: float = 120, wait: float | None = None) -> Result:
        """Run ``command`` with bash in the guest as root; ``timeout`` bounds it there, ``wait`` here."""
        if self._sock is None:
            raise VmError("the agent is not connected")
        self._id += 1
        ident = self._id
        self._sock.sendall((json.dumps({"id": ident, "sh": command, "timeout": timeout}) + "\n").encode())
        deadline = time.monotonic() + (wait if wait is not None else timeout + 30)
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                answer = json.loads(line)
                if answer.get("id") == ident:
                    return Result(int(answer["rc"]), str(answer["out"]), str(answer["err"]))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the agent did not answer {command[:80]!r} in time")
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise VmError("the agent's socket closed (QEMU gone?)")
            self._buf += chunk

    def mount_share(self) -> None:
        self.sh("mountpoint -q /mnt/host || { mkdir -p /mnt/host && "
                "mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host0 /mnt/host; }",
                timeout=30 * self.slow).check("9p")

    def wait_for(self, command: str, timeout: float, what: str, interval: float = 1.0) -> Result:
        """Repeat ``command`` in the guest until it exits 0, for at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        last = Result(1, "", "")
        while time.monotonic() < deadline:
            last = self.sh(command, timeout=max(5.0, min(60.0, deadline - time.monotonic())))
            if last.rc == 0:
                return last
            time.sleep(interval)
        raise VmError(f"{what} not within {timeout:.0f} s; last: rc={last.rc} {last.out[-1500:]} {last.err[-1500:]}")

    def journal(self, unit: str = "", lines: int = 400) -> str:
        target = f"-u {unit}" if unit else "-b"
        try:
            return self.sh(f"journalctl --no-pager -o short-monotonic {target} -n {lines}", timeout=30).out
        except (OSError, TimeoutError, VmError) as exc:
            return f"(journal not readable: {exc})"

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def kill(self) -> None:
        """A power cut: SIGKILL, no flush of anything the guest did not flush itself."""
        self._close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        if self in LIVE:
            LIVE.remove(self)

    def stop(self, timeout: float = 60) -> None:
        """A clean power-off; killed if it takes longer than ``timeout``."""
        if self.proc is not None and self.proc.poll() is None and self._sock is not None:
            try:
                self.sh("systemctl --no-block poweroff", timeout=10, wait=15)
                self.proc.wait(timeout)
            except (OSError, TimeoutError, VmError, subprocess.TimeoutExpired):
                pass
        self.kill()

    @staticmethod
    def tail(path: Path, size: int = 4000) -> str:
        try:
            return path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


def stop_all() -> None:
    for vm in LIVE:
        vm.kill()


def cannot_run(reason: str) -> None:
    """Skip with the reason; under scripts/test-vm.sh (ENTRYSCAN_VM_REQUIRED=1) fail instead."""
    if os.environ.get("ENTRYSCAN_VM_REQUIRED") == "1":
        pytest.fail(f"virtual door required but cannot run: {reason}")
    pytest.skip(reason)


def qemu_available(arch: str = "x86_64") -> bool:
    return shutil.which(f"qemu-system-{arch}") is not None and shutil.which("qemu-img") is not None
