"""``python -m bench.shim run ...``: the entryscan CLI with FrameScanner swapped in for the plain decoder.

Benchmark-only: until device/builder.py wires FrameScanner itself, the daemon benches run both the
CLI as shipped and this variant, so the figures show what the scanner changes in the whole daemon.
"""

from __future__ import annotations

import sys

import device.builder
from device.cli import main
from device.decode import Backend
from device.framescan import FrameScanner


def _frame_scanner(backend: Backend) -> FrameScanner:
    return FrameScanner(backend)


if __name__ == "__main__":
    setattr(device.builder, "make_decoder", _frame_scanner)  # noqa: B010 - patching the import site
    sys.exit(main())
