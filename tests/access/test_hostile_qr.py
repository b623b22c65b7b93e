"""Scenario 12: hostile QR payloads through the real policy (make_policy with every credential type).

Generated cases (tests/support/hostile_qr.py) go through ``Policy.decide`` of three doors built from a real
config (credentials, allowlist and registered-visitors modes), so every verifier sees them. Each must be a deny
with a stable reason code, no parser bug may be logged (a caught exception is a ``malformed`` deny plus an
error line), no log line and no event dict may carry the payload, the 99th percentile decision stays under
50 ms, and memory stays bounded. 20,000 cases in the default run; 1,000,000 behind ``-m soak``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import resource
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from entryscan.device.access.assemble import make_policy
from entryscan.device.access.clock import FixedClock
from entryscan.device.access.credentials import signed_pass
from entryscan.device.access.policy import Policy
from entryscan.device.config.settings import parse_config
from entryscan.device.keys import load_or_create_key
from entryscan.device.model import Code, Reason, Verdict
from entryscan.device.scan.loop import event_fields
from tests.paths import TESTDATA
from tests.support.hostile_qr import HostileQr

NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
DCC = json.loads((TESTDATA / "eu-dcc" / "common" / "2DCode" / "raw" / "CO3.json").read_text())
SHC_TEXT = (TESTDATA / "shc" / "examples" / "covid-vaccination-example-00.txt").read_bytes().strip()
CCCD = "001099012345|123456789|Nguyễn Văn An|01011990|Nam|12 Hàng Bài, Hà Nội|01012021".encode()
DENY_REASONS = frozenset(Reason) - {Reason.OK}
MODES = ('mode = "credentials"', 'mode = "allowlist"', 'mode = "visitors"\nvisitors = "registered"')


def _pem(key: ed25519.Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def door_folder(folder: Path) -> tuple[Path, bytes]:
    """Trust files for every credential type; returns the folder and a valid signed pass."""
    issuer, lister = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    (folder / "issuer.pub").write_bytes(_pem(issuer))
    (folder / "lister.pub").write_bytes(_pem(lister))
    (folder / "badges.txt").write_text("STAFF-0001\n")
    (folder / "visitors.txt").write_text("009999999999\n")  # nobody the generator can hit by chance
    cert = DCC["TESTCTX"]["CERTIFICATE"]
    kid = base64.b64encode(hashlib.sha256(base64.b64decode(cert)).digest()[:8]).decode()
    (folder / "dsc.json").write_text(json.dumps([{"kid": kid, "country": "AT", "rawData": cert}]))
    claims = signed_pass.PassClaims(subject="emp-1", name="Ann", sites=("elsewhere",))  # valid, but not here
    return folder, signed_pass.issue(claims, issuer, NOW).encode()


def config(mode: str) -> str:
    return f"""
[device]
id = "door-1"
site = "hq"
door = "main"
[mqtt]
url = "mqtt://localhost"
[journal]
path = "state/journal.db"
[policy]
{mode}
[credentials.badge]
codes_file = "badges.txt"
[credentials.signed_pass]
trusted_keys = ["issuer.pub"]
[credentials.eu_dcc]
trust_list = "dsc.json"
[credentials.shc]
issuers = [{{iss = "https://spec.smarthealth.cards/examples/issuer", jwks = "{TESTDATA}/shc/spec-issuer/jwks.json"}}]
[credentials.cccd]
registered_file = "visitors.txt"
[lists]
trusted_keys = ["lister.pub"]
max_age_s = 3600
"""


def policies(folder: Path) -> list[Policy]:
    made = []
    for mode in MODES:
        cfg = parse_config(config(mode), folder)
        key = load_or_create_key(cfg.subject_key_path, "privacy.subject_key_file")
        made.append(make_policy(cfg, FixedClock(NOW), key))
    return made


class Records(logging.Handler):
    """Every log record of every level, formatted, as the journal's and console's handlers would see it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, self.format(record) + (record.exc_text or "")))


