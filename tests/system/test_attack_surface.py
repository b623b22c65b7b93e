"""EN 303 645 5.6-1 / 5.6-2: the running door opens no listening socket; its only network traffic is the
outbound MQTT connection it makes itself (docs/SECURITY.md)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import MosquittoFactory
from tests.support import wait_for
from tests.support.door import Door, Subscriber, frames_dir

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def sockets_by_state(inodes: set[str]) -> dict[str, list[str]]:
    """(protocol, state) of each of ``inodes`` among the machine's TCP and UDP sockets."""
    found: dict[str, list[str]] = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                found.setdefault(f"{proto}:{fields[3]}", []).append(fields[1])
    return found


def test_the_running_door_listens_on_no_port(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory()
    collector = Subscriber(broker.url)
    door = Door(tmp_path / "door", broker.url, frames_dir(tmp_path / "frames", ["002-staff-0001.png"])).start()
    try:
        assert wait_for(lambda: collector.entries(), timeout=30), door.output
        assert door.proc is not None
        found = sockets_by_state(socket_inodes(door.proc.pid))
        assert not [key for key in found if key.startswith("tcp") and key.endswith(f":{LISTEN}")], found
        assert not [key for key in found if key.startswith("udp")], found
        # What it has is its own connection to the broker.
        assert any(key.startswith("tcp") for key in found), found
    finally:
        door.stop()
        collector.close()
