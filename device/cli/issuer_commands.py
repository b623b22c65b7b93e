"""The bodies of the issuer commands (see device/issuer_cli.py for the command line).

Kept apart so that ``entryscan run`` builds its parser without importing
cryptography, cbor2 and the list code (about 8 MB of RSS on a badge-only door).
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from entryscan.device.access import lists
from entryscan.device.access.credentials import signed_pass
from entryscan.device.keys import write_new

EX_OK, EX_FAIL, EX_USAGE = 0, 1, 2


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
        write_new(out / "issuer.key", private_pem)
        write_new(out / "issuer.pub", public_pem, 0o644)
    except FileExistsError as exc:
        print(f"entryscan: {exc.filename} already exists; not overwriting a key", file=sys.stderr)
        return EX_FAIL
    except OSError as exc:
        print(f"entryscan: cannot write keys: {exc}", file=sys.stderr)
        return EX_FAIL
    print(f"kid {signed_pass.key_id(key.public_key()).hex()}: {out / 'issuer.key'}, {out / 'issuer.pub'}")
    return EX_OK



def cmd_pass_issue(args: argparse.Namespace) -> int:
    try:
        key = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        print(f"entryscan: cannot load private key {args.key}: {exc}", file=sys.stderr)
        return EX_FAIL
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        print("entryscan: the key must be Ed25519 or EC P-256", file=sys.stderr)
        return EX_FAIL
    if args.one_time and args.valid_until is None:
        # A one-time pass's use is kept until the pass expires; without an expiry the door can only guess how
        # long to remember it (and a wrong clock at the door would make that guess wrong).
        print("entryscan: --one-time requires --valid-until", file=sys.stderr)
        return EX_USAGE
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
    from entryscan.device.access.credentials.base45 import b45decode
    from entryscan.device.access.credentials.cbor_guard import loads
    from entryscan.device.access.credentials.cose import decode_sign1
    from entryscan.device.access.credentials.inflate import inflate
    from entryscan.device.errors import CredentialError

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
