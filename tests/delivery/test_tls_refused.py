"""Scenario 15: certificates. A door built from provisioning's bundle (site CA, device certificate, broker
config from ``entryscan-provision``) refuses another site's broker, the wrong hostname, an expired certificate
and TLS below 1.2, and reports it: a WARNING line, a journaled ``mqtt_tls_error`` alert delivered once it can
connect again, and ``mqtt_tls_errors`` in its state document (device/delivery/tlsreport.py).

The broker side (another site's door, TLS 1.1 clients, revoked doors refused) is in tests/provisioning/test_broker.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from entryscan.device.config.settings import load_config
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher
from entryscan.device.delivery.tlsreport import tls_cause
from entryscan.provisioning.pki import SiteCA, cert_pem
from tests.provisioning.test_broker import Site, bundle_config_for_test, collector_client, make_site
from tests.support import StepClock, wait_for
from tests.support.mosquitto import free_port, mosquitto_binary

ENTRY = {"decision": "accept", "reason": "ok", "credential_type": "badge", "subject": "p-1", "policy_version": "1",
         "clock_synced": True}


def start_broker(site: Site, conf: Path, log: Path) -> subprocess.Popen[bytes]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto binary not installed (apt-get install mosquitto); CI installs it")
    if os.geteuid() == 0:  # root mosquitto would drop to its generated `user`, who cannot traverse pytest's 0700 tmp_path
        text = re.sub(r"(?m)^user .*$", "user root", conf.read_text())
        conf.write_text(text if "\nuser root" in text else text + "\nuser root\n")
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=out, stderr=out)
    assert wait_for(lambda: _listening(site.port) or proc.poll() is not None, timeout=10)
    assert proc.poll() is None, log.read_text()
    return proc


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[Site]:
    site = make_site(tmp_path, "hq", ("door-a",), free_port())
    site.proc = start_broker(site, site.broker_dir / "mosquitto.conf", tmp_path / "mosquitto.log")
    try:
        yield site
    finally:
        site.proc.kill()
        site.proc.wait(10)


def expired(ca: SiteCA, pem: Path, out: Path) -> None:
    """``pem`` re-issued by the same site CA with a validity that ended yesterday."""
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .public_key(cert.public_key()).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
               .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1)))
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    out.write_bytes(cert_pem(builder.sign(ca.key, hashes.SHA256())))


class Door:
    """The delivery side of a door from a bundle's config, with its own journal."""

    def __init__(self, bundle: Path, url: str | None = None) -> None:
        config = bundle_config_for_test(bundle)
        if url is not None:
            text = config.read_text()
            start = text.index('url = "') + len('url = "')
            config.write_text(text[:start] + url + text[text.index('"', start):])
        cfg = load_config(config)
        self.path = cfg.journal.path
        self.path.parent.mkdir(exist_ok=True)
        clock = StepClock()
        self.journal = Journal(self.path, device="door-a", site="hq", door="main", max_rows=100, clock=clock)
        self.journal.record_entry(ENTRY)
        self.states: list[dict[str, object]] = []
        self.pub = MqttPublisher(cfg.mqtt, device="door-a", site="hq", door="main", journal_path=self.path,
                                 max_rows=100, clock=clock, state_provider=dict, firmware="t",
                                 reconnect_min_s=0.2, reconnect_max_s=0.5)

    def __enter__(self) -> Self:
        self.pub.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.pub.stop()
        self.journal.close()

    def tls_alerts(self) -> list[dict[str, object]]:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT payload FROM outbox WHERE kind = 'alert'").fetchall()
        finally:
            db.close()
        return [a for a in (json.loads(r[0]) for r in rows) if a["kind"] == "mqtt_tls_error"]


def refused_and_reported(door: Door, cause: str, caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    """The door never connects, journals exactly one alert for ``cause`` over several retries, and logs it."""
    with door:
        assert wait_for(lambda: door.pub.stats.tls_errors >= 3, timeout=20)
        assert not door.pub.connected and door.pub.stats.connects == 0
        assert door.journal.backlog() == 2  # the entry is kept, the alert added: nothing sent in the clear
    alerts = door.tls_alerts()
    assert [a["reason"] for a in alerts] == [cause]  # once, not once per retry
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "TLS failure" in r.getMessage()]
    assert warnings and f"({cause})" in warnings[0]
    return alerts[0]


