"""One real Home Assistant, one test mosquitto and one simulated door, shared by the module's tests (slow).

The broker has a plain loopback listener, anonymous and without an ACL, for Home Assistant and the door (the ACL
is tested in tests/provisioning), and a TLS listener with the site's generated server certificate, which
``device remove --broker`` reaches with the collector's certificate from the generated broker folder, as a
technician would. Run with ``scripts/test-ha.sh`` (builds the Home Assistant root, then ``pytest -m ha``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.provisioning.test_broker import Site, make_site
from tests.support.door import LIVE, Door, frames_dir
from tests.support.homeassistant import ROOT_ENV, HomeAssistant, ha_root
from tests.support.mosquitto import Listener, Mosquitto, free_port

DEVICE_UID = "entryscan_hq_door_1"
COMPONENTS = {f"{DEVICE_UID}_{name}": platform for name, platform in
              (("entry", "event"), ("backlog", "sensor"), ("identify", "button"), ("camera", "binary_sensor"))}
DEV = "entryscan/hq/door-1"
CONFIRM_TIMEOUT_S = 4  # confirmed mode with no collector: every entry is sent again every ~4 s


@dataclass
class Rig:
    root: Path
    work: Path
    site: Site
    broker: Mosquitto
    door: Door
    ha: HomeAssistant
    tls_port: int
    traffic: Listener  # everything on the broker, for the failure messages

    def status(self) -> list[str]:
        return [p.decode(errors="replace") for p in self.traffic.on(f"{DEV}/status")]

    def why(self) -> str:
        """What a failed wait for availability shows: the status messages, the broker's and the door's logs."""
        door = "".join(line for line in self.door.output if "[door] green" not in line)
        states = {e["entity_id"]: (self.ha.state(e["entity_id"]) or {}).get("state") for e in self.ha.entities().values()}
        return f"states {states}\nstatus {self.status()}\n-- broker:\n{self.broker.log()}\n-- door:\n{door[-4000:]}"

    def start_door(self) -> None:
        _start(self.door)

    def restart_door(self, frames: list[str]) -> None:
        """A clean stop and a start on a new frame folder (the journal and key stay)."""
        self.door.stop()
        folder = frames_dir(self.work / f"frames-{len(os.listdir(self.work))}", frames)
        self.door.write_config(self.broker.url, folder)
        _start(self.door)

    def new_install(self) -> HomeAssistant:
        ha = HomeAssistant(self.root, self.work)
        try:
            ha.start()
            ha.onboard()
            ha.add_mqtt(self.broker.port)
        except BaseException:
            ha.stop()
            raise
        return ha


def _start(door: Door) -> None:
    # The door lives as long as the module's Home Assistant: out of the list the autouse fixture reaps after
    # every test (the rig's teardown reaps it).
    door.start()
    LIVE.remove(door)


def _tls_listener(site: Site, port: int) -> str:
    b = site.broker_dir
    return "\n".join([f"listener {port} 127.0.0.1", f"cafile {b / 'ca.pem'}", f"certfile {b / 'server.pem'}",
                      f"keyfile {b / 'server.key'}", "require_certificate true", "use_identity_as_username true"])


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = ha_root()
    if root is None and os.environ.get(ROOT_ENV):
        pytest.fail(f"{ROOT_ENV}={os.environ[ROOT_ENV]} is no built Home Assistant root (scripts/ha-root.sh)")
    if root is None:
        pytest.skip(f"no Home Assistant root: run scripts/test-ha.sh (it builds one and sets {ROOT_ENV})")
    work = tmp_path_factory.mktemp("ha")
    site_root = Path(tempfile.mkdtemp(prefix="entryscan-ha-site-"))
    tls_port = free_port()
    site = make_site(site_root, "hq", ("door-1",), tls_port)
    broker = Mosquitto(work / "broker", extra_conf=_tls_listener(site, tls_port)).start()
    traffic = Listener(broker.url, ["#"])
    door = Door(work / "door", broker.url, frames_dir(work / "frames-0", ["000-empty.png"]), delivery="confirmed",
                discovery=True, keepalive_s=5, confirm_timeout_s=CONFIRM_TIMEOUT_S)
    _start(door)
    ha = HomeAssistant(root, work)
    try:
        ha.start()
        ha.onboard()
        ha.add_mqtt(broker.port)
        yield Rig(root, work, site, broker, door, ha, tls_port, traffic)
    finally:
        ha.stop()
        traffic.close()
        door.reap()
        broker.kill()
        shutil.rmtree(site_root, ignore_errors=True)


@pytest.fixture
def door_topics(rig: Rig) -> Iterator[Listener]:
    listener = Listener(rig.broker.url, [f"{DEV}/#"])
    yield listener
    listener.close()
