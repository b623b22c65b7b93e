"""`entryscan keys generate` and `entryscan pass issue`, through argparse as the main CLI wires them."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import stat
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from entryscan.device.access.credentials.base import Pseudonymizer, VerifyContext
from entryscan.device.access.credentials.signed_pass import SignedPassVerifier, key_id, load_public_key
from entryscan.device.cli import issuer as issuer_cli

CTX = VerifyContext(now=dt.datetime.now(dt.UTC), clock_synced=True, site="hq", door="main",
                    pseudonymize=Pseudonymizer(b"k" * 32))


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="entryscan")
    issuer_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.mark.parametrize("alg", ["ed25519", "es256"])
def test_keys_generate_writes_private_0600_and_public(tmp_path: Path, alg: str) -> None:
    old = os.umask(0)  # even with a permissive umask the key must not be readable by others
    try:
        assert _run("keys", "generate", "--out", str(tmp_path / "k"), "--alg", alg) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k" / "issuer.key").stat().st_mode) == 0o600
    assert (tmp_path / "k" / "issuer.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    load_public_key(tmp_path / "k" / "issuer.pub")


def test_keys_generate_never_overwrites(tmp_path: Path) -> None:
    assert _run("keys", "generate", "--out", str(tmp_path)) == 0
    before = (tmp_path / "issuer.key").read_bytes()
    assert _run("keys", "generate", "--out", str(tmp_path)) == 1
    assert (tmp_path / "issuer.key").read_bytes() == before


def test_pass_issue_prints_a_pass_the_device_accepts_and_writes_a_png(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("keys", "generate", "--out", str(tmp_path)) == 0
    capsys.readouterr()
    png = tmp_path / "pass.png"
    code = _run("pass", "issue", "--key", str(tmp_path / "issuer.key"), "--subject", "emp-9", "--name", "Bo",
                "--role", "staff", "--site", "hq", "--door", "main", "--valid-from", "2025-01-01T00:00:00",
                "--valid-until", "2030-01-01T00:00:00+00:00", "--one-time", "--png", str(png))
    assert code == 0
    text = capsys.readouterr().out.strip()
    public = load_public_key(tmp_path / "issuer.pub")
    verified = SignedPassVerifier([public]).verify(text.encode(), CTX)
    assert verified.summary.role == "staff" and verified.one_time
    assert verified.sites == ("hq",) and verified.doors == ("main",)
    assert verified.not_before == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert verified.not_after == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert verified.extra["kid"] == key_id(public).hex()
    decoded = zxingcpp.read_barcodes(Image.open(png), formats=zxingcpp.BarcodeFormat.QRCode,
                                     text_mode=zxingcpp.TextMode.Plain)
    assert decoded and decoded[0].text == text


def test_pass_issue_without_validity_is_not_time_bound(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run("keys", "generate", "--out", str(tmp_path))
    capsys.readouterr()
    assert _run("pass", "issue", "--key", str(tmp_path / "issuer.key"), "--subject", "v-1") == 0
    text = capsys.readouterr().out.strip()
    verified = SignedPassVerifier([load_public_key(tmp_path / "issuer.pub")]).verify(text.encode(), CTX)
    assert not verified.time_bound


@pytest.mark.parametrize("extra", [["--valid-from", "2025-02-01", "--valid-until", "2025-01-01"],
                                   ["--site", "HQ Building"]])
def test_pass_issue_usage_errors(tmp_path: Path, extra: list[str]) -> None:
    _run("keys", "generate", "--out", str(tmp_path))
    assert _run("pass", "issue", "--key", str(tmp_path / "issuer.key"), "--subject", "x", *extra) == 2


def test_pass_issue_with_a_missing_key_fails(tmp_path: Path) -> None:
    assert _run("pass", "issue", "--key", str(tmp_path / "nope.key"), "--subject", "x") == 1


def test_bad_timestamp_is_an_argparse_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        _run("pass", "issue", "--key", "k", "--subject", "x", "--valid-until", "next tuesday")
    assert info.value.code == 2


def test_one_time_pass_requires_valid_until(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its use is remembered until the pass expires: without an expiry the door could only guess."""
    assert _run("keys", "generate", "--out", str(tmp_path)) == 0
    capsys.readouterr()
    assert _run("pass", "issue", "--key", str(tmp_path / "issuer.key"), "--subject", "emp-9", "--one-time") == 2
    assert "--one-time requires --valid-until" in capsys.readouterr().err
