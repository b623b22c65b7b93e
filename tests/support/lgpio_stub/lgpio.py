"""A stand-in for lgpio's Python module, importable as ``lgpio`` from a subprocess (this folder on PYTHONPATH).

``entryscan outputs-off`` claims lines through lgpio directly; off a Pi there is no /dev/gpiochip*, so a
subprocess test or bench puts this folder first on PYTHONPATH. Every call that opens a chip or claims a line
appends one JSON line to the file named by $ENTRYSCAN_TEST_LGPIO_LOG: what a logic analyser on the header sees.
$ENTRYSCAN_TEST_LGPIO_FAIL names GPIOs (comma-separated) whose claim fails, as a busy line does.
"""

from __future__ import annotations

import json
import os

SET_PULL_NONE = SET_BIAS_DISABLE = 0x80


class error(Exception):  # lgpio's own name
    pass


def _record(**fields: object) -> None:
    path = os.environ.get("ENTRYSCAN_TEST_LGPIO_LOG")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(fields) + "\n").encode())
    finally:
        os.close(fd)


def gpiochip_open(chip: int) -> int:
    _record(call="gpiochip_open", chip=chip)
    return 100 + chip


def gpio_claim_output(handle: int, gpio: int, level: int = 0, flags: int = 0) -> int:
    failing = {int(g) for g in os.environ.get("ENTRYSCAN_TEST_LGPIO_FAIL", "").split(",") if g}
    if gpio in failing:
        raise error("GPIO busy")
    _record(call="gpio_claim_output", handle=handle, gpio=gpio, level=level)
    return 0
