from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from entryscan.device.config.settings import load_config, parse_config
from entryscan.provisioning.__main__ import main
from entryscan.provisioning.bundle import DeviceSpec, build_bundle
from tests.conftest import MosquittoFactory


def bundle(tmp_path: Path, device: str, out: str, broker: str = "mqtts://broker.example:8883") -> int:
    return main(["bundle", "--device", device, "--site", "hq", "--door", "main", "--broker", broker,
                 "--site-key", str(tmp_path / "hq.key"), "--out", str(tmp_path / out)])


def test_bundle_is_private_unique_and_valid(tmp_path: Path) -> None:
    assert bundle(tmp_path, "door-1", "b1") == 0
    assert bundle(tmp_path, "door-2", "b2") == 0
    b1, b2 = tmp_path / "b1", tmp_path / "b2"
    assert {p.name for p in b1.iterdir()} == {"device.key", "device.csr", "site.key", "config.toml", "mosquitto.acl"}
    for secret in ("device.key", "site.key"):
        assert (b1 / secret).stat().st_mode & 0o777 == 0o600
    assert (b1 / "device.key").read_bytes() != (b2 / "device.key").read_bytes()  # no shared device secret
    assert (b1 / "site.key").read_bytes() == (b2 / "site.key").read_bytes()  # one pseudonym key per site
    csr = x509.load_pem_x509_csr((b1 / "device.csr").read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "door-1"
    cfg_text = (b1 / "config.toml").read_text()
    assert 'url = "mqtts://broker.example:8883"' in cfg_text and "password" not in cfg_text
    assert "topic write entryscan/hq/door-1/entry" in (b1 / "mosquitto.acl").read_text()


def test_bundle_config_passes_device_validation(tmp_path: Path) -> None:
    assert bundle(tmp_path, "door-1", "b") == 0
    cfg = load_config(tmp_path / "b" / "config.toml")
    assert cfg.mqtt.tls and cfg.mqtt.cert_file == Path("/etc/entryscan/device.pem")


@pytest.mark.parametrize(("device", "broker"), [("Door 1", "mqtts://b"), ("door-1", "mqtt://b")])
def test_bad_input_is_refused(tmp_path: Path, device: str, broker: str) -> None:
    assert bundle(tmp_path, device, "b", broker=broker) == 78
    assert not (tmp_path / "b").exists()


def test_existing_bundle_is_never_overwritten(tmp_path: Path) -> None:
    assert bundle(tmp_path, "door-1", "b") == 0
    assert bundle(tmp_path, "door-1", "b") == 78


def test_bundle_acl_lets_only_the_collector_confirm(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    """CONFIRM contract: a door reads its own confirm topic and cannot write it (nor its tag discovery be refused)."""
    from tests.provisioning.test_broker import Client
    from tests.support.mosquitto import free_port
    from tests.support.pki import ScratchCA

    assert bundle(tmp_path, "door-1", "b") == 0
    ca = ScratchCA(tmp_path / "pki")
    server, door = ca.issue("broker", server=True, hosts=("localhost",)), ca.issue("door-1", server=False)
    port = free_port()
    mosquitto_factory(acl=(tmp_path / "b" / "mosquitto.acl").read_text(), extra_conf="\n".join([
        f"listener {port} 127.0.0.1", f"cafile {ca.path}", f"certfile {server.cert}", f"keyfile {server.key}",
        "require_certificate true", "use_identity_as_username true"]))
    client = Client(port, ca.path, door.cert, door.key)
    try:
        assert client.publish("entryscan/hq/door-1/entry", b"{}") < 0x80  # 0x10: taken, no subscriber
        assert client.publish("homeassistant/tag/door-1/scan/config", b"{}") < 0x80
        assert client.publish("entryscan/hq/door-1/confirm", b"{}") == 0x87
    finally:
        client.close()


def test_bundle_config_uses_the_sites_topic_prefix(tmp_path: Path) -> None:
    """The ACL lines used the bundle's prefix while its config kept the default one: the door then published where
    its own ACL refused it. Both now come from the same spec."""
    spec = DeviceSpec("door-1", "hq", "main", "mqtts://broker.example:8883", prefix="district7")
    build_bundle(spec, tmp_path / "site.key", tmp_path / "b")
    cfg = parse_config((tmp_path / "b" / "config.toml").read_text(), tmp_path / "b")
    assert cfg.mqtt.topic_prefix == "district7"
    assert "district7/hq/door-1/entry" in (tmp_path / "b" / "mosquitto.acl").read_text()
