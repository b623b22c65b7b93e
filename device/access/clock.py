"""Wall and monotonic time, and whether the kernel trusts the wall clock.

A Pi has no RTC: until NTP syncs, the wall clock may be the fake-hwclock value
from days ago. The kernel's adjtimex state says whether it is synchronised.
Where a seccomp filter refuses adjtimex (systemd's ProtectClock=, or a
SystemCallFilter= without @clock), systemd-timesyncd's flag file says it instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import errno
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

TIME_ERROR = 5  # adjtimex return value: clock not synchronised
STA_UNSYNC = 0x0040


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: we read only modes/status; the padding keeps the size right.
    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
        ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_pad", ctypes.c_int * 11),
    ]


# systemd-timesyncd creates this once it has synchronised the clock (it lives until reboot).
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
REFUSED_ERRNOS = frozenset({errno.EPERM, errno.EACCES, errno.ENOSYS})

AdjtimexCall = Callable[[], tuple[int, int, int]]  # () -> (return value, errno, timex.status)


def read_adjtimex() -> tuple[int, int, int]:
    """adjtimex with modes = 0: a read, allowed without CAP_SYS_TIME unless a seccomp filter refuses it.

    glibc implements it with clock_adjtime(CLOCK_REALTIME), so a filter must allow that call too.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    tx = _Timex()
    ctypes.set_errno(0)
    state = int(libc.adjtimex(ctypes.byref(tx)))
    return state, ctypes.get_errno(), int(tx.status)


class _OnceLog:
    """Logs the refusal once per process: the check runs every few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done = False

    def warn(self, err: int, flag: Path) -> None:
        with self._lock:
            if self.done:
                return
            self.done = True
        log.warning("adjtimex refused (%s, a seccomp filter such as ProtectClock=); "
                    "the clock counts as synchronised while %s exists", errno.errorcode.get(err, err), flag)


REFUSAL_LOG = _OnceLog()


def kernel_clock_synced(timesync_flag: Path = TIMESYNC_FLAG, adjtimex: AdjtimexCall = read_adjtimex) -> bool:
    """True when adjtimex reports a synchronised clock, or (where adjtimex is refused)
    systemd-timesyncd's flag file exists; False if unknown."""
    try:
        state, err, status = adjtimex()
    except (OSError, AttributeError):
        return False
    if state == -1:
        if err not in REFUSED_ERRNOS:
            return False
        REFUSAL_LOG.warn(err, timesync_flag)
        try:
            return timesync_flag.exists()
        except OSError:
            return False
    return state != TIME_ERROR and not (status & STA_UNSYNC)


class SystemClock:
    """The real clock. ``synced`` is cached for a few seconds: adjtimex is a syscall per scan otherwise."""

    def __init__(self, cache_s: float = 5.0, timesync_flag: Path = TIMESYNC_FLAG) -> None:
        self._cache_s = cache_s
        self._timesync_flag = timesync_flag
        self._checked = -1e9
        self._synced = False

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def synced(self) -> bool:
        mono = time.monotonic()
        if mono - self._checked > self._cache_s:
            self._synced = kernel_clock_synced(self._timesync_flag)
            self._checked = mono
        return self._synced


class FixedClock:
    """A clock pinned at one instant and trusted as synchronised (``entryscan check --at``)."""

    def __init__(self, at: dt.datetime, synced: bool = True) -> None:
        self._at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        self._synced = synced

    def now(self) -> dt.datetime:
        return self._at

    def monotonic(self) -> float:
        return time.monotonic()

    def synced(self) -> bool:
        return self._synced
