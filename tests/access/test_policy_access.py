"""The access policy end to end: CLI-issued passes and lists through the real config and builder."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from entryscan.device.access.assemble import make_policy
from entryscan.device.access.clock import FixedClock
from entryscan.device.access.policy import ADMITTED, Policy
from entryscan.device.cli import main as cli
from entryscan.device.config.settings import PolicyMode, parse_config
from entryscan.device.delivery.journal import Journal
from entryscan.device.keys import load_or_create_key
from entryscan.device.model import Code, Decision, Reason
from entryscan.device.scan.loop import event_fields
from tests.paths import TESTDATA

DCC = json.loads((TESTDATA / "eu-dcc" / "common" / "2DCode" / "raw" / "CO3.json").read_text())
DCC_AT = dt.datetime(2021, 5, 3, 18, tzinfo=dt.UTC)
SHC_TEXT = (TESTDATA / "shc" / "examples" / "covid-vaccination-example-00.txt").read_text().strip()
SHC_AT = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
CCCD = "001099012345|123456789|Nguyễn Văn An|01011990|Nam|12 Hàng Bài, Hà Nội|01012021"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def door(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A door folder: issuer and list keys, trust files, badges and registered visitors."""
    assert run(capsys, "keys", "generate", "--out", str(tmp_path / "issuer"))[0] == 0
    assert run(capsys, "keys", "generate", "--out", str(tmp_path / "lister"))[0] == 0
    (tmp_path / "badges.txt").write_text("STAFF-0001\n")
    (tmp_path / "visitors.txt").write_text("# registered visitors\n001099012345\n")
    cert = DCC["TESTCTX"]["CERTIFICATE"]
    kid = base64.b64encode(hashlib.sha256(base64.b64decode(cert)).digest()[:8]).decode()
    (tmp_path / "dsc.json").write_text(json.dumps([{"kid": kid, "country": "AT", "rawData": cert}]))
    return tmp_path


def config(folder: Path, mode: str = "credentials", *, door: str = "main", extra: str = "",
           lists: str = "") -> str:
    return f"""
[device]
id = "door-1"
site = "hq"
door = "{door}"
[mqtt]
url = "mqtt://localhost"
[journal]
path = "state/journal.db"
[policy]
mode = "{mode}"
{extra}
[credentials.badge]
codes_file = "badges.txt"
[credentials.signed_pass]
trusted_keys = ["issuer/issuer.pub"]
[credentials.eu_dcc]
trust_list = "dsc.json"
[credentials.shc]
issuers = [{{iss = "https://spec.smarthealth.cards/examples/issuer", jwks = "{TESTDATA}/shc/spec-issuer/jwks.json"}}]
[credentials.cccd]
registered_file = "visitors.txt"
[lists]
trusted_keys = ["lister/issuer.pub"]
max_age_s = 3600
{lists}
"""


def policy_at(folder: Path, at: dt.datetime, mode: str = "credentials", **kw: Any) -> Policy:
    cfg = parse_config(config(folder, mode, **kw), folder)
    return make_policy(cfg, FixedClock(at), load_or_create_key(cfg.subject_key_path, "privacy.subject_key_file"))


def enter(p: Policy, payload: bytes, folder: Path) -> Reason:
    """A decision recorded as the scan loop records it: an accept's use goes in with its journal row."""
    decision = p.decide(payload)
    if decision.accepted:
        journal = Journal(folder / "state" / "journal.db", device="door-1", site="hq", door="main",
                          max_rows=1000, clock=FixedClock(NOW))
        try:
            journal.record_entry({"decision": "accept"}, decision.use)
        finally:
            journal.close()
    return decision.reason


def issue(capsys: pytest.CaptureFixture[str], folder: Path, *args: str) -> tuple[bytes, str]:
    code, out, err = run(capsys, "pass", "issue", "--key", str(folder / "issuer" / "issuer.key"),
                         "--subject", "emp-7", *args)
    assert code == 0, err
    return out.strip().encode(), err.strip()


