"""Wall and monotonic time, and whether the kernel trusts the wall clock.

A Pi has no RTC: until NTP syncs, the wall clock may be the fake-hwclock value
from days ago. The kernel's adjtimex state says whether it is synchronised.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import time

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


def kernel_clock_synced() -> bool:
    """True when adjtimex reports a synchronised clock; False if unknown."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return False
    return state not in (-1, TIME_ERROR) and not (tx.status & STA_UNSYNC)


class SystemClock:
    """The real clock. ``synced`` is cached for a few seconds: adjtimex is a syscall per scan otherwise."""

    def __init__(self, cache_s: float = 5.0) -> None:
        self._cache_s = cache_s
        self._checked = -1e9
        self._synced = False

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def synced(self) -> bool:
        mono = time.monotonic()
        if mono - self._checked > self._cache_s:
            self._synced = kernel_clock_synced()
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
