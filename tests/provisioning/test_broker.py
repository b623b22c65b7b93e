"""A real mosquitto started exactly as ``entryscan-provision broker`` says: ``mosquitto -c <folder>/mosquitto.conf``.

As root, mosquitto drops to user "mosquitto" before it opens acl_file; ``broker`` gives it the folder. The site
is made under a folder others may traverse (pytest's own are 0700 root), as /etc/mosquitto/... would be. Before,
the test appended ``user root`` because the generated folder was unusable as generated.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from entryscan.device.config.settings import load_config
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher
from entryscan.provisioning.__main__ import main
from tests.support import StepClock, wait_for
from tests.support.mosquitto import free_port, mosquitto_binary

NOT_AUTHORIZED = 0x87


@dataclass
class Site:
    dir: Path
    broker_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def bundle(self, device: str) -> Path:
        return self.dir.parent / f"bundle-{device}"


def make_site(root: Path, site: str, devices: tuple[str, ...], port: int) -> Site:
    site_dir = root / site
    assert main(["site", "init", "--site", site, "--dir", str(site_dir), "--name", f"Site {site}"]) == 0
    for device in devices:
        assert main(["device", "add", "--site-dir", str(site_dir), "--device", device, "--door", "main",
                     "--broker", f"mqtts://localhost:{port}", "--out", str(root / f"bundle-{device}")]) == 0
    broker_dir = root / f"broker-{site}"
    assert main(["broker", "--site-dir", str(site_dir), "--out", str(broker_dir), "--host", "localhost",
                 "--port", str(port), "--bind", "127.0.0.1"]) == 0
    return Site(site_dir, broker_dir, port)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto binary not installed (apt-get install mosquitto); CI installs it")
    root = Path(tempfile.mkdtemp(prefix="entryscan-broker-"))
    root.chmod(0o755)
    hq = make_site(root, "hq", ("door-a", "door-b"), free_port())
    log = (tmp_path / "mosquitto.log").open("wb")
    proc = subprocess.Popen(run_command(hq.broker_dir / "mosquitto.conf"), stdout=log, stderr=log)
    try:
        assert wait_for(lambda: _listening(hq.port) or proc.poll() is not None, timeout=10)
        assert proc.poll() is None, (tmp_path / "mosquitto.log").read_text()
        hq.proc = proc
        yield hq
    finally:
        proc.kill()
        proc.wait(10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def run_command(conf: Path) -> list[str]:
    """The command the generated config's header names (its first line: "... run: mosquitto -c PATH")."""
    header = conf.read_text().splitlines()[0]
    command = header.split("run: ", 1)[1].split()
    assert command[:2] == ["mosquitto", "-c"] and Path(command[2]) == conf, header
    return [str(mosquitto_binary()), *command[1:]]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Client:
    """A paho MQTT v5 client that records messages, PUBACK and SUBACK reason codes."""

    def __init__(self, port: int, ca: Path | None, cert: Path | None, key: Path | None) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.acks: dict[int, int] = {}
        self.subacks: list[int] = []
        self.connack: list[str] = []
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        if ca is not None:
            ctx = ssl.create_default_context(cafile=str(ca))
            if cert is not None and key is not None:
                ctx.load_cert_chain(str(cert), str(key))
            self.client.tls_set_context(ctx)
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.append(str(rc))
        self.client.on_message = self._on_message
        self.client.on_publish = lambda c, u, mid, rc, p: self.acks.__setitem__(mid, rc.value)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.extend(r.value for r in rcs)
        self.client.connect("localhost", port, 30)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def subscribe(self, topic: str) -> int:
        before = len(self.subacks)
        self.client.subscribe(topic, qos=1)
        assert wait_for(lambda: len(self.subacks) > before)
        return self.subacks[-1]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        mid = self.client.publish(topic, payload, qos=1, retain=retain).mid
        assert wait_for(lambda: mid in self.acks), "no PUBACK"
        return self.acks[mid]

    def received(self) -> list[tuple[str, bytes]]:
        with self.lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def device_client(site: Site, device: str) -> Client:
    bundle = site.bundle(device)
    client = Client(site.port, bundle / "ca.pem", bundle / "device.pem", bundle / "device.key")
    assert wait_for(lambda: client.connack == ["Success"])
    return client


def collector_client(site: Site) -> Client:
    b = site.broker_dir
    client = Client(site.port, b / "ca.pem", b / "collector.pem", b / "collector.key")
    assert wait_for(lambda: client.connack == ["Success"])
    return client


def bundle_config_for_test(bundle: Path) -> Path:
    """The bundle's config with /etc/entryscan pointing at the bundle folder (as install-pi.sh would place it)."""
    text = (bundle / "config.toml").read_text().replace("/etc/entryscan", str(bundle))
    text = text.replace("/var/lib/entryscan", str(bundle / "var"))
    path = bundle / "config.test.toml"
    path.write_text(text)
    return path


