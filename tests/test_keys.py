from __future__ import annotations

import os
from pathlib import Path

import pytest

from entryscan.device.errors import ConfigError
from entryscan.device.keys import load_or_create_key, read_secret_text


def test_key_is_created_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "state" / "subject.key"
    first = load_or_create_key(path, "privacy.subject_key_file")
    assert len(first) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path, "privacy.subject_key_file") == first
    assert load_or_create_key(tmp_path / "other.key", "k") != first  # each device its own


def test_exposed_or_short_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_bytes(os.urandom(32))
    path.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key(path, "privacy.subject_key_file")
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="fewer than 16"):
        load_or_create_key(path, "privacy.subject_key_file")


def test_secret_text_is_stripped_and_private(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("s3cret\n")
    path.chmod(0o600)
    assert read_secret_text(path, "mqtt.password_file") == "s3cret"
    path.chmod(0o644)
    with pytest.raises(ConfigError):
        read_secret_text(path, "mqtt.password_file")
