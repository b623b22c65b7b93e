"""Where the device keeps its state: everything lives beside the journal, in the service's StateDirectory."""

from __future__ import annotations

from pathlib import Path

from entryscan.device.config.settings import Config
from entryscan.device.keys import load_existing_key, load_or_create_key

MARKER_NAME = "WIPED"


def state_dir(cfg: Config) -> Path:
    return cfg.journal.path.parent


def list_store_path(cfg: Config) -> Path:
    if cfg.lists is not None and cfg.lists.path is not None:
        return cfg.lists.path
    return state_dir(cfg) / "lists.db"


def reuse_store_path(cfg: Config) -> Path:
    """Older firmware's one-time-use store; its rows now live in the journal file (migrated on open)."""
    return state_dir(cfg) / "reuse.db"


def wiped_marker(cfg: Config) -> Path:
    return state_dir(cfg) / MARKER_NAME


def existing_subject_key(cfg: Config) -> bytes | None:
    """The pseudonym key if the door has made one; None before its first start (never creates it)."""
    return load_existing_key(cfg.subject_key_path, "privacy.subject_key_file")


def load_subject_key(cfg: Config) -> bytes:
    """The pseudonym key; the journal and the reuse store are the evidence that a key was ever used."""
    return load_or_create_key(cfg.subject_key_path, "privacy.subject_key_file",
                              made_with=(cfg.journal.path, reuse_store_path(cfg)))
