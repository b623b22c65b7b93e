"""Issuer commands: ``entryscan keys generate`` and ``entryscan pass issue``.

``register(subparsers)`` adds both to the main CLI's argparse subparsers; each
sets ``func`` to a callable taking the parsed namespace and returning the exit
status (0 done, 2 usage error, 1 failure such as an existing key file).

The private key is created with ``os.open(..., O_CREAT | O_EXCL, 0o600)``, so it
is never readable by others, not even between creation and a later chmod, and
an existing key is never overwritten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from device.credentials import signed_pass

EX_OK, EX_FAIL, EX_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="issuer key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    gen = keys_sub.add_parser("generate", help="create DIR/issuer.key (0600) and DIR/issuer.pub")
    gen.add_argument("--out", required=True, type=Path, metavar="DIR")
    gen.add_argument("--alg", choices=("ed25519", "es256"), default="ed25519")
    gen.set_defaults(func=cmd_keys_generate)

    pss = subparsers.add_parser("pass", help="signed entry passes")
    pass_sub = pss.add_subparsers(dest="pass_command", required=True)
    iss = pass_sub.add_parser("issue", help="sign a pass and print its QR text")
    iss.add_argument("--key", required=True, type=Path, metavar="PRIVATE")
    iss.add_argument("--subject", required=True, metavar="ID")
    iss.add_argument("--name", default="")
    iss.add_argument("--role", default="")
    iss.add_argument("--issuer", default="", help="issuer name put in the pass (iss)")
    iss.add_argument("--site", action="append", default=[], help="limit to this site (repeatable)")
    iss.add_argument("--door", action="append", default=[], help="limit to this door (repeatable)")
    iss.add_argument("--valid-from", type=_timestamp, metavar="ISO8601")
    iss.add_argument("--valid-until", type=_timestamp, metavar="ISO8601")
    iss.add_argument("--one-time", action="store_true")
    iss.add_argument("--png", type=Path, metavar="FILE", help="also write the QR code as PNG")
    iss.set_defaults(func=cmd_pass_issue)


def _timestamp(text: str) -> dt.datetime:
    """ISO 8601; a time without offset is taken as UTC (passes are checked against UTC)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def cmd_keys_generate(args: argparse.Namespace) -> int:
    out: Path = args.out
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey = (
        ed25519.Ed25519PrivateKey.generate() if args.alg == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    )
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_new(out / "issuer.key", private_pem, 0o600)
        _write_new(out / "issuer.pub", public_pem, 0o644)
    except FileExistsError as exc:
        print(f"entryscan: {exc.filename} already exists; not overwriting a key", file=sys.stderr)
        return EX_FAIL
    except OSError as exc:
        print(f"entryscan: cannot write keys: {exc}", file=sys.stderr)
        return EX_FAIL
    print(f"kid {signed_pass.key_id(key.public_key()).hex()}: {out / 'issuer.key'}, {out / 'issuer.pub'}")
    return EX_OK


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def cmd_pass_issue(args: argparse.Namespace) -> int:
    try:
        key = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        print(f"entryscan: cannot load private key {args.key}: {exc}", file=sys.stderr)
        return EX_FAIL
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        print("entryscan: the key must be Ed25519 or EC P-256", file=sys.stderr)
        return EX_FAIL
    if args.valid_from and args.valid_until and args.valid_until <= args.valid_from:
        print("entryscan: --valid-until must be after --valid-from", file=sys.stderr)
        return EX_USAGE
    bad_scope = [s for s in (*args.site, *args.door) if not signed_pass.SCOPE_ID.fullmatch(s)]
    if bad_scope:
        print(f"entryscan: site/door ids must match [a-z0-9][a-z0-9_-]{{0,62}}: {bad_scope[0]!r}",
              file=sys.stderr)
        return EX_USAGE
    claims = signed_pass.PassClaims(
        subject=args.subject, issuer=args.issuer, name=args.name, role=args.role,
        sites=tuple(args.site), doors=tuple(args.door), valid_from=args.valid_from,
        valid_until=args.valid_until, one_time=args.one_time,
    )
    try:
        text = signed_pass.issue(claims, key, dt.datetime.now(dt.UTC))
    except ValueError as exc:
        print(f"entryscan: {exc}", file=sys.stderr)
        return EX_FAIL
    if args.png is not None:
        import segno  # only the issuer needs it; the scan path never imports segno

        # Alphanumeric mode holds the base45 text compactly; error level M survives print wear.
        segno.make_qr(text, error="m", mode="alphanumeric").save(args.png, scale=8, border=4)
    print(text)
    return EX_OK
