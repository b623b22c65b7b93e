"""The ``entryscan`` console script: ``outputs-off`` before anything else is imported, the rest through ``main``.

The unit's ``ExecStopPost=entryscan outputs-off --config PATH`` runs while a relay killed mid-pulse may still be
energised, so that one command must not pay for the full command line (argparse, logging, the config schema,
gpiozero: about 70 ms here, seconds under emulation). Only its plain forms are taken here; anything else
(``-v``, ``--help``, a typo) goes to ``main``, which parses it as it always did.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def outputs_off_config(argv: Sequence[str], environ: dict[str, str] | os._Environ[str]) -> str | None:
    """The config path when ``argv`` is a plain ``outputs-off [--config PATH]``; None for anything else."""
    if not argv or argv[0] != "outputs-off":
        return None
    rest = list(argv[1:])
    if not rest:
        from entryscan.device.hardware.outputs_off import DEFAULT_CONFIG_PATH

        return environ.get("ENTRYSCAN_CONFIG") or DEFAULT_CONFIG_PATH
    if len(rest) == 2 and rest[0] == "--config" and rest[1] and not rest[1].startswith("-"):
        return rest[1]
    if len(rest) == 1 and rest[0].startswith("--config=") and len(rest[0]) > len("--config="):
        return rest[0].removeprefix("--config=")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    config = outputs_off_config(args, os.environ)
    if config is not None:
        from entryscan.device.hardware.outputs_off import run_outputs_off

        return run_outputs_off(config)
    from entryscan.device.cli.main import main as full_main

    return full_main(args)


if __name__ == "__main__":
    sys.exit(main())
