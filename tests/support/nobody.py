"""File permissions in force even as root (CI runs the suite as root, and root ignores them)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

NOBODY = 65534


@contextlib.contextmanager
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder its user may read and enter but not write. As root the test runs meanwhile with ``nobody`` as its
    effective uid (the saved uid brings root back after), on a folder ``nobody`` owns mode 0500 inside one it may
    enter: ``tmp_path`` is under root's 0700 ``/tmp/pytest-of-root``."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        yield ro
        return
    base = Path(tempfile.mkdtemp(prefix="entryscan-nobody-"))
    try:
        base.chmod(0o711)
        ro = base / "ro"
        ro.mkdir(mode=0o500)
        os.chown(ro, NOBODY, -1)
        os.setresuid(-1, NOBODY, -1)
        try:
            yield ro
        finally:
            os.setresuid(-1, 0, -1)
    finally:
        shutil.rmtree(base)
