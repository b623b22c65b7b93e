"""Credential config sections and the verifier factory, from TOML to an ordered verifier list."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from entryscan.device.access.credentials.eu_dcc import TrustList
from entryscan.device.access.credentials.factory import build_verifiers
from entryscan.device.config.settings import parse_config
from entryscan.device.errors import ConfigError
from tests.paths import TESTDATA

DCC_CASE = TESTDATA / "eu-dcc" / "common" / "2DCode" / "raw" / "CO3.json"
BASE = """
[device]
id = "door-1"
site = "hq"
door = "main"
[mqtt]
url = "mqtt://localhost"
[credentials.badge]
codes_file = "badges.txt"
"""


def _setup(tmp_path: Path) -> None:
    (tmp_path / "badges.txt").write_text("CODE-1\n")
    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    (tmp_path / "issuer.pub").write_bytes(pub.public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo))
    cert = json.loads(DCC_CASE.read_text())["TESTCTX"]["CERTIFICATE"]
    import hashlib
    kid = base64.b64encode(hashlib.sha256(base64.b64decode(cert)).digest()[:8]).decode()
    (tmp_path / "dsc.json").write_text(json.dumps([{"kid": kid, "country": "AT", "certificateType": "DSC",
                                                    "rawData": cert}]))


FULL = BASE + f"""
[credentials.signed_pass]
trusted_keys = ["issuer.pub"]
[credentials.eu_dcc]
trust_list = "dsc.json"
rules = "none"
[credentials.shc]
issuers = [{{iss = "https://spec.smarthealth.cards/examples/issuer", jwks = "{TESTDATA}/shc/spec-issuer/jwks.json", crl = "{TESTDATA}/shc/spec-issuer/crl-3Kfdg.json"}}]
[credentials.cccd]
"""


def test_full_config_builds_prefix_types_first_and_badges_last(tmp_path: Path) -> None:
    _setup(tmp_path)
    cfg = parse_config(FULL, tmp_path)
    verifiers = build_verifiers(cfg.credentials, b"k" * 32)
    assert [v.type for v in verifiers] == ["signed_pass", "eu_dcc", "shc", "cccd", "badge"]
    payloads = {b"ES1:x": "signed_pass", b"HC1:x": "eu_dcc", b"shc:/00": "shc", b"1|2|3|4|5|6": "cccd",
                b"CODE-1": "badge"}
    for payload, kind in payloads.items():
        assert next(v for v in verifiers if v.matches(payload)).type == kind


def test_absent_sections_disable_their_types(tmp_path: Path) -> None:
    _setup(tmp_path)
    verifiers = build_verifiers(parse_config(BASE, tmp_path).credentials, b"k" * 32)
    assert [v.type for v in verifiers] == ["badge"]


@pytest.mark.parametrize(
    ("snippet", "key"),
    [("[credentials.eu_dcc]\ntrust_list = 'dsc.json'\nrules = 'eu'\n", "credentials.eu_dcc.rules"),
     ("[credentials.eu_dcc]\ntrust_list = 'dsc.json'\nextra = 1\n", "credentials.eu_dcc.extra"),
     ("[credentials.signed_pass]\ntrusted_keys = []\n", "credentials.signed_pass.trusted_keys"),
     ("[credentials.shc]\nissuers = [{iss = 'http://x', jwks = 'j.json'}]\n", "credentials.shc.issuers[0].iss"),
     ("[credentials.shc]\nissuers = []\n", "credentials.shc.issuers")],
)
def test_schema_errors_name_the_key(tmp_path: Path, snippet: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + snippet, tmp_path)
    assert info.value.key == key


@pytest.mark.parametrize(
    ("snippet", "key"),
    [("[credentials.signed_pass]\ntrusted_keys = ['missing.pub']\n", "credentials.signed_pass.trusted_keys[0]"),
     ("[credentials.signed_pass]\ntrusted_keys = ['badges.txt']\n", "credentials.signed_pass.trusted_keys[0]"),
     ("[credentials.eu_dcc]\ntrust_list = 'missing.json'\n", "credentials.eu_dcc.trust_list"),
     ("[credentials.eu_dcc]\ntrust_list = 'badges.txt'\n", "credentials.eu_dcc.trust_list")],
)
def test_unreadable_trust_material_is_a_config_error(tmp_path: Path, snippet: str, key: str) -> None:
    _setup(tmp_path)
    with pytest.raises(ConfigError) as info:
        build_verifiers(parse_config(BASE + snippet, tmp_path).credentials, b"k" * 32)
    assert info.value.key == key


def test_trust_list_skips_entries_with_a_wrong_kid_or_type(tmp_path: Path) -> None:
    _setup(tmp_path)
    good = json.loads((tmp_path / "dsc.json").read_text())[0]
    entries = [good, good | {"kid": base64.b64encode(b"12345678").decode()}, good | {"certificateType": "CSCA"},
               {"rawData": "not base64!"}]
    (tmp_path / "mixed.json").write_text(json.dumps(entries))
    trust = TrustList.from_file(tmp_path / "mixed.json")
    assert len(trust) == 1
    (tmp_path / "none.json").write_text(json.dumps(entries[1:]))
    with pytest.raises(ConfigError):
        TrustList.from_file(tmp_path / "none.json")