def sign_list(capsys: pytest.CaptureFixture[str], folder: Path, version: int, lines: list[str],
              *args: str) -> bytes:
    entries = folder / f"entries-{version}.txt"
    entries.write_text("\n".join(lines) + "\n")
    out = folder / f"list-{version}.cose"
    code, _, err = run(capsys, "lists", "sign", "--key", str(folder / "lister" / "issuer.key"), "--name",
                       "revoked", "--version", str(version), "--entries", str(entries), "--out", str(out), *args)
    assert code == 0, err
    return out.read_bytes()


# -- a pass from the issuer CLI ---------------------------------------------------------------


def test_cli_pass_accepted_at_its_door_and_denied_elsewhere_late_revoked_tampered(
        door: Path, capsys: pytest.CaptureFixture[str]) -> None:
    until = NOW + dt.timedelta(hours=2)
    payload, token = issue(capsys, door, "--site", "hq", "--door", "main", "--valid-until", until.isoformat())
    assert token.startswith("token:")
    here = policy_at(door, NOW)
    assert here.decide(payload).reason is Reason.OK
    assert policy_at(door, NOW, door="side").decide(payload).reason is Reason.WRONG_SITE
    assert policy_at(door, until + dt.timedelta(seconds=1)).decide(payload).reason is Reason.EXPIRED
    # One character changed anywhere in the body: never accepted.
    for i in (5, len(payload) // 2, len(payload) - 2):
        swapped = b"0" if payload[i:i + 1] != b"0" else b"1"
        tampered = payload[:i] + swapped + payload[i + 1:]
        assert not here.decide(tampered).accepted
    # Revoked by a signed list (the entries file may name the pass itself or its token line).
    assert here.lists is not None
    update = here.lists.apply("revoked", sign_list(capsys, door, 1, [payload.decode()]))  # type: ignore[attr-defined]
    assert update.status == "applied"
    assert here.decide(payload).reason is Reason.REVOKED
    other, _ = issue(capsys, door, "--site", "hq")
    assert here.decide(other).reason is Reason.OK
    # The list was stored: a restarted door still denies.
    assert policy_at(door, NOW).decide(payload).reason is Reason.REVOKED


def test_one_time_pass_second_use_denied_also_after_restart(door: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload, _ = issue(capsys, door, "--one-time", "--valid-until", (NOW + dt.timedelta(days=1)).isoformat())
    first = policy_at(door, NOW)
    assert first.decide(payload).reason is Reason.OK  # deciding alone uses nothing up
    assert enter(first, payload, door) is Reason.OK
    assert enter(first, payload, door) is Reason.ALREADY_USED
    restarted = policy_at(door, NOW + dt.timedelta(minutes=5))
    assert restarted.decide(payload).reason is Reason.ALREADY_USED


def test_check_is_a_dry_run(door: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (door / "config.toml").write_text(config(door))
    payload, _ = issue(capsys, door, "--one-time", "--valid-until", (NOW + dt.timedelta(days=1)).isoformat())
    for _ in range(2):
        code, out, _ = run(capsys, "check", "--config", str(door / "config.toml"), "--text", payload.decode(),
                             "--at", NOW.isoformat())
        assert code == 0 and json.loads(out)["reason"] == "ok"
    assert enter(policy_at(door, NOW), payload, door) is Reason.OK  # the real use
    code, out, _ = run(capsys, "check", "--config", str(door / "config.toml"), "--text", payload.decode(),
                             "--at", NOW.isoformat())
    assert json.loads(out)["reason"] == "already_used"


def test_denied_one_time_pass_is_not_consumed(door: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload, _ = issue(capsys, door, "--one-time", "--site", "hq", "--door", "side",
                       "--valid-until", (NOW + dt.timedelta(days=1)).isoformat())
    assert policy_at(door, NOW).decide(payload).reason is Reason.WRONG_SITE
    assert policy_at(door, NOW, door="side").decide(payload).reason is Reason.OK


# -- modes ------------------------------------------------------------------------------------


def _samples(door: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[bytes, dt.datetime]]:
    payload, _ = issue(capsys, door)
    return {
        "badge": (b"STAFF-0001", NOW),
        "signed_pass": (payload, NOW),
        "eu_dcc": (DCC["PREFIX"].encode(), DCC_AT),
        "shc": (SHC_TEXT.encode(), SHC_AT),
        "cccd": (CCCD.encode(), NOW),
    }


@pytest.mark.parametrize("mode", [m for m in PolicyMode if m is not PolicyMode.LOCKDOWN])
def test_each_mode_admits_exactly_its_types(door: Path, capsys: pytest.CaptureFixture[str], mode: PolicyMode) -> None:
    extra = 'visitors = "log"' if mode is PolicyMode.VISITORS else ""
    admitted = set()
    for kind, (payload, at) in _samples(door, capsys).items():
        decision = policy_at(door, at, mode.value, extra=extra).decide(payload)
        assert decision.credential.type == kind
        if decision.accepted:
            admitted.add(kind)
        else:
            assert decision.reason is Reason.POLICY_MODE, (mode, kind, decision.reason)
    assert admitted == set(ADMITTED[mode])
    expected = {"allowlist": {"badge"}, "credentials": {"signed_pass", "eu_dcc", "shc"},
                "health-pass": {"eu_dcc", "shc"}, "visitors": {"cccd", "signed_pass"},
                "open": {"badge", "signed_pass", "eu_dcc", "shc", "cccd"}}
    assert admitted == expected[mode.value]


def test_lockdown_admits_only_role_admin(door: Path, capsys: pytest.CaptureFixture[str]) -> None:
    admin, _ = issue(capsys, door, "--role", "admin")
    staff, _ = issue(capsys, door, "--role", "staff")
    p = policy_at(door, NOW, "lockdown")
    assert p.decide(admin).reason is Reason.OK
    assert p.decide(staff).reason is Reason.POLICY_MODE
    for kind, (payload, at) in _samples(door, capsys).items():
        if kind != "signed_pass":
            assert policy_at(door, at, "lockdown").decide(payload).reason is Reason.POLICY_MODE
    # Admins are still subject to every other rule.
    late, _ = issue(capsys, door, "--role", "admin", "--valid-until", (NOW - dt.timedelta(hours=1)).isoformat())
    assert p.decide(late).reason is Reason.EXPIRED


def test_visitors_registered_only_admits_listed_ids(door: Path) -> None:
    p = policy_at(door, NOW, "visitors", extra='visitors = "registered"')
    assert p.decide(CCCD.encode()).reason is Reason.OK
    stranger = CCCD.replace("001099012345", "079203000111")
    assert p.decide(stranger.encode()).reason is Reason.NOT_ALLOWED
    logged = policy_at(door, NOW, "visitors", extra='visitors = "log"')
    assert logged.decide(stranger.encode()).reason is Reason.OK
    assert logged.decide(b"not|a|card|at|all|x").reason is Reason.MALFORMED


def test_mode_config_errors(door: Path) -> None:
    from entryscan.device.errors import ConfigError

    with pytest.raises(ConfigError, match="policy.visitors"):
        parse_config(config(door, "visitors"), door)
    cfg = parse_config(config(door, "visitors", extra='visitors = "registered"').replace(
        'registered_file = "visitors.txt"', ""), door)
    with pytest.raises(ConfigError, match="registered_file"):
        make_policy(cfg, FixedClock(NOW), b"k" * 32)
    with pytest.raises(ConfigError, match="passback_window_s"):
        parse_config(config(door, extra="passback_window_s = 0"), door)


# -- clock trust, consistent over types --------------------------------------------------------


def test_unsynced_clock_denies_every_time_bound_type(door: Path, capsys: pytest.CaptureFixture[str]) -> None:
    timed, _ = issue(capsys, door, "--valid-until", (NOW + dt.timedelta(days=1)).isoformat())
    untimed, _ = issue(capsys, door)
    cases = [(timed, NOW, "credentials", Reason.CLOCK_UNTRUSTED), (untimed, NOW, "credentials", Reason.OK),
             (DCC["PREFIX"].encode(), DCC_AT, "credentials", Reason.CLOCK_UNTRUSTED),
             (SHC_TEXT.encode(), SHC_AT, "credentials", Reason.CLOCK_UNTRUSTED),
             (b"STAFF-0001", NOW, "allowlist", Reason.OK)]
    for payload, at, mode, expected in cases:
        cfg = parse_config(config(door, mode), door)
        p = make_policy(cfg, FixedClock(at, synced=False), b"k" * 32)
        d = p.decide(payload)
        assert d.reason is expected and d.clock_synced is False
        relaxed = make_policy(parse_config(config(door, mode, extra="require_synced_clock = false"), door),
                              FixedClock(at, synced=False), b"k" * 32)
        assert relaxed.decide(payload).reason is Reason.OK


# -- anti-passback ------------------------------------------------------------------------------


def test_anti_passback_in_out_with_window_across_restart(door: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload, _ = issue(capsys, door)
    inside = 'direction = "in"\npassback_window_s = 600'
    outside = 'direction = "out"\npassback_window_s = 600'
    entry = policy_at(door, NOW, extra=inside)
    assert enter(entry, payload, door) is Reason.OK
    assert enter(entry, payload, door) is Reason.PASSBACK
    restarted = policy_at(door, NOW + dt.timedelta(seconds=30), extra=inside)
    assert restarted.decide(payload).reason is Reason.PASSBACK
    # The exit reader shares the state folder (same device, second camera/door config).
    assert enter(policy_at(door, NOW + dt.timedelta(seconds=60), extra=outside), payload, door) is Reason.OK
    assert enter(policy_at(door, NOW + dt.timedelta(seconds=90), extra=inside), payload, door) is Reason.OK
    # Outside the window a second "in" is allowed.
    assert enter(policy_at(door, NOW + dt.timedelta(seconds=800), extra=inside), payload, door) is Reason.OK
    # A decision alone (a dry run, or an accept turned into a deny later) never records a passage.
    later = policy_at(door, NOW + dt.timedelta(seconds=2000), extra=inside)
    assert later.decide(payload).reason is Reason.OK
    assert later.decide(payload).reason is Reason.OK
    assert enter(later, payload, door) is Reason.OK
    assert enter(later, payload, door) is Reason.PASSBACK


# -- lists through the policy ------------------------------------------------------------------


def test_stale_list_fails_closed_or_open(door: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload, _ = issue(capsys, door)
    signed = sign_list(capsys, door, 1, [], "--issued-at", NOW.isoformat())
    fresh = policy_at(door, NOW, lists='on_stale = "closed"')
    assert fresh.lists is not None and fresh.lists.apply("revoked", signed).accepted  # type: ignore[attr-defined]
    later = NOW + dt.timedelta(hours=2)
    closed = policy_at(door, later, lists='on_stale = "closed"')
    assert closed.decide(payload).reason is Reason.LIST_STALE
    assert [a.kind for a in closed.lists.poll_alerts(later)] == ["list_stale"]  # type: ignore[union-attr]
    opened = policy_at(door, later, lists='on_stale = "open"')
    assert opened.decide(payload).reason is Reason.OK


# -- privacy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "at", "mode", "secrets"), [
    (CCCD.encode(), NOW, "visitors", ["Nguyễn", "001099012345", "123456789", "1990", "Hàng Bài"]),
    (DCC["PREFIX"].encode(), DCC_AT, "credentials", ["Musterfrau", "Gabriele", "1998-02-26", "URN:UVCI"]),
])
def test_nothing_personal_leaves_by_default(door: Path, payload: bytes, at: dt.datetime, mode: str,
                                            secrets: list[str]) -> None:
    p = policy_at(door, at, mode, extra='visitors = "log"' if mode == "visitors" else "")
    decision: Decision = p.decide(payload)
    assert decision.accepted
    fields = event_fields(decision, Code(raw=payload, text=payload.decode()), share=())
    text = json.dumps(fields, ensure_ascii=False)
    for secret in secrets:
        assert secret not in text
    assert set(fields) == {"decision", "reason", "credential_type", "subject", "policy_version", "clock_synced"}
    shared = event_fields(decision, Code(raw=payload, text=""), share=("name",))
    assert "name" in shared and "birth_date" not in shared and "payload_b64" not in shared
