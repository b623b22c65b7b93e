"""CCCD QR payloads: every shared vector parses as expected; personal data only in summary.details."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entryscan.device.access.credentials.base import Pseudonymizer, VerifyContext
from entryscan.device.access.credentials.cccd import CccdVerifier, parse
from entryscan.device.errors import CredentialError
from tests.paths import TESTDATA

VECTORS = json.loads((TESTDATA / "cccd" /
                      "vectors.json").read_text(encoding="utf-8"))
PSEUDO = Pseudonymizer(b"k" * 32)
CTX = VerifyContext(now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), clock_synced=True, site="hq", door="main",
                    pseudonymize=PSEUDO)
GOOD = "001090123456|012345678|Nguyễn Văn An|01011990|Nam|Hà Nội|15042021"


def test_vectors_present() -> None:
    assert len(VECTORS) >= 8


@pytest.mark.parametrize("vector", VECTORS, ids=[v["note"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    payload = vector["payload"].encode("utf-8")
    if vector["valid"] is True:
        fields = parse(payload)
        for key, value in vector["expect"].items():
            assert fields[key] == value, key
    else:
        # "parser-dependent" (31 February): this parser rejects impossible dates.
        with pytest.raises(CredentialError) as info:
            parse(payload)
        assert info.value.reason == "malformed"


def test_summary_keeps_personal_fields_in_details_only() -> None:
    verified = CccdVerifier().verify(GOOD.encode(), CTX)
    summary = verified.summary
    assert summary.subject == PSEUDO("cccd", "001090123456")
    assert summary.details == {"name": "Nguyễn Văn An", "birth_date": "1990-01-01", "id_number": "001090123456",
                               "sex": "Nam", "address": "Hà Nội", "old_id_number": "012345678"}
    outside = json.dumps([summary.type, summary.subject, summary.role, summary.token_id, verified.issuer,
                          verified.extra], ensure_ascii=False)
    for secret in ("001090123456", "Nguyễn", "1990", "Hà Nội", "012345678"):
        assert secret not in outside
    assert verified.extra["proof"] is False and not verified.time_bound


@pytest.mark.parametrize(
    "payload",
    ["001090123456|012345678|Nguyễn\u202e Văn An|01011990|Nam|Hà Nội|15042021",
     "001090123456|012345678|Nguyễn\x1b[2J|01011990|Nam|Hà Nội|15042021",
     "001090123456|0123456789|Nguyễn Văn An|01011990|Nam|Hà Nội|15042021",
     "001090123456|012345678|Nguyễn Văn An|01011990|X|Hà Nội|15042021",
     "001090123456|012345678|Nguyễn Văn An|01/011990|Nam|Hà Nội|15042021",
     "001090123456|012345678|Nguyễn Văn An|01011990|Nam|Hà Nội|15132021",
     "001090123456|012345678|Nguyễn Văn An|01012030|Nam|Hà Nội|15042021",
     "001090123456|012345678||01011990|Nam|Hà Nội|15042021",
     "001090123456|012345678|Nguyễn Văn An|01011990|Nam|Hà Nội|15042021\r\n\r\n"],
)
def test_invalid_payloads_are_malformed(payload: str) -> None:
    with pytest.raises(CredentialError) as info:
        CccdVerifier().verify(payload.encode(), CTX)
    assert info.value.reason == "malformed"


def test_invalid_utf8_is_malformed() -> None:
    with pytest.raises(CredentialError) as info:
        parse(GOOD.encode().replace("ễ".encode(), b"\xff"))
    assert info.value.reason == "malformed"


def test_matches_pipe_shaped_payloads_only() -> None:
    verifier = CccdVerifier()
    assert verifier.matches(GOOD.encode())
    assert not verifier.matches(b"HC1:NCFOXN%TS3DH") and not verifier.matches(b"a|b|c|d|e|f|g|h")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=6, max_size=7))
def test_arbitrary_fields_only_raise_malformed(fields: list[str]) -> None:
    payload = "|".join(fields).encode("utf-8", "surrogatepass")
    try:
        CccdVerifier().verify(payload, CTX)
    except CredentialError as exc:
        assert exc.reason in {"malformed", "too_large"}
