"""``verify``: time to verify one credential of each type, against decoding one 640x480 frame.

Every verifier is the real one with real trust material: signed passes minted here (Ed25519 and
ES256), an EU DCC conformance case with its DSC as the trust list, the SMART Health Card spec
example with the spec issuer's JWKS, a CCCD vector, and a 1,000-code badge list. The frame decode
is the raw zxing-cpp call on the sample door's frame with a code, measured in the same run, so the
ratio verify/decode says how much a credential adds to a scan.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import SAMPLE_DOOR, TESTDATA, Mode, emit, interleaved, median, percentile
from entryscan.device.access.credentials.badge import BadgeList
from entryscan.device.access.credentials.base import CredentialVerifier, Pseudonymizer, VerifyContext

KEY = b"bench-key-0123456789abcdef012345"
DCC_CASE = TESTDATA / "eu-dcc" / "DE" / "2DCode" / "raw" / "1.json"
SHC_EXAMPLE = TESTDATA / "shc" / "examples" / "covid-vaccination-example-00.txt"
SHC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"


def context(now: dt.datetime) -> VerifyContext:
    return VerifyContext(now=now, clock_synced=True, site="hq", door="main", pseudonymize=Pseudonymizer(KEY))


def signed_pass_cases() -> list[tuple[str, CredentialVerifier, bytes, VerifyContext]]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    from entryscan.device.access.credentials.signed_pass import PassClaims, SignedPassVerifier, issue

    now = dt.datetime.now(dt.UTC)
    claims = PassClaims(subject="staff-0042", name="A. Person", role="staff", sites=("hq",),
                        valid_from=now - dt.timedelta(hours=1), valid_until=now + dt.timedelta(days=30))
    cases: list[tuple[str, CredentialVerifier, bytes, VerifyContext]] = []
    for label, key in (("signed_pass_ed25519", ed25519.Ed25519PrivateKey.generate()),
                       ("signed_pass_es256", ec.generate_private_key(ec.SECP256R1()))):
        payload = issue(claims, key, now).encode()
        cases.append((label, SignedPassVerifier([key.public_key()]), payload, context(now)))
    return cases


def dcc_case(folder: Path) -> tuple[str, CredentialVerifier, bytes, VerifyContext]:
    from entryscan.device.access.credentials.eu_dcc import EuDccVerifier

    case = json.loads(DCC_CASE.read_text())
    der = base64.b64decode(case["TESTCTX"]["CERTIFICATE"])
    import hashlib

    kid = base64.b64encode(hashlib.sha256(der).digest()[:8]).decode()
    trust = folder / "dsc.json"
    trust.write_text(json.dumps([{"kid": kid, "country": "DE", "certificateType": "DSC",
                                  "rawData": case["TESTCTX"]["CERTIFICATE"]}]))
    at = dt.datetime.fromisoformat(case["TESTCTX"]["VALIDATIONCLOCK"])
    return "eu_dcc", EuDccVerifier.from_file(trust), case["PREFIX"].encode(), context(at)


def shc_case() -> tuple[str, CredentialVerifier, bytes, VerifyContext]:
    from entryscan.device.access.credentials.shc import ShcVerifier
    from entryscan.device.config.credentials import ShcConfig, ShcIssuerConfig

    jwks = TESTDATA / "shc" / "spec-issuer" / "jwks.json"
    verifier = ShcVerifier.from_config(ShcConfig(issuers=(ShcIssuerConfig(iss=SHC_ISSUER, jwks=jwks),)))
    payload = SHC_EXAMPLE.read_text().strip().encode()
    return "shc", verifier, payload, context(dt.datetime(2021, 10, 1, tzinfo=dt.UTC))


def cheap_cases() -> list[tuple[str, CredentialVerifier, bytes, VerifyContext]]:
    from entryscan.device.access.credentials.cccd import CccdVerifier

    now = dt.datetime.now(dt.UTC)
    vector = json.loads((TESTDATA / "cccd" / "vectors.json").read_text())[0]["payload"]
    badges = BadgeList(KEY, [f"STAFF-{i:04d}" for i in range(1000)])
    return [("badge", badges, b"STAFF-0500", context(now)), ("cccd", CccdVerifier(), vector.encode(), context(now))]


def frame_decode() -> Callable[[object], object]:
    from entryscan.device.scan.decoders import ZxingDecoder, load_grey

    frame = load_grey(SAMPLE_DOOR / "frames" / "002-staff-0001.png")
    decoder = ZxingDecoder()
    return lambda _: decoder.decode(frame)


def _verify_call(verifier: CredentialVerifier, payload: bytes, ctx: VerifyContext) -> Callable[[object], object]:
    return lambda _: verifier.verify(payload, ctx)


def main(mode: Mode) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cases = [*cheap_cases(), *signed_pass_cases(), dcc_case(Path(tmp)), shc_case()]
        methods: dict[str, Callable[[object], object]] = {"decode_640x480": frame_decode()}
        for label, verifier, payload, ctx in cases:
            verifier.verify(payload, ctx)  # must verify: a failing case would time the wrong path
            methods[label] = _verify_call(verifier, payload, ctx)
        times = interleaved(methods, [None], mode.pick(20, 400))
    decode_ms = median(times["decode_640x480"]) * 1000
    emit("verify", "median", decode_ms * 1000, "us", type="decode_640x480")
    for label, samples in times.items():
        if label == "decode_640x480":
            continue
        med_us = median(samples) * 1e6
        emit("verify", "median", med_us, "us", type=label)
        emit("verify", "p95", percentile(samples, 95) * 1e6, "us", type=label)
        emit("verify", "share_of_decode", med_us / (decode_ms * 1000), "ratio", type=label)
