"""The guest's door: installed as a technician does, then driven and read through the agent and serial port 2.

``events()`` parses what vm-led-watch wrote to the second serial port: the LED and relay levels as gpio-sim
shows them, outside the door's process, each stamped with the guest's boot id and uptime.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field

from tests.vm.qemu import Result, Vm, VmError
from tests.vm.site import FRAMES_IN_GUEST, GREEN_PIN, RED_PIN, RELAY_PIN, Site, checkout_tar

INSTALL_TIMEOUT_S = 900
READY_TIMEOUT_S = 240
VENV = "/opt/entryscan/venv"
CONFIG = "/etc/entryscan/config.toml"


@dataclass(frozen=True)
class Level:
    boot: str
    uptime: float
    pins: dict[int, int]


@dataclass
class Door:
    vm: Vm
    site: Site
    timings: dict[str, float] = field(default_factory=dict)
    install_log: str = ""

    def sh(self, command: str, timeout: float = 120) -> Result:
        return self.vm.sh(command, timeout=timeout)

    def show(self, *props: str) -> dict[str, str]:
        out = self.sh(f"systemctl show entryscan -p {','.join(props)}").check("systemctl show").out
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def uptime(self) -> float:
        return float(self.sh("cut -d' ' -f1 /proc/uptime").check("uptime").out.strip())

    def restart(self, frames: str, ready: bool = True) -> None:
        """Stop the door, point its camera at a frame set, start it, and wait for the new one's READY."""
        before = self.show("InvocationID")["InvocationID"]
        self.sh("systemctl stop entryscan").check("stop")
        self.frames(frames)
        self.sh("systemctl reset-failed entryscan; systemctl start --no-block entryscan").check("start")
        if ready:
            self.wait_ready(after=before, timeout=180)

    def frames(self, name: str) -> None:
        """Point the door's dir: camera at one of the frame sets (takes effect at the door's next start)."""
        self.sh(f"ln -sfn /opt/vm-frame-sets/{name} {FRAMES_IN_GUEST}").check("frames")

    def wait_ready(self, timeout: float = READY_TIMEOUT_S, after: str = "") -> dict[str, str]:
        """Active, READY sent (StatusText set by the door) and, with ``after``, a new invocation."""
        deadline = time.monotonic() + timeout
        state: dict[str, str] = {}
        while time.monotonic() < deadline:
            state = self.show("ActiveState", "SubState", "StatusText", "InvocationID", "MainPID", "NRestarts")
            if state.get("ActiveState") == "active" and state.get("SubState") == "running" \
                    and state.get("InvocationID") != after:
                return state
            time.sleep(1)
        raise VmError(f"entryscan not READY within {timeout:.0f} s: {state}\n{self.vm.journal('entryscan', 60)}")

    def events(self) -> list[Level]:
        levels = []
        for line in Vm.tail(self.vm.events, 10_000_000).splitlines():
            parts = line.split()
            if len(parts) != 6 or parts[0] != "vdoor":
                continue
            try:
                pins = {int(k): int(v) for k, v in (p.split("=") for p in parts[3:])}
                levels.append(Level(parts[1], float(parts[2]), pins))
            except ValueError:
                continue
        return levels

    def wait_level(self, pin: int, value: int, timeout: float, since: float = 0.0) -> Level:
        """The first level change after guest uptime ``since`` (this boot) where ``pin`` reads ``value``."""
        deadline = time.monotonic() + timeout
        boot = self.boot_id()
        while time.monotonic() < deadline:
            for level in self.events():
                if level.boot == boot and level.uptime >= since and level.pins.get(pin) == value:
                    return level
            time.sleep(0.2)
        raise VmError(f"pin {pin} did not read {value} within {timeout:.0f} s (since uptime {since})")

    def boot_id(self) -> str:
        return self.sh("cut -c1-8 /proc/sys/kernel/random/boot_id").check("boot id").out.strip()

    def shown(self, boot: str, since: float = 0.0) -> int:
        """Decisions a person saw: rising edges of the green or the red LED on one boot after uptime ``since``."""
        count, last = 0, {GREEN_PIN: 0, RED_PIN: 0}
        current = ""
        for level in self.events():
            if level.boot != current:
                current, last = level.boot, {GREEN_PIN: 0, RED_PIN: 0}
            for pin in (GREEN_PIN, RED_PIN):
                now = level.pins.get(pin, 0)
                if now == 1 and last[pin] == 0 and level.boot == boot and level.uptime >= since:
                    count += 1
                last[pin] = now
        return count

    def relay(self) -> int:
        out = self.sh(f"cat /sys/devices/platform/gpio-sim.*/gpiochip*/sim_gpio{RELAY_PIN}/value").check("relay")
        return int(out.out.strip())


def _share_inputs(vm: Vm, site: Site) -> None:
    checkout_tar(vm.share / "entryscan.tar")
    if (vm.share / "door-1").exists():
        shutil.rmtree(vm.share / "door-1")
    shutil.copytree(site.bundle, vm.share / "door-1")


def install_door(vm: Vm, site: Site) -> Door:
    """Boot, copy the checkout and the bundle in, and run ``scripts/install-pi.sh door-1`` as the README says.
    Every wait is scaled by ``vm.slow`` (an arm64 guest emulated on x86)."""
    door = Door(vm, site)
    _share_inputs(vm, site)
    started = time.monotonic()
    vm.boot()
    door.timings["boot_agent_s"] = vm.boot_s
    vm.wait_for("systemctl is-system-running | grep -Eq 'running|degraded'", 240 * vm.slow, "multi-user")
    door.timings["boot_multi_user_s"] = time.monotonic() - started
    vm.mount_share()
    door.sh("rm -rf /root/entryscan /root/door-1 && tar -xf /mnt/host/entryscan.tar -C /root && "
            "cp -r /mnt/host/door-1 /root/door-1 && mkdir -p /opt/vm-frame-sets && "
            "cp -r /mnt/host/frames/. /opt/vm-frame-sets/ && chmod -R a+rX /opt/vm-frame-sets", 120 * vm.slow).check("copy")
    door.frames("burst")
    started = time.monotonic()
    result = door.sh("cd /root/entryscan && scripts/install-pi.sh /root/door-1 2>&1", INSTALL_TIMEOUT_S * vm.slow)
    door.install_log = result.out
    result.check("install-pi.sh")
    door.timings["install_s"] = time.monotonic() - started
    started = time.monotonic()
    door.wait_ready(READY_TIMEOUT_S * vm.slow)
    door.timings["ready_after_install_s"] = time.monotonic() - started
    return door
