"""Install a real seccomp filter in this process through libseccomp (ctypes; no Python binding needed).

Used by tests that run a child Python under a filter: ``python -c "import tests.support.seccomp as s;
s.install(...); ..."``. Refused calls fail with EPERM, as systemd's ``SystemCallErrorNumber=EPERM`` does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
from collections.abc import Iterable

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_BASE = 0x00050000


def libseccomp() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("seccomp")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


def _load(default_action: int, rule_action: int, names: Iterable[str]) -> list[str]:
    """A filter whose default is ``default_action`` with ``rule_action`` for ``names``; returns unknown names."""
    lib = libseccomp()
    if lib is None:
        raise RuntimeError("libseccomp.so.2 not found")
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(default_action)
    if not ctx:
        raise RuntimeError("seccomp_init failed")
    unknown = []
    for name in names:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # not a syscall on this architecture (e.g. a 32-bit-only *64 variant)
            unknown.append(name)
            continue
        rc = lib.seccomp_rule_add(ctx, rule_action, nr, 0)
        if rc < 0:
            raise RuntimeError(f"seccomp_rule_add({name}) failed: {rc}")
    rc = lib.seccomp_load(ctx)
    if rc < 0:
        raise RuntimeError(f"seccomp_load failed: {rc}")
    return unknown


def refuse(names: Iterable[str], err: int = errno.EPERM) -> list[str]:
    """Everything allowed except ``names``, which fail with ``err``."""
    return _load(SCMP_ACT_ALLOW, SCMP_ACT_ERRNO_BASE | err, names)


def allow_only(names: Iterable[str], err: int = errno.EPERM) -> list[str]:
    """Only ``names`` allowed; everything else fails with ``err`` (systemd's allow-list SystemCallFilter=)."""
    return _load(SCMP_ACT_ERRNO_BASE | err, SCMP_ACT_ALLOW, names)