def test_a_broker_of_another_site_is_refused_and_reported(tmp_path: Path, hq: Site,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    other = make_site(tmp_path / "elsewhere", "hq", ("door-a",), hq.port)  # same names, its own CA
    alert = refused_and_reported(Door(other.bundle("door-a")), "unknown_ca", caplog)
    assert alert["host"] == "localhost" and alert["port"] == hq.port


def test_a_wrong_hostname_is_refused_reported_and_the_alert_delivered_after_the_fix(
        hq: Site, caplog: pytest.LogCaptureFixture) -> None:
    bundle = hq.bundle("door-a")
    refused_and_reported(Door(bundle, f"mqtts://127.0.0.1:{hq.port}"), "hostname_mismatch", caplog)
    collector = collector_client(hq)
    try:
        assert collector.subscribe("entryscan/+/+/alert") == 1
        assert collector.subscribe("entryscan/+/+/state") == 1
        with Door(bundle):  # the config fixed: the same journal, now deliverable
            assert wait_for(lambda: any(t.endswith("/alert") for t, _ in collector.received()), timeout=20)
        alerts = [json.loads(p) for t, p in collector.received() if t.endswith("/alert")]
        assert [(a["kind"], a["reason"]) for a in alerts] == [("mqtt_tls_error", "hostname_mismatch")]
        states = [json.loads(p) for t, p in collector.received() if t.endswith("/state")]
        assert states and states[0]["mqtt_tls_errors"] == 0  # a fresh start that connected at once
    finally:
        collector.close()


def test_an_expired_broker_certificate_is_refused_and_reported(tmp_path: Path, hq: Site,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    assert hq.proc is not None
    hq.proc.kill()
    hq.proc.wait(10)
    stale = tmp_path / "broker-stale"
    shutil.copytree(hq.broker_dir, stale)
    expired(SiteCA.load(hq.dir), stale / "server.pem", stale / "server.pem")
    conf = stale / "mosquitto.conf"
    conf.write_text(conf.read_text().replace(str(hq.broker_dir), str(stale)))
    hq.proc = start_broker(hq, conf, tmp_path / "stale.log")
    refused_and_reported(Door(hq.bundle("door-a")), "server_certificate_expired", caplog)


def test_an_expired_door_certificate_is_refused_by_the_broker_and_reported(
        hq: Site, caplog: pytest.LogCaptureFixture) -> None:
    bundle = hq.bundle("door-a")
    expired(SiteCA.load(hq.dir), bundle / "device.pem", bundle / "device.pem")
    refused_and_reported(Door(bundle), "client_certificate_expired", caplog)


class OldTlsServer:
    """A loopback TLS server that speaks at most TLS 1.1, with the broker's own certificate and key."""

    def __init__(self, site: Site) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1
        self.ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        self.ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        self.ctx.load_cert_chain(site.broker_dir / "server.pem", site.broker_dir / "server.key")
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handshakes: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    with self.ctx.wrap_socket(conn, server_side=True):
                        self.handshakes.append("ok")
                except (ssl.SSLError, OSError) as exc:
                    self.handshakes.append(str(exc))

    def close(self) -> None:
        self.sock.close()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_a_broker_offering_only_tls_below_1_2_is_refused_and_reported(
        hq: Site, caplog: pytest.LogCaptureFixture) -> None:
    server = OldTlsServer(hq)
    try:
        refused_and_reported(Door(hq.bundle("door-a"), f"mqtts://localhost:{server.port}"), "protocol_version",
                             caplog)
        assert server.handshakes and "ok" not in server.handshakes
    finally:
        server.close()


@pytest.mark.parametrize(("message", "cause"), [
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
     "unknown_ca"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid",
     "hostname_mismatch"),
    ("failed to receive on socket: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required",
     "client_certificate_refused"),
    ("[Errno 111] Connection refused", None),
    ("timed out", None),
])
def test_only_tls_failures_are_classified_as_such(message: str, cause: str | None) -> None:
    assert tls_cause(message) == cause


def test_the_private_key_never_appears_in_the_report(hq: Site, caplog: pytest.LogCaptureFixture) -> None:
    bundle = hq.bundle("door-a")
    door = Door(bundle, f"mqtts://127.0.0.1:{hq.port}")
    refused_and_reported(door, "hostname_mismatch", caplog)
    key = (bundle / "device.key").read_text()
    body = key.split("-----")[2].strip().splitlines()[0]
    assert body not in caplog.text and body not in json.dumps(door.tls_alerts())
    assert serialization.load_pem_private_key(key.encode(), None)  # the probe is a real key line
