"""One owner at a time for the camera and GPIO pins: an flock on ``<journal folder>/hardware.lock``.

The daemon holds it while it runs, and ``entryscan selftest`` takes it before touching anything, so
a selftest run while the service is up refuses clearly instead of fighting it for the camera and
pins (and a daemon started during a selftest waits for its restart). The kernel drops the lock when
the holder dies, however it dies, so a stale file never blocks anyone.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from entryscan.device.errors import EntryscanError
from entryscan.device.keys import os_error

LOCK_NAME = "hardware.lock"


class HardwareBusy(EntryscanError, RuntimeError):
    """Another process (the service, or a selftest) holds the camera and pins."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"the camera and GPIO pins are held by process {holder or '?'} ({path})")
        self.path = path
        self.holder = holder


def lock_path(journal_path: Path) -> Path:
    return journal_path.parent / LOCK_NAME


class HardwareLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._owns_file = False

    def acquire(self) -> HardwareLock:
        """The daemon's lock: created (with its folder) if missing; HardwareBusy names the holder's pid."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:  # a full or failing disk is retried (70); a file in the way is a config error (78)
            raise os_error(exc, "journal.path", f"cannot create {self.path}") from None
        self._take(fd)
        self._owns_file = True
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            # The pid only names the holder in HardwareBusy; the flock is the lock. A full disk must not stop
            # the door (it decides without a journal and recovers when space returns), so it is left out.
            pass
        return self

    def acquire_existing(self) -> HardwareLock:
        """The selftest's lock: never creates the file, so a selftest run as root before the service's
        first start leaves nothing the service user could not open. No file: no daemon has run here."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return self
        self._take(fd)  # flock needs no write access: a read-only descriptor excludes the daemon too
        return self

    def _take(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise HardwareBusy(self.path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Drop the lock; the daemon also removes its file (a clean stop leaves no trace in the state
        folder, which a wipe expects). Removed while still held, so no one can take a lock on it meanwhile;
        a holder killed outright leaves a stale file, which locks nothing."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._owns_file:
            self.path.unlink(missing_ok=True)
        os.close(fd)  # closing the only descriptor drops the flock
