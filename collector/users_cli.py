"""``entryscan-collector users add NAME --users FILE``: add or replace an operator's password hash.

The password is read from standard input (one line) when it is not a terminal, else asked twice.
The file is created 0600; other operators' lines are kept.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from pathlib import Path

from entryscan.collector.web.auth import hash_password

NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="entryscan-collector users", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("add",))
    p.add_argument("name")
    p.add_argument("--users", type=Path, required=True)
    args = p.parse_args(argv)
    if not NAME.fullmatch(args.name):
        p.error("NAME: letters, digits and _ . @ - only")
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("entryscan-collector: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 10:
        print("entryscan-collector: use at least 10 characters", file=sys.stderr)
        return 2
    lines = []
    if args.users.exists():
        lines = [ln for ln in args.users.read_text(encoding="utf-8").splitlines()
                 if not ln.startswith(args.name + ":")]
    lines.append(f"{args.name}:{hash_password(password)}")
    fd = os.open(args.users, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(args.users, 0o600)
    print(f"entryscan-collector: {args.name} written to {args.users}")
    return 0
