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
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _lazy(name: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports the command bodies (and cryptography) only when the command runs."""

    def run(args: argparse.Namespace) -> int:
        from entryscan.device.cli import issuer_commands

        handler: Callable[[argparse.Namespace], int] = getattr(issuer_commands, name)
        return handler(args)

    return run


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="issuer key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    gen = keys_sub.add_parser("generate", help="create DIR/issuer.key (0600) and DIR/issuer.pub")
    gen.add_argument("--out", required=True, type=Path, metavar="DIR")
    gen.add_argument("--alg", choices=("ed25519", "es256"), default="ed25519")
    gen.set_defaults(func=_lazy("cmd_keys_generate"))

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
    iss.add_argument("--one-time", action="store_true", help="usable once (requires --valid-until: the door "
                     "remembers the use until then)")
    iss.add_argument("--png", type=Path, metavar="FILE", help="also write the QR code as PNG")
    iss.set_defaults(func=_lazy("cmd_pass_issue"))

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
    sig.set_defaults(func=_lazy("cmd_lists_sign"))


def _timestamp(text: str) -> dt.datetime:
    """ISO 8601; a time without offset is taken as UTC (passes are checked against UTC)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


