"""``entryscan wipe`` and ``entryscan provision``: the technician's reset and its undo.

``register(subparsers)`` adds both to the main CLI. Exit status: 0 done, 2
usage (``wipe`` without ``--yes``), 1 when some file could not be removed,
78 when provisioning finds the config's trust material or TLS files missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EX_OK, EX_FAIL, EX_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    wp = subparsers.add_parser("wipe", help="erase personal data and keys; the device then refuses to run")
    wp.add_argument("--config", help="config file (default $ENTRYSCAN_CONFIG or /etc/entryscan/config.toml)")
    wp.add_argument("--yes", action="store_true", help="really erase (required)")
    wp.set_defaults(func=cmd_wipe)

    pv = subparsers.add_parser("provision", help="new subject key, check trust files, allow running again")
    pv.add_argument("--config", help="config file (default $ENTRYSCAN_CONFIG or /etc/entryscan/config.toml)")
    pv.add_argument("--subject-key", type=Path, metavar="FILE",
                    help="install this site pseudonym key (from the provisioning bundle) instead of a new one")
    pv.set_defaults(func=cmd_provision)


def _config_path(args: argparse.Namespace) -> Path:
    from entryscan.device.config.settings import default_config_path

    return Path(args.config) if args.config else default_config_path(dict(os.environ))


def cmd_wipe(args: argparse.Namespace) -> int:
    from entryscan.device.config.settings import load_config
    from entryscan.device.lifecycle.wipe import wipe

    if not args.yes:
        print("entryscan: wipe erases the journal, lists, keys and personal data; add --yes to do it",
              file=sys.stderr)
        return EX_USAGE
    path = _config_path(args)
    cfg = load_config(path)
    report = wipe(cfg, path)
    for failed, why in report.failed:
        print(f"entryscan: could not remove {failed}: {why}", file=sys.stderr)
    print(json.dumps({"wiped": True, "removed": [str(p) for p in report.removed],
                      "failed": [str(p) for p, _ in report.failed]}))
    return EX_FAIL if report.failed else EX_OK


def cmd_provision(args: argparse.Namespace) -> int:
    from entryscan.device.config.settings import load_config
    from entryscan.device.errors import ConfigError
    from entryscan.device.lifecycle.wipe import provision

    cfg = load_config(_config_path(args))
    key = None
    if args.subject_key is not None:
        try:
            key = args.subject_key.read_bytes()
        except OSError as exc:
            raise ConfigError("--subject-key", f"cannot read {args.subject_key}: {exc.strerror}") from None
    print(json.dumps({"provisioned": True, **provision(cfg, key)}))
    return EX_OK
