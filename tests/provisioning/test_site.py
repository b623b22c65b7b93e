"""``site init`` and ``device add``: private keys, no overwrites, and bundles the device itself accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from entryscan.device.cli.main import main as entryscan
from entryscan.device.config.settings import load_config
from entryscan.provisioning import manifest
from entryscan.provisioning.__main__ import main
from entryscan.provisioning.site import SITE_FILES

PRIVATE = {"ca.key", "site.key", "issuer.key", "lists.key", "venues.key"}


def init(site_dir: Path, site: str = "hq", name: str = "Trụ sở chính") -> int:
    return main(["site", "init", "--site", site, "--dir", str(site_dir), "--name", name])


def add(site_dir: Path, device: str, out: Path, *extra: str) -> int:
    return main(["device", "add", "--site-dir", str(site_dir), "--device", device, "--door", "main",
                 "--broker", "mqtts://broker.example:8883", "--out", str(out), *extra])


def secrets_of(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in folder.iterdir() if p.name.endswith(".key")]


def test_site_init_makes_private_fresh_keys_and_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(tmp_path / "a") == 0
    assert init(tmp_path / "b") == 0
    out = capsys.readouterr()
    a, b = tmp_path / "a", tmp_path / "b"
    assert {p.name for p in a.iterdir()} == set(SITE_FILES)
    for name in PRIVATE:
        assert (a / name).stat().st_mode & 0o777 == 0o600, name
        assert (a / name).read_bytes() != (b / name).read_bytes(), f"{name} shared between two sites"
    for secret in secrets_of(a):
        assert secret.decode("latin-1") not in out.out + out.err  # nothing secret printed
    assert "PRIVATE KEY" not in out.out + out.err
    site = manifest.load(a)
    assert (site.site, site.name, site.venues, site.devices) == ("hq", "Trụ sở chính", (), ())
    ca = x509.load_pem_x509_certificate((a / "ca.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_site_init_refuses_an_existing_site(tmp_path: Path) -> None:
    assert init(tmp_path / "s") == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()}
    assert init(tmp_path / "s", site="other") == 78
    assert {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()} == before


@pytest.mark.parametrize(("site", "name"), [("Bad Id", "x"), ("collector", "x"), ("hq", "line\nbreak"), ("hq", "   ")])
def test_site_init_refuses_bad_input(tmp_path: Path, site: str, name: str) -> None:
    assert init(tmp_path / "s", site=site, name=name) == 78
    assert not (tmp_path / "s").exists()


def test_device_bundle_is_complete_private_and_recorded(tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert init(site) == 0
    assert add(site, "door-1", tmp_path / "d1") == 0
    d1 = tmp_path / "d1"
    assert {p.name for p in d1.iterdir()} == {"config.toml", "ca.pem", "device.pem", "device.key", "site.key",
                                              "issuer.pub", "lists.pub", "badges.txt"}
    assert (d1 / "device.key").stat().st_mode & 0o777 == 0o600
    assert (d1 / "site.key").stat().st_mode & 0o777 == 0o600
    assert (d1 / "site.key").read_bytes() == (site / "site.key").read_bytes()
    cert = x509.load_pem_x509_certificate((d1 / "device.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((site / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "CN=door-1"
    record = manifest.load(site).device("door-1")
    assert record is not None and record.door == "main"
    assert record.certificate_sha256 == cert.fingerprint(cert.signature_hash_algorithm).hex()  # type: ignore[arg-type]
    cfg = load_config(d1 / "config.toml")
    assert cfg.mqtt.tls and cfg.credentials.badge is not None and cfg.lists is not None


def installed_config(bundle: Path, tmp_path: Path, policy: str | None = None) -> Path:
    """The bundle's config with /etc/entryscan pointing at the bundle (where install-pi.sh puts the files)."""
    text = (bundle / "config.toml").read_text().replace("/etc/entryscan", str(bundle))
    text = text.replace("/var/lib/entryscan", str(tmp_path / "var"))
    if policy:
        text = re.sub(r'(?m)^mode = ".*"$', f'mode = "{policy}"', text)
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_bundle_trusts_the_sites_pass_issuer_and_starts_with_no_badges(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    assert init(site) == 0
    assert add(site, "door-1", tmp_path / "d1", "--policy", "credentials") == 0
    config = installed_config(tmp_path / "d1", tmp_path)
    capsys.readouterr()
    assert entryscan(["pass", "issue", "--key", str(site / "issuer.key"), "--subject", "staff-7"]) == 0
    issued = capsys.readouterr().out.strip()
    assert entryscan(["check", "--config", str(config), "--text", issued]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "accept"
    badge_config = installed_config(tmp_path / "d1", tmp_path, policy="allowlist")
    assert entryscan(["check", "--config", str(badge_config), "--text", "BADGE-1"]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "not_allowed"  # the empty list loads, admits nobody


def test_device_add_with_a_csr_made_on_the_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    assert init(site) == 0
    pi_key, csr = tmp_path / "pi" / "device.key", tmp_path / "door-2.csr"
    assert entryscan(["csr", "--device", "door-2", "--key", str(pi_key), "--out", str(csr)]) == 0
    assert pi_key.stat().st_mode & 0o777 == 0o600
    key_before = pi_key.read_bytes()
    assert key_before.decode() not in capsys.readouterr().out
    assert add(site, "door-2", tmp_path / "d2", "--csr", str(csr)) == 0
    assert not (tmp_path / "d2" / "device.key").exists()  # the key never left the device
    cert = x509.load_pem_x509_certificate((tmp_path / "d2" / "device.pem").read_bytes())
    private = serialization.load_pem_private_key(key_before, password=None)
    assert cert.public_key() == private.public_key()
    assert entryscan(["csr", "--device", "door-2", "--key", str(pi_key), "--out", str(csr)]) == 0
    assert pi_key.read_bytes() == key_before  # a second request reuses the key, never replaces it


def test_device_add_refuses_a_csr_for_another_device(tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert init(site) == 0
    assert entryscan(["csr", "--device", "door-9", "--key", str(tmp_path / "k"), "--out", str(tmp_path / "r")]) == 0
    assert add(site, "door-2", tmp_path / "d2", "--csr", str(tmp_path / "r")) == 78
    assert not (tmp_path / "d2").exists() and manifest.load(site).devices == ()


@pytest.mark.parametrize("extra", [["--venue", "nowhere"], ["--policy", "lockdown-ish"]])
def test_device_add_refuses_bad_input(tmp_path: Path, extra: list[str]) -> None:
    site = tmp_path / "site"
    assert init(site) == 0
    assert add(site, "door-1", tmp_path / "d", *extra) == 78
    assert not (tmp_path / "d").exists()


def test_device_add_never_overwrites(tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert init(site) == 0
    assert add(site, "door-1", tmp_path / "d1") == 0
    key = (tmp_path / "d1" / "device.key").read_bytes()
    assert add(site, "door-1", tmp_path / "other") == 78  # already in the manifest
    assert add(site, "door-2", tmp_path / "d1") == 78  # bundle folder exists
    assert (tmp_path / "d1" / "device.key").read_bytes() == key
    assert [d.id for d in manifest.load(site).devices] == ["door-1"]


def test_manifest_keeps_text_exactly_and_refuses_garbage(tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert init(site, name='Chợ "Bến Thành" \\ Quận 1') == 0
    assert manifest.load(site).name == 'Chợ "Bến Thành" \\ Quận 1'
    (site / "site.toml").write_text("[site]\nformat = 1\nsite = 'hq'\nname = 'x'\n[[devices]]\nid = 'Bad'\ndoor='d'\n")
    with pytest.raises(ValueError, match=r"devices\[0\]\.id"):
        manifest.load(site)


def test_a_device_add_that_fails_midway_leaves_no_half_bundle(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    assert init(site) == 0
    (site / "lists.pub").unlink()  # e.g. a site folder copied without its public keys
    assert add(site, "door-1", tmp_path / "d1") == 78
    assert "lists.pub" in capsys.readouterr().err
    assert not (tmp_path / "d1").exists()  # no bundle with a key but no trust anchors to install by mistake
    assert manifest.load(site).devices == ()
