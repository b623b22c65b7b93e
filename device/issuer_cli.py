"""Issuer commands: ``entryscan keys generate``, ``entryscan pass issue`` and ``entryscan lists sign``.

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
import secrets
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from device import lists
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

    lst = subparsers.add_parser("lists", help="signed revocation/allow lists (published retained on "
                                             "<prefix>/<site>/lists/<name>)")
    lst_sub = lst.add_subparsers(dest="lists_command", required=True)
    sig = lst_sub.add_parser("sign", help="sign a list document (COSE_Sign1 over CBOR)")
    sig.add_argument("--key", required=True, type=Path, metavar="PRIVATE")
    sig.add_argument("--name", required=True, help="list name = the topic's last level, e.g. revoked")
    sig.add_argument("--version", required=True, type=int, metavar="N", help="must grow with every update")
    sig.add_argument("--entries", required=True, type=Path, metavar="FILE",
                     help="one entry per line: token:HEX, subject:HEX, kid:HEX or an ES1: pass; # comments")
    sig.add_argument("--kind", choices=("revoke", "allow"), default="revoke")
    sig.add_argument("--site", action="append", default=[], help="only for this site (repeatable)")
    sig.add_argument("--type", action="append", default=[], dest="types",
                     help="only for this credential type (repeatable), e.g. signed_pass")
    sig.add_argument("--issued-at", type=_timestamp, metavar="ISO8601", help="default: now")
    sig.add_argument("--out", type=Path, metavar="FILE", help="write here (default: binary to stdout, for "
                                                            "mosquitto_pub -r -s)")
    sig.set_defaults(func=cmd_lists_sign)


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
    token = secrets.token_bytes(16)
    claims = signed_pass.PassClaims(
        subject=args.subject, issuer=args.issuer, name=args.name, role=args.role,
        sites=tuple(args.site), doors=tuple(args.door), valid_from=args.valid_from,
        valid_until=args.valid_until, one_time=args.one_time, token_id=token,
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
    print(f"token:{token.hex()}", file=sys.stderr)  # the list entry that revokes this pass
    return EX_OK


def _load_private_key(path: Path) -> ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        print(f"entryscan: cannot load private key {path}: {exc}", file=sys.stderr)
        return None
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        print("entryscan: the key must be Ed25519 or EC P-256", file=sys.stderr)
        return None
    return key


def read_entries(lines: list[str]) -> list[str]:
    """List entries from a file's lines; an ES1: pass line becomes its token id. Raises ValueError."""
    entries = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        text = "token:" + pass_token_id(text) if text.startswith(signed_pass.PREFIX) else text.lower()
        if not lists.ENTRY.fullmatch(text):
            raise ValueError(f"line {number}: expected token:HEX, subject:HEX, kid:HEX or an ES1: pass")
        entries.append(text)
    return entries


def pass_token_id(text: str) -> str:
    """The cti of a pass, read without checking its signature (the operator's own pass)."""
    from device.credentials.base45 import b45decode
    from device.credentials.cbor_guard import loads
    from device.credentials.cose import decode_sign1
    from device.credentials.inflate import inflate
    from device.errors import CredentialError

    try:
        msg = decode_sign1(inflate(b45decode(text[len(signed_pass.PREFIX):]), signed_pass.MAX_INFLATED))
        claims = loads(msg.payload)
    except CredentialError as exc:
        raise ValueError(f"not a readable pass: {exc}") from None
    token = claims.get(signed_pass.CTI) if isinstance(claims, dict) else None
    if not isinstance(token, bytes) or not token:
        raise ValueError("pass has no token id")
    return token.hex()


def cmd_lists_sign(args: argparse.Namespace) -> int:
    key = _load_private_key(args.key)
    if key is None:
        return EX_FAIL
    if not lists.NAME.fullmatch(args.name):
        print(f"entryscan: --name must match [a-z0-9][a-z0-9_-]{{0,62}}: {args.name!r}", file=sys.stderr)
        return EX_USAGE
    if not 1 <= args.version < lists.MAX_VERSION:
        print("entryscan: --version must be at least 1", file=sys.stderr)
        return EX_USAGE
    try:
        entries = read_entries(args.entries.read_text(encoding="utf-8-sig").splitlines())
    except OSError as exc:
        print(f"entryscan: cannot read {args.entries}: {exc}", file=sys.stderr)
        return EX_FAIL
    except ValueError as exc:
        print(f"entryscan: {args.entries}: {exc}", file=sys.stderr)
        return EX_USAGE
    issued = args.issued_at or dt.datetime.now(dt.UTC)
    try:
        payload = lists.encode_document(name=args.name, kind=args.kind, version=args.version,
                                        issued_at=int(issued.timestamp()), entries=entries,
                                        sites=args.site, types=args.types)
        signed = lists.sign_document(payload, key)
    except (lists.ListError, ValueError) as exc:
        print(f"entryscan: {exc}", file=sys.stderr)
        return EX_USAGE
    if args.out is None:
        sys.stdout.buffer.write(signed)
        sys.stdout.buffer.flush()
    else:
        try:
            args.out.write_bytes(signed)
        except OSError as exc:
            print(f"entryscan: cannot write {args.out}: {exc}", file=sys.stderr)
            return EX_FAIL
    print(f"list {args.name} version {args.version}: {len(set(entries))} entries, {len(signed)} bytes",
          file=sys.stderr)
    return EX_OK