def test_device_publisher_from_bundle_reaches_the_collector(site: Site) -> None:
    collector = collector_client(site)
    assert collector.subscribe("entryscan/+/+/entry") == 1
    cfg = load_config(bundle_config_for_test(site.bundle("door-a")))
    journal_path = cfg.journal.path
    journal_path.parent.mkdir()
    clock = StepClock()
    journal = Journal(journal_path, device="door-a", site="hq", door="main", max_rows=100, clock=clock)
    pub = MqttPublisher(cfg.mqtt, device="door-a", site="hq", door="main", journal_path=journal_path,
                        max_rows=100, clock=clock, state_provider=dict, firmware="t",
                        reconnect_min_s=0.2, reconnect_max_s=0.5)
    journal.record_entry({"decision": "accept", "reason": "ok", "credential_type": "badge", "subject": "p-1",
                          "policy_version": "1", "clock_synced": True})
    pub.start()
    try:
        assert wait_for(lambda: any(t == "entryscan/hq/door-a/entry" for t, _ in collector.received()), timeout=20)
    finally:
        pub.stop()
        journal.close()
        collector.close()


def test_collector_confirms_and_only_the_collector_may(site: Site) -> None:
    collector = collector_client(site)
    door_a = device_client(site, "door-a")
    try:
        assert door_a.subscribe("entryscan/hq/door-a/confirm") == 1
        assert door_a.subscribe("entryscan/hq/door-a/cmd/+") == 1
        assert door_a.subscribe("entryscan/hq/lists/#") == 1
        confirm = b'{"incarnation": "", "through_seq": 1, "seqs": [], "alert_ids": []}'
        assert collector.publish("entryscan/hq/door-a/confirm", confirm, retain=True) == 0
        assert wait_for(lambda: ("entryscan/hq/door-a/confirm", confirm) in door_a.received())
        assert door_a.publish("entryscan/hq/door-a/confirm", b"{}") == NOT_AUTHORIZED  # a door cannot confirm itself
        assert collector.publish("entryscan/hq/door-a/entry", b"forged") == NOT_AUTHORIZED
    finally:
        door_a.close()
        collector.close()


def test_device_a_cannot_touch_device_b(site: Site) -> None:
    collector = collector_client(site)
    door_a = device_client(site, "door-a")
    try:
        assert collector.subscribe("entryscan/+/+/entry") == 1
        assert collector.subscribe("entryscan/+/+/status") == 1
        for topic in ("entryscan/hq/door-b/entry", "entryscan/hq/door-b/status",
                      "homeassistant/device/door-b/config", "entryscan/hq/lists/revoked"):
            assert door_a.publish(topic, b"forged") == NOT_AUTHORIZED, topic
        # A message A may send, published after the refused ones, arrives, and it alone.
        assert door_a.publish("entryscan/hq/door-a/entry", b"genuine") == 0
        assert wait_for(lambda: collector.received())
        assert collector.received() == [("entryscan/hq/door-a/entry", b"genuine")]
    finally:
        door_a.close()
        collector.close()


def test_doors_read_the_entry_events_of_their_site_and_write_only_their_own(site: Site) -> None:
    """Anti-passback across doors: an entrance learns passages from the exit's entry events."""
    door_a = device_client(site, "door-a")
    door_b = device_client(site, "door-b")
    try:
        assert door_a.subscribe("entryscan/hq/+/entry") == 1
        assert door_b.publish("entryscan/hq/door-a/entry", b"forged") == NOT_AUTHORIZED
        assert door_b.publish("entryscan/hq/door-b/entry", b"exit") == 0
        assert wait_for(lambda: door_a.received())
        assert door_a.received() == [("entryscan/hq/door-b/entry", b"exit")]
    finally:
        door_a.close()
        door_b.close()


def test_device_a_cannot_read_device_b(site: Site) -> None:
    """mosquitto's acl_file grants every SUBSCRIBE and filters at delivery: B's messages never reach A."""
    collector = collector_client(site)
    door_a = device_client(site, "door-a")
    try:
        door_a.subscribe("entryscan/hq/+/confirm")
        door_a.subscribe("entryscan/hq/+/cmd/+")
        assert collector.publish("entryscan/hq/door-b/confirm", b"for b", retain=True) == 0
        assert collector.publish("entryscan/hq/door-a/confirm", b"for a") == 0
        assert wait_for(lambda: door_a.received())
        assert door_a.received() == [("entryscan/hq/door-a/confirm", b"for a")]
        late = device_client(site, "door-a")  # and B's retained confirmation is not handed to A either
        late.subscribe("entryscan/hq/#")
        assert collector.publish("entryscan/hq/door-a/confirm", b"barrier") == 0
        assert wait_for(lambda: late.received())
        assert late.received() == [("entryscan/hq/door-a/confirm", b"barrier")]
        late.close()
    finally:
        door_a.close()
        collector.close()


