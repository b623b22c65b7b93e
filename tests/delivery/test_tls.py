"""TLS to a real mosquitto: per-device client certificates, CA pinning, hostname checks, topic ACLs."""

from __future__ import annotations

from pathlib import Path

from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher
from tests.conftest import MosquittoFactory
from tests.support import StepClock, wait_for
from tests.support.mosquitto import free_port
from tests.support.pki import ScratchCA

FIELDS: dict[str, object] = {"decision": "accept", "reason": "ok", "credential_type": "badge",
                             "subject": "p-1", "policy_version": "1", "clock_synced": True}
# The certificate's CN is the MQTT username; each device may write only below its own id.
ACL = "pattern readwrite entryscan/hq/%u/#\npattern read homeassistant/status\ntopic read entryscan/#\n"


def tls_broker(factory: MosquittoFactory, ca: ScratchCA) -> int:
    server = ca.issue("broker", server=True, hosts=("localhost", "127.0.0.1"))
    port = free_port()
    extra = "\n".join([
        f"listener {port} 127.0.0.1", f"cafile {ca.path}", f"certfile {server.cert}", f"keyfile {server.key}",
        "require_certificate true", "use_identity_as_username true", "tls_version tlsv1.2",
    ])
    factory(acl=ACL, extra_conf=extra)
    return port


def publisher(tmp_path: Path, device: str, url: str, ca_file: Path, cert: Path, key: Path) -> tuple[MqttPublisher, Journal]:
    clock = StepClock()
    path = tmp_path / device / "journal.db"
    journal = Journal(path, device=device, site="hq", door="main", max_rows=100, clock=clock)
    cfg = MqttConfig(url=url, ca_file=ca_file, cert_file=cert, key_file=key, keepalive_s=5, discovery=False,
                     delivery="broker")
    pub = MqttPublisher(cfg, device=device, site="hq", door="main", journal_path=path, max_rows=100, clock=clock,
                        state_provider=dict, firmware="t", reconnect_min_s=0.2, reconnect_max_s=0.5)
    return pub, journal


def test_device_certificate_delivers_over_tls(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    ca = ScratchCA(tmp_path / "pki")
    port = tls_broker(mosquitto_factory, ca)
    device = ca.issue("door-1", server=False)
    pub, journal = publisher(tmp_path, "door-1", f"mqtts://localhost:{port}", ca.path, device.cert, device.key)
    journal.record_entry(FIELDS)
    pub.start()
    try:
        # The broker took it over TLS; with nobody subscribed it answers 0x10 and the row stays for a retry.
        assert wait_for(lambda: pub.stats.acked == 1, timeout=15)
        assert journal.backlog() == 1
    finally:
        pub.stop()
        journal.close()


def test_wrong_ca_or_hostname_refuses_to_connect(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    ca = ScratchCA(tmp_path / "pki")
    port = tls_broker(mosquitto_factory, ca)
    device = ca.issue("door-1", server=False)
    impostor_ca = ScratchCA(tmp_path / "other", name="someone else")
    for host, trusted in (("localhost", impostor_ca.path), ("127.0.0.2", ca.path)):
        pub, journal = publisher(tmp_path / host, "door-1", f"mqtts://{host}:{port}", trusted, device.cert, device.key)
        journal.record_entry(FIELDS)
        pub.start()
        try:
            assert not wait_for(lambda p=pub: p.connected, timeout=2.0)
            # Nothing left in cleartext or otherwise (a TLS refusal adds an mqtt_tls_error alert row).
            assert [r["kind"] for r in journal.rows() if r["kind"] == "entry"] == ["entry"]
        finally:
            pub.stop()
            journal.close()


def test_one_device_cannot_publish_as_another(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    ca = ScratchCA(tmp_path / "pki")
    port = tls_broker(mosquitto_factory, ca)
    door2 = ca.issue("door-2", server=False)
    # door-2's certificate, configured as door-1: the broker's ACL (0x87) must refuse its entries.
    pub, journal = publisher(tmp_path, "door-1", f"mqtts://localhost:{port}", ca.path, door2.cert, door2.key)
    journal.record_entry(FIELDS)
    pub.start()
    try:
        assert wait_for(lambda: pub.connected, timeout=10)
        assert wait_for(lambda: any(r["attempts"] for r in journal.rows() if r["kind"] == "entry"), timeout=10)
        assert journal.backlog() >= 1
    finally:
        pub.stop()
        journal.close()


def test_a_client_key_readable_by_others_is_refused_like_the_password_file(tmp_path: Path) -> None:
    import pytest

    from entryscan.device.delivery.client import tls_context
    from entryscan.device.errors import ConfigError

    ca = ScratchCA(tmp_path / "pki")
    device = ca.issue("door-1", server=False)
    cfg = MqttConfig(url="mqtts://localhost:8883", ca_file=ca.path, cert_file=device.cert, key_file=device.key)
    tls_context(cfg)  # 0600: accepted
    for mode in (0o640, 0o604):
        device.key.chmod(mode)
        with pytest.raises(ConfigError, match=r"mqtt.key_file: .*door-1.key is readable by group/others"):
            tls_context(cfg)
