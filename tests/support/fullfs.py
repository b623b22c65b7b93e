"""A real full file system: a tiny tmpfs mounted for the test and filled to the last byte (needs root)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.ci import needs_tool


@contextmanager
def full_filesystem(mountpoint: Path, size_kib: int = 64) -> Iterator[Path]:
    """Yield ``mountpoint`` with no space left; ``free_space(mountpoint)`` makes room again."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0 and os.geteuid() == 0:  # root that cannot mount (a confined container): CI must be able to
        needs_tool(f"cannot mount a tmpfs here even as root: {done.stderr.strip()[:120]}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {done.stderr.strip()[:120]}")
    try:
        fill_up(mountpoint)
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill_up(mountpoint: Path) -> None:
    """Take every free byte of the file system (into ``filler``)."""
    fd = os.open(mountpoint / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while os.write(fd, b"\0" * 512):
            pass
    except OSError:
        pass  # ENOSPC: full
    finally:
        os.close(fd)


def free_space(mountpoint: Path) -> None:
    os.unlink(mountpoint / "filler")