CONNECT = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"  # MQTT 3.1.1, empty client id, clean session


def first_reply(port: int, ctx: ssl.SSLContext | None) -> bytes:
    """Send a CONNECT (over TLS when ``ctx`` is given) and return the broker's first bytes (b"" = closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        if ctx is None:
            raw.sendall(CONNECT)
            return _recv(raw)
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(CONNECT)
            return _recv(tls)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(4)
    except (ssl.SSLError, ConnectionResetError):  # TLS 1.3 reports a refused client certificate here
        return b""


def tls_context(ca: Path, bundle: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(bundle / "device.pem"), str(bundle / "device.key"))
    return ctx


def test_another_sites_certificate_is_refused(site: Site, tmp_path: Path) -> None:
    other = make_site(tmp_path / "elsewhere", "hq", ("door-a",), free_port())  # same ids, its own CA
    genuine = tls_context(site.dir / "ca.pem", site.bundle("door-a"))
    assert first_reply(site.port, genuine)[:1] == b"\x20"  # CONNACK: the probe itself works
    foreign = tls_context(site.dir / "ca.pem", other.bundle("door-a"))
    with contextlib.suppress(ssl.SSLError):  # refused during the handshake (TLS 1.2) ...
        assert first_reply(site.port, foreign) == b""  # ... or on the first read (TLS 1.3)


def test_plaintext_connection_is_refused(site: Site) -> None:
    assert first_reply(site.port, None) == b""  # no CONNACK: the broker speaks only TLS


def test_acl_is_regenerated_for_devices_added_later(site: Site) -> None:
    acl = site.broker_dir / "acl"
    key_before = (site.broker_dir / "server.key").read_bytes()
    assert "user door-c" not in acl.read_text()
    assert main(["device", "add", "--site-dir", str(site.dir), "--device", "door-c", "--door", "side",
                 "--broker", f"mqtts://localhost:{site.port}", "--out", str(site.bundle("door-c"))]) == 0
    door_c = device_client(site, "door-c")  # its certificate is the site's, but the running ACL has no door-c
    try:
        assert door_c.publish("entryscan/hq/door-c/entry", b"{}") == NOT_AUTHORIZED
        assert main(["broker", "--site-dir", str(site.dir), "--out", str(site.broker_dir), "--host", "localhost",
                     "--port", str(site.port), "--bind", "127.0.0.1"]) == 0
        assert "user door-c\ntopic write entryscan/hq/door-c/status" in acl.read_text()
        assert site.proc is not None
        site.proc.send_signal(signal.SIGHUP)  # mosquitto re-reads the ACL file on a reload
        assert wait_for(lambda: door_c.publish("entryscan/hq/door-c/entry", b"{}") < 0x80, timeout=10)
    finally:
        door_c.close()
    assert (site.broker_dir / "server.key").read_bytes() == key_before  # keys are kept, never overwritten
    assert main(["broker", "--site-dir", str(site.dir), "--out", str(site.broker_dir), "--host", "other.example",
                 "--port", str(site.port)]) == 78  # a server cert for another host would need a new key


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_below_1_2_is_refused(site: Site, version: ssl.TLSVersion) -> None:
    ctx = tls_context(site.dir / "ca.pem", site.bundle("door-a"))
    ctx.minimum_version = ctx.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")  # let this client offer TLS 1.1 at all: the broker must refuse it
        with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION"):  # the broker's alert
            first_reply(site.port, ctx)
    else:
        assert first_reply(site.port, ctx)[:1] == b"\x20"


def test_a_removed_device_is_revoked_and_out_of_the_acl(site: Site) -> None:
    door_b = tls_context(site.dir / "ca.pem", site.bundle("door-b"))
    door_a = tls_context(site.dir / "ca.pem", site.bundle("door-a"))
    assert first_reply(site.port, door_b)[:1] == b"\x20"
    assert main(["device", "remove", "--site-dir", str(site.dir), "--device", "door-b"]) == 0
    assert main(["broker", "--site-dir", str(site.dir), "--out", str(site.broker_dir), "--host", "localhost",
                 "--port", str(site.port), "--bind", "127.0.0.1"]) == 0
    assert "user door-b" not in (site.broker_dir / "acl").read_text()
    assert site.proc is not None
    site.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: _refused(site.port, door_b), timeout=10)  # the CRL is re-read on a reload
    assert first_reply(site.port, door_a)[:1] == b"\x20"  # the other doors are unaffected


def _refused(port: int, ctx: ssl.SSLContext) -> bool:
    try:
        return first_reply(port, ctx) == b""
    except ssl.SSLError:
        return True
