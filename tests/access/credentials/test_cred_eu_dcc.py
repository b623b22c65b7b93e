"""EU DCC verifier behaviour beyond the conformance table: keys, clock trust, summary contents."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from typing import Any

import cbor2
import pytest

from entryscan.device.access.credentials import eu_dcc
from entryscan.device.access.credentials.base import Pseudonymizer, VerifyContext
from entryscan.device.access.credentials.base45 import b45decode, b45encode
from entryscan.device.errors import CredentialError
from tests.paths import TESTDATA

RAW = TESTDATA / "eu-dcc" / "common" / "2DCode" / "raw"


def _case(name: str) -> dict[str, Any]:
    return json.loads((RAW / name).read_text())


def _trust(case: dict[str, Any]) -> eu_dcc.TrustList:
    return eu_dcc.TrustList([eu_dcc.Dsc.from_der(base64.b64decode(case["TESTCTX"]["CERTIFICATE"]))])


def _ctx(at: dt.datetime, synced: bool = True) -> VerifyContext:
    return VerifyContext(now=at, clock_synced=synced, site="hq", door="main", pseudonymize=Pseudonymizer(b"k" * 32))


CO3 = _case("CO3.json")
CLOCK = dt.datetime(2021, 5, 3, 18, tzinfo=dt.UTC)


def test_valid_certificate_summary_holds_personal_data_only_in_details() -> None:
    verified = eu_dcc.EuDccVerifier(_trust(CO3)).verify(CO3["PREFIX"].encode(), _ctx(CLOCK))
    summary = verified.summary
    assert set(summary.details) == {"name", "birth_date"}
    assert summary.details["birth_date"] == CO3["JSON"]["dob"]
    assert CO3["JSON"]["nam"]["fn"] not in summary.subject + summary.token_id + json.dumps(verified.extra)
    assert summary.role in {"vaccination", "test", "recovery"}
    assert verified.not_after is not None and verified.not_before is not None


def test_unknown_kid_is_unknown_key() -> None:
    other = _case("CO1.json")  # an RSA DSC with a different kid
    with pytest.raises(CredentialError) as info:
        eu_dcc.EuDccVerifier(_trust(other)).verify(CO3["PREFIX"].encode(), _ctx(CLOCK))
    assert info.value.reason == "unknown_key"


def test_unsynced_clock_leaves_time_to_the_policy() -> None:
    expired = _case("CO17.json")
    verifier = eu_dcc.EuDccVerifier(_trust(expired))
    with pytest.raises(CredentialError) as info:
        verifier.verify(expired["PREFIX"].encode(), _ctx(CLOCK))
    assert info.value.reason == "expired"
    verified = verifier.verify(expired["PREFIX"].encode(), _ctx(CLOCK, synced=False))
    assert verified.not_after is not None and verified.not_after < CLOCK  # the policy will deny it


def test_exp_second_itself_is_still_valid() -> None:
    verifier = eu_dcc.EuDccVerifier(_trust(CO3))
    msg = eu_dcc.decode_cose(zlib.decompress(b45decode(CO3["PREFIX"][4:])))
    exp = eu_dcc.parse_claims(msg).expires
    assert exp is not None
    assert verifier.verify(CO3["PREFIX"].encode(), _ctx(exp)).not_after == exp + dt.timedelta(seconds=1)
    with pytest.raises(CredentialError):
        verifier.verify(CO3["PREFIX"].encode(), _ctx(exp + dt.timedelta(seconds=1)))


@pytest.mark.parametrize("alg", [None, 5, -8, "ES256"])
def test_algorithms_other_than_es256_and_ps256_are_bad_signature(alg: object) -> None:
    msg = eu_dcc.decode_cose(zlib.decompress(b45decode(CO3["PREFIX"][4:])))
    protected = dict(msg.protected)
    if alg is None:
        protected.pop(1)
    else:
        protected[1] = alg
    forged = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(protected), {}, msg.payload, msg.signature]))
    with pytest.raises(CredentialError) as info:
        eu_dcc.EuDccVerifier(_trust(CO3)).verify(b"HC1:" + b45encode(zlib.compress(forged)).encode(), _ctx(CLOCK))
    assert info.value.reason == "bad_signature"


def test_non_ascii_and_wrong_prefix() -> None:
    verifier = eu_dcc.EuDccVerifier(_trust(CO3))
    with pytest.raises(CredentialError) as info:
        verifier.verify(b"HC1:\xc3\xa9", _ctx(CLOCK))
    assert info.value.reason == "malformed"
    with pytest.raises(CredentialError) as info:
        verifier.verify(b"HC2:" + CO3["PREFIX"][4:].encode(), _ctx(CLOCK))
    assert info.value.reason == "unknown_format"
    assert verifier.matches(b"HC1:x") and not verifier.matches(b"HC2:x")