@dataclass
class Campaign:
    cases: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)
    times: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def p99_ms(self) -> float:
        ordered = sorted(self.times)
        return ordered[int(len(ordered) * 0.99)] * 1000.0


def _leaks(payload: bytes, text: str) -> bool:
    """Whether ``text`` carries the payload (as text, base64 or hex); short payloads cannot be told apart."""
    if len(payload) < 12:
        return False
    probe = payload[:48]
    forms = (probe.decode("utf-8", "replace"), base64.b64encode(probe).decode()[:32], probe.hex())
    return any(form in text for form in forms)


def run_campaign(folder: Path, count: int, seed: int = 13) -> Campaign:
    folder, valid_pass = door_folder(folder)
    doors = policies(folder)
    generator = HostileQr([valid_pass, DCC["PREFIX"].encode(), SHC_TEXT, CCCD, b"STAFF-0001"], seed)
    records = Records()
    root = logging.getLogger()
    root.addHandler(records)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    result = Campaign()
    try:
        for i, payload in enumerate(generator.cases(count)):
            policy = doors[i % len(doors)]
            start = time.perf_counter()
            decision = policy.decide(payload)
            result.times.append(time.perf_counter() - start)
            result.cases += 1
            result.reasons[decision.reason.value] += 1
            result.types[decision.credential.type] += 1
            event = json.dumps(event_fields(decision, Code(payload, payload.decode("utf-8", "replace")), ()))
            if decision.verdict is not Verdict.DENY or decision.reason not in DENY_REASONS:
                result.problems.append(f"case {i}: {decision.verdict} {decision.reason} for {payload[:60]!r}")
            if _leaks(payload, event) or any(_leaks(payload, line) for _, line in records.lines):
                result.problems.append(f"case {i}: payload in the event or a log line: {records.lines}")
            if any(level >= logging.ERROR for level, _ in records.lines):
                result.problems.append(f"case {i}: parser bug logged: {records.lines} for {payload[:60]!r}")
            records.lines.clear()
            if len(result.problems) > 5:
                break
    finally:
        root.removeHandler(records)
        root.setLevel(old_level)
    return result


def _report(result: Campaign, seconds: float, peak: int) -> str:
    return (f"{result.cases} cases in {seconds:.1f} s ({result.cases / seconds:.0f}/s), p99 {result.p99_ms():.2f} ms,"
            f" max {max(result.times) * 1000:.1f} ms, peak {peak / 2**20:.1f} MiB; types {dict(result.types)};"
            f" reasons {dict(result.reasons)}")


def test_20000_hostile_payloads_are_denied_with_reasons_quickly_in_bounded_memory(tmp_path: Path) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = run_campaign(tmp_path, 20_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(_report(result, time.perf_counter() - start, peak))
    assert result.problems == []
    assert result.cases == 20_000
    # Every verifier was reached, and hostile input was refused for what it is, not just by type.
    assert {"signed_pass", "eu_dcc", "shc", "cccd", "badge"} <= set(result.types)
    assert {"malformed", "too_large", "bad_signature", "not_allowed", "policy_mode"} <= set(result.reasons)
    assert result.p99_ms() < 50.0
    # Times are kept per case (8 bytes each); the rest is the policy's working set, bombs included.
    assert peak < 48 * 2**20


@pytest.mark.soak
def test_1000000_hostile_payloads(tmp_path: Path) -> None:
    start = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run_campaign(tmp_path, 1_000_000, seed=2026)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(_report(result, time.perf_counter() - start, rss_after * 1024), f"RSS grew {(rss_after - rss_before) / 1024:.0f} MiB")
    assert result.problems == []
    assert result.cases == 1_000_000
    assert result.p99_ms() < 50.0
    # 1,000,000 floats for the timings are ~32 MiB of the growth; the policy itself must not grow.
    assert rss_after - rss_before < 200 * 1024
