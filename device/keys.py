"""Device-local secrets: created once with mode 0600, never logged, refused if exposed."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from entryscan.device.errors import ConfigError

KEY_BYTES = 32


def write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` with ``mode`` from the first byte, fsynced; raises FileExistsError rather than overwrite.

    The mode is set by open(2) itself, so a key is never readable by others between
    creation and a later chmod.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def load_or_create_key(path: Path, key_name: str) -> bytes:
    """Read the secret at ``path``, creating a random one (0600) if it does not exist.

    A file readable by group or others is refused: a leaked key turns every
    pseudonym back into a linkable identifier.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_new(path, secrets.token_bytes(KEY_BYTES))
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(key_name, f"cannot create {path}: {exc.strerror}") from None
    return _check_key(_read_private(path, key_name), path, key_name)


def _read_private(path: Path, key_name: str) -> bytes:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(key_name, f"{path} is readable by group/others (mode {oct(mode & 0o777)}); chmod 600")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(key_name, f"cannot read {path}: {exc.strerror}") from None
    return data


def _check_key(data: bytes, path: Path, key_name: str) -> bytes:
    if len(data) < 16:
        raise ConfigError(key_name, f"{path} holds fewer than 16 bytes of key material")
    return data


def read_secret_text(path: Path, key_name: str) -> str:
    """A one-line secret (e.g. the MQTT password) from a private file."""
    try:
        return _read_private(path, key_name).decode("utf-8").strip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(key_name, f"{path} is not UTF-8 text") from None
