from __future__ import annotations

import os
from pathlib import Path

import pytest

from entryscan.device.errors import ConfigError, StorageError
from entryscan.device.keys import load_or_create_key, read_secret_text, write_new
from tests.support.fullfs import free_space, full_filesystem


def test_key_is_created_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "state" / "subject.key"
    first = load_or_create_key(path, "privacy.subject_key_file")
    assert len(first) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path, "privacy.subject_key_file") == first
    assert load_or_create_key(tmp_path / "other.key", "k") != first  # each device its own


def test_exposed_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_bytes(os.urandom(32))
    path.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key(path, "privacy.subject_key_file")


def test_secret_text_is_stripped_and_private(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("s3cret\n")
    path.chmod(0o600)
    assert read_secret_text(path, "mqtt.password_file") == "s3cret"
    path.chmod(0o644)
    with pytest.raises(ConfigError):
        read_secret_text(path, "mqtt.password_file")


def test_a_full_disk_at_first_start_leaves_no_key_and_is_retried_not_a_config_error(tmp_path: Path) -> None:
    """Measured: a full disk left a 0-byte subject.key and every later start exited 78 (never retried)."""
    with full_filesystem(tmp_path / "state") as state:
        key_path = state / "subject.key"
        for _ in range(2):  # the first start, and a restart while the disk is still full
            with pytest.raises(StorageError, match="No space left"):
                load_or_create_key(key_path, "privacy.subject_key_file")
            assert not key_path.exists() and os.listdir(state) == ["filler"]  # no 0-byte key, no temp file
        free_space(state)
        key = load_or_create_key(key_path, "privacy.subject_key_file")
        assert len(key) == 32 and key_path.stat().st_mode & 0o777 == 0o600


def test_run_on_a_full_disk_exits_70_so_systemd_restarts_it(tmp_path: Path) -> None:
    from entryscan.device.cli.main import EX_SOFTWARE, main

    with full_filesystem(tmp_path / "state") as state:
        (tmp_path / "badges.txt").write_text("STAFF-0001\n")
        config = tmp_path / "config.toml"
        config.write_text(f'[device]\nid = "door-1"\nsite = "hq"\ndoor = "main"\n[camera]\nsource = "dir:frames"\n'
                          f'[mqtt]\nurl = "mqtt://127.0.0.1:1"\n[journal]\npath = "{state}/journal.db"\n'
                          '[credentials.badge]\ncodes_file = "badges.txt"\n')
        assert main(["run", "--config", str(config)]) == EX_SOFTWARE


def test_a_short_key_from_an_interrupted_first_start_is_replaced_when_nothing_used_it(tmp_path: Path) -> None:
    key_path = tmp_path / "subject.key"
    journal = tmp_path / "journal.db"
    key_path.touch(mode=0o600)  # what older versions left on a full disk
    key = load_or_create_key(key_path, "privacy.subject_key_file", made_with=(journal,))
    assert len(key) == 32 and key_path.read_bytes() == key and key_path.stat().st_mode & 0o777 == 0o600


def test_a_short_key_is_refused_naming_the_file_once_a_journal_was_made_with_a_key(tmp_path: Path) -> None:
    """A good key truncated after use: a new one would change pseudonyms and reopen used passes."""
    key_path = tmp_path / "subject.key"
    journal = tmp_path / "journal.db"
    key_path.write_bytes(b"abc")
    key_path.chmod(0o600)
    journal.write_bytes(b"SQLite format 3\0")
    with pytest.raises(ConfigError, match="subject.key holds 3 bytes .* journal.db was made with a key") as err:
        load_or_create_key(key_path, "privacy.subject_key_file", made_with=(journal,))
    assert len(str(err.value)) < 300 and key_path.read_bytes() == b"abc"


def test_write_new_never_overwrites_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "issuer.key"
    write_new(path, b"first")
    with pytest.raises(FileExistsError):
        write_new(path, b"second")
    assert path.read_bytes() == b"first" and sorted(os.listdir(tmp_path)) == ["issuer.key"]


def test_an_existing_key_is_read_on_a_full_disk(tmp_path: Path) -> None:
    """Campaign scenario 5: every start wrote a temporary key before finding the real one, so a door whose
    disk filled could not start at all (exit 70, restarted by systemd: a crash loop) instead of deciding."""
    from tests.support.fullfs import fill_up

    with full_filesystem(tmp_path / "state") as state:
        free_space(state)
        key_path = state / "subject.key"
        key = load_or_create_key(key_path, "privacy.subject_key_file")
        fill_up(state)
        assert load_or_create_key(key_path, "privacy.subject_key_file") == key
