"""SMART Health Cards: the spec examples verify; negatives are minted with the published private key."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from entryscan.device.access.credentials.base import Pseudonymizer, VerifyContext
from entryscan.device.access.credentials.shc import ShcVerifier, jws_from_numeric
from entryscan.device.config.credentials import ShcConfig, ShcIssuerConfig
from entryscan.device.errors import ConfigError, CredentialError
from tests.paths import TESTDATA

SHC = TESTDATA / "shc"
ISS = "https://spec.smarthealth.cards/examples/issuer"
KID = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"
CTX = VerifyContext(now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), clock_synced=True, site="hq", door="main",
                    pseudonymize=Pseudonymizer(b"k" * 32))


def _verifier(crl: bool = False) -> ShcVerifier:
    issuer = ShcIssuerConfig(ISS, SHC / "spec-issuer" / "jwks.json",
                             SHC / "spec-issuer" / "crl-3Kfdg.json" if crl else None)
    return ShcVerifier.from_config(ShcConfig((issuer,)))


def _private_key(kid: str = KID) -> ec.EllipticCurvePrivateKey:
    keys = json.loads((SHC / "spec-issuer" / "jwks.private.json").read_text())["keys"]
    jwk = next(k for k in keys if k["kid"] == kid)
    d = int.from_bytes(base64.urlsafe_b64decode(jwk["d"] + "=="), "big")
    return ec.derive_private_key(d, ec.SECP256R1())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _example_claims() -> dict[str, Any]:
    text = (SHC / "examples" / "covid-vaccination-example-00.txt").read_text().strip()
    body = jws_from_numeric(text.encode()).split(".")[1]
    return json.loads(zlib.decompress(base64.urlsafe_b64decode(body + "=="), -15))


def mint(claims: dict[str, Any] | None = None, *, header: dict[str, Any] | None = None, body: bytes | None = None,
         deflate: bool = True, trailing: bytes = b"", key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """Sign a card like an issuer would, with knobs for every way it can be wrong."""
    raw = body if body is not None else json.dumps(claims or _example_claims(), separators=(",", ":")).encode()
    if deflate:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        raw = compressor.compress(raw) + compressor.flush() + trailing
    head = _b64(json.dumps(header or {"zip": "DEF", "alg": "ES256", "kid": KID}).encode())
    signing_input = f"{head}.{_b64(raw)}"
    r, s = decode_dss_signature((key or _private_key()).sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    jws = f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    return b"shc:/" + "".join(f"{ord(c) - 45:02d}" for c in jws).encode()


def _reason(payload: bytes, verifier: ShcVerifier | None = None) -> str:
    with pytest.raises(CredentialError) as info:
        (verifier or _verifier()).verify(payload, CTX)
    return info.value.reason


@pytest.mark.parametrize("name", ["covid-vaccination-example-00.txt", "insurance-card-example-00.txt"])
def test_spec_examples_verify(name: str) -> None:
    payload = (SHC / "examples" / name).read_bytes().strip()
    verified = _verifier(crl=True).verify(payload, CTX)
    assert verified.issuer == ISS and verified.extra["kid"] == KID
    assert verified.not_after is None and verified.not_before is not None  # 2021 cards: nbf only


def test_covid_example_content() -> None:
    payload = (SHC / "examples" / "covid-vaccination-example-00.txt").read_bytes().strip()
    verified = _verifier().verify(payload, CTX)
    assert verified.summary.details["name"] == "John B. Anyperson"
    assert verified.not_before is not None and verified.not_before.date() == dt.date(2021, 9, 21)
    assert "https://smarthealth.cards#covid19" in verified.extra["types"]
    assert "Anyperson" not in verified.summary.subject


def test_a_freshly_minted_card_verifies() -> None:
    assert _verifier().verify(mint(), CTX).issuer == ISS


def test_wrong_issuer_url_is_denied() -> None:
    claims = _example_claims() | {"iss": "https://evil.example/issuer"}
    assert _reason(mint(claims)) == "bad_signature"


def test_trailing_data_after_deflate_is_denied() -> None:
    assert _reason(mint(trailing=b"\x00extra")) == "malformed"


def test_trailing_data_after_the_jws_is_denied() -> None:
    assert _reason(mint() + b"5656") in {"malformed", "bad_signature"}


def test_bom_in_payload_is_denied() -> None:
    body = b"\xef\xbb\xbf" + json.dumps(_example_claims()).encode()
    assert _reason(mint(body=body)) == "malformed"


def test_missing_deflate_is_denied() -> None:
    assert _reason(mint(deflate=False)) == "malformed"  # zip header says DEF, body is plain JSON
    plain_header = {"alg": "ES256", "kid": KID}
    assert _reason(mint(header=plain_header, deflate=False)) == "malformed"


@pytest.mark.parametrize("alg", ["HS256", "none", "RS256", None])
def test_unexpected_algorithms_are_bad_signature(alg: str | None) -> None:
    assert _reason(mint(header={"zip": "DEF", "alg": alg, "kid": KID})) == "bad_signature"


def test_unknown_kid_and_foreign_key() -> None:
    assert _reason(mint(header={"zip": "DEF", "alg": "ES256", "kid": "nope"})) == "unknown_key"
    assert _reason(mint(key=ec.generate_private_key(ec.SECP256R1()))) == "bad_signature"


def test_revoked_rid_is_revoked() -> None:
    claims = _example_claims()
    claims["vc"]["rid"] = "FKDIxsTCGlU"
    assert _reason(mint(claims), _verifier(crl=True)) == "revoked"
    assert _verifier(crl=False).verify(mint(claims), CTX).issuer == ISS


def test_timestamped_rid_revokes_only_cards_issued_before() -> None:
    claims = _example_claims()
    claims["vc"]["rid"] = "vwAjHdarZuc"
    claims["nbf"] = 1664492124 - 10
    assert _reason(mint(claims), _verifier(crl=True)) == "revoked"
    claims["nbf"] = 1664492124 + 10
    assert _verifier(crl=True).verify(mint(claims), CTX).not_before is not None


@pytest.mark.parametrize("payload", [b"shc:/", b"shc:/123", b"shc:/99", b"shc:/1/2/5676", b"shc:/56a6",
                                     b"shc:/" + b"56" * 10])
def test_bad_numeric_encoding_is_malformed(payload: bytes) -> None:
    assert _reason(payload) == "malformed"


def test_duplicate_json_keys_and_missing_nbf_are_malformed() -> None:
    body = json.dumps(_example_claims()).encode()[:-1] + b',"iss":"x"}'
    assert _reason(mint(body=body)) == "malformed"
    claims = _example_claims()
    del claims["nbf"]
    assert _reason(mint(claims)) == "malformed"


def test_deep_json_nesting_is_refused() -> None:
    body = b'{"vc":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert _reason(mint(body=body)) == "too_large"


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text('{"keys": []}')
    with pytest.raises(ConfigError) as info:
        ShcVerifier.from_config(ShcConfig((ShcIssuerConfig(ISS, tmp_path / "empty.json"),)))
    assert info.value.key == "credentials.shc.issuers[0].jwks"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789/", max_size=300))
def test_arbitrary_digit_strings_only_raise_credential_error(digits: str) -> None:
    try:
        _verifier().verify(b"shc:/" + digits.encode(), CTX)
    except CredentialError as exc:
        assert exc.reason in {"malformed", "too_large", "bad_signature", "unknown_key"}


@pytest.mark.parametrize("digits", [4301, 10_000])
def test_an_integer_beyond_pythons_conversion_limit_is_malformed(digits: int) -> None:
    # Python refuses int() of more than 4,300 digits with ValueError; a signed card must not leak it.
    claims = _example_claims()
    claims["vc"]["huge"] = 7  # placeholder, replaced in the JSON text below
    body = json.dumps(claims, separators=(",", ":")).replace('"huge":7', '"huge":' + "9" * digits).encode()
    assert _reason(mint(body=body)) == "malformed"
