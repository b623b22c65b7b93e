"""``entryscan csr``: a certificate request for a TLS key made on the device, which never leaves it.

The technician copies the request (public) to the laptop and runs
``entryscan-provision device add --csr FILE``; the bundle then carries a
certificate for this key and no key of its own. The key is created 0600 with
``entryscan.device.keys.write_new``; an existing key is reused, never overwritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EX_OK, EX_FAIL = 0, 1
DEFAULT_KEY = Path("/etc/entryscan/device.key")


def register(subparsers: Any) -> None:
    csr = subparsers.add_parser("csr", help="make (or reuse) the device's TLS key and write a certificate "
                                            "request for it")
    csr.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the request (PEM)")
    csr.add_argument("--device", required=True, metavar="ID", help="the device id (the certificate's CN)")
    csr.add_argument("--key", type=Path, default=DEFAULT_KEY, metavar="FILE",
                     help=f"the private key (created 0600 if missing; default {DEFAULT_KEY})")
    csr.set_defaults(func=cmd_csr)


def _load_or_make_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from entryscan.device.errors import ConfigError
    from entryscan.device.keys import _read_private, write_new

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        write_new(path, pem)
        return key
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError("--key", f"cannot create {path}: {exc.strerror}") from None
    try:
        existing = serialization.load_pem_private_key(_read_private(path, "--key"), password=None)
    except ValueError:
        raise ConfigError("--key", f"{path} exists and is not a PEM private key; not touching it") from None
    if not isinstance(existing, ec.EllipticCurvePrivateKey):
        raise ConfigError("--key", f"{path} is not an EC key")
    print(f"entryscan: reusing the existing key {path}", file=sys.stderr)
    return existing


def cmd_csr(args: argparse.Namespace) -> int:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from entryscan.device.config.settings import ID_PATTERN
    from entryscan.device.errors import ConfigError

    if not ID_PATTERN.fullmatch(args.device):
        raise ConfigError("--device", f"must match [a-z0-9][a-z0-9_-]{{0,62}} (got {args.device!r})")
    key = _load_or_make_key(args.key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, args.device)])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    try:
        args.out.write_bytes(request.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        print(f"entryscan: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return EX_FAIL
    print(args.out)
    return EX_OK
