#!/usr/bin/env python3
"""Run the EU DCC verifier over dgc-testdata and print agreement per EXPECTED* key.

Each case is evaluated at its own VALIDATIONCLOCK with its own certificate as
the whole trust list. Both the PREFIX text and, where the case has one, the
2DCODE PNG (decoded with zxing-cpp) go through the verifier. Upstream quirks
(the EXPTECTEDEXPIRED spelling, EXPECTEDRESULTS nested in itself) are handled
here, in the loader, never in the product.

Agreement rules, per key:
- a pipeline step key (UNPREFIX ... SCHEMAVALIDATION) expected true agrees when
  verification got past that step; expected false agrees when verification
  failed at exactly that step with a reason allowed for it, or at an earlier
  step the case leaves untested (e.g. CBO2's broken CWT fails our CBOR
  decoding before the signature check the case names);
- PICTUREDECODE: the PNG decodes to PREFIX (true) or does not (false); cases
  that expect it but carry no PNG are reported as not evaluable;
- VALIDJSON: the decoded hcert equals the case's JSON;
- VALIDOBJECT: the decoded hcert passes the structure check;
- ENCODE: our intermediate results equal the case's COMPRESSED/COSE/CBOR.

Usage: python scripts/dcc_conformance.py [TESTDATA_DIR]   (exit 1 on any disagreement)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from entryscan.device.access.credentials import eu_dcc, hcert
from entryscan.device.access.credentials.base import Verified, VerifyContext
from entryscan.device.errors import CredentialError
from entryscan.device.model import Reason

DEFAULT_DATA = ROOT / "tests" / "data" / "eu-dcc"
STEP_REASONS: dict[eu_dcc.Step, set[str]] = {
    eu_dcc.Step.UNPREFIX: {Reason.UNKNOWN_FORMAT, Reason.MALFORMED, Reason.TOO_LARGE},
    eu_dcc.Step.B45DECODE: {Reason.MALFORMED},
    eu_dcc.Step.COMPRESSION: {Reason.MALFORMED, Reason.TOO_LARGE},
    eu_dcc.Step.DECODE: {Reason.MALFORMED, Reason.TOO_LARGE},
    eu_dcc.Step.VERIFY: {Reason.BAD_SIGNATURE, Reason.UNKNOWN_KEY, Reason.MALFORMED},
    eu_dcc.Step.KEYUSAGE: {Reason.RULE_FAILED},
    eu_dcc.Step.EXPIRATIONCHECK: {Reason.EXPIRED, Reason.NOT_YET_VALID},
    eu_dcc.Step.SCHEMAVALIDATION: {Reason.MALFORMED},
}
ALIASES = {"EXPTECTEDEXPIRED": "EXPECTEDEXPIRATIONCHECK"}


@dataclass
class Case:
    name: str
    raw: dict[str, Any]
    expected: dict[str, bool]
    now: dt.datetime
    trust: eu_dcc.TrustList


@dataclass
class Outcome:
    verified: Verified | None = None
    error: CredentialError | None = None

    @property
    def step(self) -> eu_dcc.Step | None:
        return self.error.step if isinstance(self.error, eu_dcc.DccError) else None

    def key(self) -> str:
        if self.error is None:
            return "accept"
        return f"{self.step.name if self.step else '?'}:{self.error.reason}"


@dataclass
class Result:
    case: Case
    text: Outcome
    image_text: str | None
    image: Outcome | None
    agree: dict[str, bool] = field(default_factory=dict)


def expected_results(raw: Mapping[str, Any]) -> dict[str, bool]:
    """EXPECTEDRESULTS with upstream quirks normalised: nesting flattened, misspellings mapped.

    EXPTECTEDEXPIRED appears (BG) only with true on certificates that are within
    iat..exp at their clock, so it is the expiration check passing, not "expired".
    """
    out: dict[str, bool] = {}
    stack = [raw.get("EXPECTEDRESULTS", {})]
    while stack:
        table = stack.pop()
        for key, value in table.items():
            if isinstance(value, Mapping):
                stack.append(value)
            elif isinstance(value, bool):
                out[ALIASES.get(key, key)] = value
    return out


def parse_clock(text: str) -> dt.datetime:
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)
    clock = dt.datetime.fromisoformat(text)
    return clock if clock.tzinfo else clock.replace(tzinfo=dt.UTC)


def load_cases(root: Path = DEFAULT_DATA) -> Iterator[Case]:
    for path in sorted(root.glob("*/2DCode/raw/*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        ctx = raw["TESTCTX"]
        dsc = eu_dcc.Dsc.from_der(base64.b64decode(ctx["CERTIFICATE"]))
        name = str(path.relative_to(root)).replace("/2DCode/raw/", "/")
        yield Case(name, raw, expected_results(raw), parse_clock(ctx["VALIDATIONCLOCK"]),
                   eu_dcc.TrustList([dsc]))


def run(verifier: eu_dcc.EuDccVerifier, payload: bytes, now: dt.datetime) -> Outcome:
    ctx = VerifyContext(now=now, clock_synced=True, site="site", door="door",
                        pseudonymize=lambda kind, ident: "pseudonym")
    try:
        return Outcome(verified=verifier.verify(payload, ctx))
    except CredentialError as exc:
        return Outcome(error=exc)


def decode_png(b64: str) -> str | None:
    import zxingcpp
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(base64.b64decode(b64)))
        image.load()
    except (OSError, ValueError, binascii.Error):
        return None
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode,
                                     text_mode=zxingcpp.TextMode.Plain)
    return results[0].text if results else None


def evaluate(case: Case) -> Result:
    verifier = eu_dcc.EuDccVerifier(case.trust)
    text = run(verifier, case.raw["PREFIX"].encode("utf-8"), case.now)
    image_text = decode_png(case.raw["2DCODE"]) if case.raw.get("2DCODE") else None
    image = run(verifier, image_text.encode("utf-8"), case.now) if image_text is not None else None
    result = Result(case, text, image_text, image)
    for key, want in case.expected.items():
        judged = judge(key, want, result)
        if judged is not None:
            result.agree[key] = judged
    return result


def judge(key: str, want: bool, result: Result) -> bool | None:
    name = key.removeprefix("EXPECTED")
    if name in eu_dcc.Step.__members__:
        return _judge_step(eu_dcc.Step[name], want, result)
    checks: dict[str, Callable[[Result], bool | None]] = {"PICTUREDECODE": _picture_ok, "VALIDJSON": _json_ok, "VALIDOBJECT": _object_ok,
              "ENCODE": _encode_ok}
    got = checks[name](result) if name in checks else None
    return None if got is None else got == want


def _judge_step(step: eu_dcc.Step, want: bool, result: Result) -> bool:
    failed_at = result.text.step
    if want:
        return failed_at is None or failed_at > step
    if failed_at is None or result.text.error is None:
        return False
    untested = f"EXPECTED{failed_at.name}" not in result.case.expected
    return (failed_at == step or (failed_at < step and untested)) and \
        result.text.error.reason in STEP_REASONS[failed_at]


def _picture_ok(result: Result) -> bool | None:
    if not result.case.raw.get("2DCODE"):
        return None  # several cases expect a picture step but ship no PNG: not evaluable
    return result.image_text is not None and result.image_text == result.case.raw["PREFIX"]


def _decoded_hcert(result: Result) -> Any:
    try:
        msg = eu_dcc.decode_cose(eu_dcc.decompress(eu_dcc.debase45(eu_dcc.unprefix(
            result.case.raw["PREFIX"].encode()))))
        return eu_dcc.parse_claims(msg).hcert
    except CredentialError:
        return None


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _json_ok(result: Result) -> bool | None:
    raw = result.case.raw
    if raw.get("JSON") is None:
        return None
    if _upstream_inconsistent(raw):
        return None
    cert = _decoded_hcert(result)
    return cert is not None and _as_json(cert) == raw["JSON"]


def _upstream_inconsistent(raw: Mapping[str, Any]) -> bool:
    """True when a case's own CBOR and JSON fields disagree (FR test_pcr_ok shifts
    times by two hours in JSON): its VALIDJSON expectation cannot be met by anyone."""
    try:
        item = cbor2.loads(bytes.fromhex(raw.get("CBOR", "")))
    except (ValueError, cbor2.CBORDecodeError):
        return False
    if isinstance(item, Mapping) and isinstance(item.get(-260), Mapping):
        item = item[-260].get(1)
    return item is not None and _as_json(item) != raw["JSON"]


def _object_ok(result: Result) -> bool:
    cert = _decoded_hcert(result)
    try:
        return cert is not None and bool(hcert.validate(cert))
    except CredentialError:
        return False


def _encode_ok(result: Result) -> bool:
    raw = result.case.raw
    try:
        compressed = eu_dcc.debase45(eu_dcc.unprefix(raw["PREFIX"].encode()))
        cose_bytes = eu_dcc.decompress(compressed)
    except CredentialError:
        return False
    checks = [("COMPRESSED", compressed), ("COSE", cose_bytes)]
    ok = all(bytes.fromhex(raw[k]) == v for k, v in checks if k in raw)
    if "CBOR" in raw:
        # Most countries give the hcert alone; FR gives the whole CWT payload.
        cbor_bytes = bytes.fromhex(raw["CBOR"])
        ok = ok and (cbor2.loads(cbor_bytes) == _decoded_hcert(result)
                     or cbor_bytes == eu_dcc.decode_cose(cose_bytes).payload)
    return ok


def table(results: list[Result]) -> tuple[str, int]:
    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for r in results:
        for key, ok in r.agree.items():
            total[key] += 1
            agree[key] += ok
        for key in r.case.expected.keys() - r.agree.keys():
            skipped[key] += 1
    image_total = sum(r.image is not None for r in results)
    image_same = sum(r.image is not None and r.image.key() == r.text.key() for r in results)
    lines = [f"{'EXPECTED key':<28} {'agree':>5} / {'total':<5} not evaluable"]
    lines += [f"{k:<28} {agree[k]:>5} / {total[k]:<5} {skipped[k] or ''}" for k in sorted(total | skipped)]
    lines.append(f"{'(PNG decision == PREFIX)':<28} {image_same:>5} / {image_total:<5}")
    disagreements = sum(total.values()) - sum(agree.values()) + image_total - image_same
    lines.append(f"cases: {len(results)}, disagreements: {disagreements}")
    return "\n".join(lines), disagreements


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA
    results = [evaluate(c) for c in load_cases(root)]
    for r in results:
        bad = sorted(k for k, ok in r.agree.items() if not ok)
        if bad:
            print(f"DISAGREE {r.case.name}: {bad} -> {r.text.key()}")
    text, disagreements = table(results)
    print(text)
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
