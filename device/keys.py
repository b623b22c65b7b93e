"""Device-local secrets: created once with mode 0600, never logged, refused if exposed.

A key is written whole or not at all: a temporary file beside it (mode set by open(2)),
fsynced, then hard-linked into place and the folder fsynced. A full disk at first start
therefore leaves no key rather than a 0-byte one, and fails with StorageError (exit 70,
retried by systemd) instead of a ConfigError (exit 78, never retried).
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from entryscan.device.errors import ConfigError, EntryscanError, StorageError

log = logging.getLogger(__name__)

KEY_BYTES = 32
MIN_KEY_BYTES = 16
# Failures of the storage itself, which a restart (or an operator freeing space) can cure.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EAGAIN,
                            errno.EINTR, errno.EBUSY, errno.ETIMEDOUT})
NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK})


def os_error(exc: OSError, key_name: str, what: str) -> EntryscanError:
    """A storage failure (exit 70, retried) or a setup problem such as a permission (exit 78)."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in STORAGE_ERRNOS:
        return StorageError(f"{key_name}: {what}: {reason}")
    return ConfigError(key_name, f"{what}: {reason}")


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a new fsynced file beside ``path``; removed again if anything fails."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` holding all of ``data`` or nothing; raises FileExistsError rather than overwrite.

    The mode is set by open(2) itself, so a key is never readable by others between
    creation and a later chmod. On a file system without hard links (a FAT stick) the
    file is renamed into place after an existence check instead.
    """
    tmp = _write_temp(path, data, mode)
    try:
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS or isinstance(exc, FileExistsError):
            raise
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.rename(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def replace_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomically put ``data`` at ``path``, whatever was there."""
    tmp = _write_temp(path, data, mode)
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def load_or_create_key(path: Path, key_name: str, made_with: Sequence[Path] = ()) -> bytes:
    """Read the secret at ``path``, creating a random one (0600) if it does not exist.

    A file readable by group or others is refused: a leaked key turns every
    pseudonym back into a linkable identifier. ``made_with``: state files that only
    exist once a key has been used (journal, reuse store); see ``_incomplete_key``.
    """
    # An existing key is only read: making a new one writes a temporary file first, which a full disk refuses,
    # and a door with its key must still start on a full disk (it decides without a journal until space returns).
    if not os.path.lexists(path):
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_new(path, secrets.token_bytes(KEY_BYTES))
        except FileExistsError:
            pass
        except OSError as exc:
            raise os_error(exc, key_name, f"cannot create {path}") from None
    data = _read_private(path, key_name)
    if len(data) < MIN_KEY_BYTES:
        return _incomplete_key(path, key_name, len(data), made_with)
    return data


def load_existing_key(path: Path, key_name: str) -> bytes | None:
    """The secret at ``path`` if a usable one exists (checked as private, as ``load_or_create_key`` does); None if
    there is none yet or it is incomplete. Never writes: for read-only commands (``entryscan check``)."""
    if not os.path.lexists(path):
        return None
    data = _read_private(path, key_name)
    return data if len(data) >= MIN_KEY_BYTES else None


def _incomplete_key(path: Path, key_name: str, size: int, made_with: Sequence[Path]) -> bytes:
    """A key file under 16 bytes: what older versions left when the disk filled during the first start.

    No version ever ran with such a key (all refused it), so when nothing made with a key
    exists yet it is safely replaced. If a journal or reuse store exists, a good key was
    used and then lost: a new one would change every pseudonym and let one-time passes
    used here pass again, so an operator decides (restore the key, or move it away).
    """
    used = [p for p in made_with if p.exists()]
    if used:
        raise ConfigError(key_name, f"{path} holds {size} bytes (needs {MIN_KEY_BYTES}+) but {used[0].name} was "
                                    "made with a key: restore the key, or move both away to start afresh")
    log.warning("%s held %d bytes (an interrupted first start); replacing it with a new key", path, size)
    try:
        replace_file(path, secrets.token_bytes(KEY_BYTES))
    except OSError as exc:
        raise os_error(exc, key_name, f"cannot replace {path}") from None
    return _read_private(path, key_name)


def _read_private(path: Path, key_name: str) -> bytes:
    check_private(path, key_name)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise os_error(exc, key_name, f"cannot read {path}") from None


def check_private(path: Path, key_name: str) -> None:
    """Refuse a secret file (e.g. the MQTT TLS private key) that group or others may read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise os_error(exc, key_name, f"cannot read {path}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(key_name, f"{path} is readable by group/others (mode {oct(mode & 0o777)}); chmod 600")


def read_secret_text(path: Path, key_name: str) -> str:
    """A one-line secret (e.g. the MQTT password) from a private file."""
    try:
        return _read_private(path, key_name).decode("utf-8").strip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(key_name, f"{path} is not UTF-8 text") from None
