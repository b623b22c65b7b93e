#!/usr/bin/env python3
"""Rewrite imports from the flat pre-wing layout to the `entryscan.` namespace and device wings.

One-off migration aid (kept so branches started before the move can be rebased):
`python3 scripts/relayout_imports.py FILE...` rewrites the files in place.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DEVICE_MOVES = {
    "config": "config.settings",
    "configschema": "config.schema",
    "config_credentials": "config.credentials",
    "camera": "scan.camera",
    "decode": "scan.decoders",
    "framescan": "scan.framescan",
    "debounce": "scan.debounce",
    "scanloop": "scan.loop",
    "policy": "access.policy",
    "lists": "access.lists",
    "listdoc": "access.listdoc",
    "reuse": "access.reuse",
    "clock": "access.clock",
    "credentials": "access.credentials",
    "feedback": "hardware.feedback",
    "tamper": "hardware.tamper",
    "sdnotify": "hardware.sdnotify",
    "journal": "delivery.journal",
    "mqtt": "delivery.publisher",
    "mqtt_client": "delivery.client",
    "mqtt_link": "delivery.link",
    "mqtt_inbox": "delivery.inbox",
    "mqtt_commands": "delivery.commands",
    "mqtt_discovery": "delivery.discovery",
    "mqtt_lists": "delivery.listsync",
    "topics": "delivery.topics",
    "wipe": "lifecycle.wipe",
    "cli": "cli.main",
    "checking": "cli.check",
    "selftest": "cli.selftest",
    "issuer_cli": "cli.issuer",
    "issuer_commands": "cli.issuer_commands",
    "provision_cli": "cli.provision",
}
STAYING = ("errors", "model", "ports", "keys", "sqlitedb", "builder", "daemon")

_DEVICE = re.compile(r"(?<![\w.])device\.([a-z_]+)\b")
_IMPORT = re.compile(r"^(\s*(?:from|import) )(device|collector|provisioning)\b(\.[\w.]+)?", re.MULTILINE)
_TOP = re.compile(r"(?<![\w.])(collector|provisioning)\.(__main__|fleet|store|bundle)\b")


_FROM_DEVICE = re.compile(r"^(\s*)from device import ([a-z_]+)$", re.MULTILINE)


def _from_device(match: re.Match[str]) -> str:
    indent, name = match.group(1), match.group(2)
    wing, _, module = DEVICE_MOVES.get(name, "").rpartition(".")
    if not wing:
        return match.group(0)
    alias = "" if module == name else f" as {name}"
    return f"{indent}from entryscan.device.{wing} import {module}{alias}"


def _import(match: re.Match[str]) -> str:
    head, top, rest = match.group(1), match.group(2), match.group(3) or ""
    if top == "device" and rest:
        first, _, tail = rest[1:].partition(".")
        rest = "." + DEVICE_MOVES.get(first, first) + ("." + tail if tail else "")
    return f"{head}entryscan.{top}{rest}"


def _device(match: re.Match[str]) -> str:
    name = match.group(1)
    if name not in DEVICE_MOVES and name not in STAYING:
        return match.group(0)  # an attribute of a variable called `device`, not a module
    return "entryscan.device." + DEVICE_MOVES.get(name, name)


def rewrite(text: str) -> str:
    """Import statements map any module; elsewhere (patch targets, entry points) only known module names."""
    text = _FROM_DEVICE.sub(_from_device, text)
    text = _IMPORT.sub(_import, text)
    text = _DEVICE.sub(_device, text)
    return _TOP.sub(lambda m: "entryscan." + m.group(0), text)


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        old = path.read_text(encoding="utf-8")
        new = rewrite(old)
        if new != old:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
