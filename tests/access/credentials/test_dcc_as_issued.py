"""EU DCCs as issuers really made them, signed by our own test DSC: tag-0 date-times, several doses under 1.0.x."""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from entryscan.device.access.credentials import cose, eu_dcc
from entryscan.device.access.credentials.base import Pseudonymizer, VerifyContext
from entryscan.device.access.credentials.base45 import b45encode
from entryscan.device.errors import CredentialError

NOW = dt.datetime(2021, 9, 1, 12, tzinfo=dt.UTC)
DSC_KEY = ec.generate_private_key(ec.SECP256R1())


def _dsc_der() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "entryscan test DSC")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(DSC_KEY.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2021, 5, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2023, 5, 1, tzinfo=dt.UTC))
            .sign(DSC_KEY, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


DSC_DER = _dsc_der()
KID = hashlib.sha256(DSC_DER).digest()[:8]
VERIFIER = eu_dcc.EuDccVerifier(eu_dcc.TrustList([eu_dcc.Dsc.from_der(DSC_DER, "XX")]))
CTX = VerifyContext(now=NOW, clock_synced=True, site="hq", door="main", pseudonymize=Pseudonymizer(b"k" * 32))


def dose(n: int, day: object, **extra: Any) -> dict[str, Any]:
    return {"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215", "dn": n, "sd": 2,
            "dt": day, "co": "XX", "is": "Test issuer", "ci": f"URN:UVCI:01:XX:DOSE{n}#A", **extra}


def lab_test(sc: object, **extra: Any) -> dict[str, Any]:
    return {"tg": "840539006", "tt": "LP6464-4", "sc": sc, "tr": "260415000", "tc": "Test centre", "co": "XX",
            "is": "Test issuer", "ci": "URN:UVCI:01:XX:TEST#B", **extra}


def issue(ver: str, **groups: Any) -> bytes:
    """An HC1 certificate from our test DSC, with the hcert exactly as given (cbor2 writes datetimes as tag 0)."""
    hcert = {"ver": ver, "nam": {"fn": "Muster", "fnt": "MUSTER", "gn": "Erika", "gnt": "ERIKA"},
             "dob": "1964-08-12"}
    hcert.update(groups)
    claims = {1: "XX", 6: int(NOW.timestamp()) - 86400, 4: int(NOW.timestamp()) + 86400, -260: {1: hcert}}
    signed = cose.sign(cbor2.dumps(claims, datetime_as_timestamp=False), DSC_KEY, KID)
    return ("HC1:" + b45encode(zlib.compress(signed))).encode()


def reason(payload: bytes) -> str:
    with pytest.raises(CredentialError) as info:
        VERIFIER.verify(payload, CTX)
    return info.value.reason


SAMPLED = dt.datetime(2021, 8, 31, 9, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("ver", ["1.0.0", "1.3.0"])
def test_tag0_sample_time_and_result_time_are_accepted(ver: str) -> None:
    verified = VERIFIER.verify(issue(ver, t=[lab_test(SAMPLED, dr=SAMPLED + dt.timedelta(hours=3))]), CTX)
    assert verified.extra["certificate_type"] == "t" and verified.summary.role == "test"


def test_tag0_vaccination_date_time_only_under_1_0() -> None:
    assert VERIFIER.verify(issue("1.0.0", v=[dose(1, SAMPLED)]), CTX).summary.role == "vaccination"
    assert reason(issue("1.3.0", v=[dose(1, SAMPLED)])) == "malformed"  # dt is a date from 1.1 on


@pytest.mark.parametrize("where", ["dob", "nam", "ci", "tc"])
def test_tag0_where_the_schema_has_no_date_time_is_malformed(where: str) -> None:
    entry = lab_test("2021-08-31T09:30:00Z")
    fields: dict[str, Any] = {"t": [entry]}
    if where in ("ci", "tc"):
        entry[where] = SAMPLED
    else:
        fields[where] = SAMPLED if where == "dob" else {"fnt": SAMPLED}
    assert reason(issue("1.0.0", **fields)) == "malformed"


def test_tag0_on_a_cwt_time_or_around_a_non_string_is_malformed() -> None:
    claims = {1: "XX", 6: cbor2.CBORTag(0, "2021-08-31T00:00:00Z"),
              -260: {1: {"ver": "1.3.0", "nam": {"fnt": "X"}, "dob": "1964", "t": [lab_test("2021-08-31")]}}}
    assert reason(("HC1:" + b45encode(zlib.compress(cose.sign(cbor2.dumps(claims), DSC_KEY, KID)))).encode()) \
        == "malformed"
    assert reason(issue("1.3.0", t=[lab_test(cbor2.CBORTag(0, 1630402200))])) == "malformed"
    assert reason(issue("1.3.0", t=[lab_test(cbor2.CBORTag(0, "yesterday"))])) == "malformed"


@pytest.mark.parametrize("ver", ["1.0.0", "1.0.1"])
def test_several_vaccination_entries_under_1_0_are_accepted(ver: str) -> None:
    verified = VERIFIER.verify(issue(ver, v=[dose(1, "2021-05-01"), dose(2, "2021-06-01")]), CTX)
    assert verified.summary.role == "vaccination"
    # The certificate id pseudonymised is that of the last dose.
    assert verified.summary.token_id == CTX.pseudonymize("eu_dcc_uvci", "URN:UVCI:01:XX:DOSE2#A")


@pytest.mark.parametrize(("ver", "entries"), [
    ("1.2.1", 2), ("1.3.0", 2), ("1.0.0", 10), ("1.0.0", 0),
])
def test_entry_counts_the_schema_refused_stay_refused(ver: str, entries: int) -> None:
    doses = [dose(1 + i % 9, "2021-05-01") for i in range(entries)]
    assert reason(issue(ver, v=doses)) == "malformed"


def test_every_entry_needs_its_required_fields() -> None:
    second = dose(2, "2021-06-01")
    del second["ci"]
    assert reason(issue("1.0.0", v=[dose(1, "2021-05-01"), second])) == "malformed"


def test_two_types_stay_refused_under_1_0() -> None:
    assert reason(issue("1.0.0", v=[dose(1, "2021-05-01")], t=[lab_test("2021-08-31T09:30:00Z")])) == "malformed"
