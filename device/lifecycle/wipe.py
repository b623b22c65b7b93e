"""Wipe and re-provision: erase personal data and keys, and refuse to run until provisioned.

``wipe`` first writes the marker file ``<journal folder>/WIPED`` (fsynced), then
removes the journal (which also holds the one-time-use and passage records),
the list store, an old firmware's separate reuse store (each with its -wal/-shm
files), the subject key, the TLS client key and MQTT password files named in
the config, and the registered-visitor ID file. The config file itself is never
removed. Files are overwritten with zeros before unlinking (best effort: an SD
card's wear levelling may keep old blocks; full-disk encryption is the real fix).

While the marker exists, ``ensure_provisioned`` raises NotProvisioned: the
daemon (``entryscan run``) and ``entryscan check`` exit 78 with one line.
``provision`` creates a fresh subject key, checks that the config's trust
material loads, journals a ``device_wiped`` alert (time only, no personal data)
and removes the marker.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from entryscan.device.config.paths import list_store_path, reuse_store_path, state_dir, wiped_marker
from entryscan.device.config.settings import Config
from entryscan.device.errors import ConfigError, NotProvisioned

WIPED_MESSAGE = "device was wiped; provision it again"
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def ensure_provisioned(cfg: Config) -> None:
    if wiped_marker(cfg).exists():
        raise NotProvisioned(WIPED_MESSAGE)


@dataclass(frozen=True)
class WipeReport:
    removed: tuple[Path, ...]
    failed: tuple[tuple[Path, str], ...]


def wipe_targets(cfg: Config, config_path: Path | None = None) -> list[Path]:
    """Every file the wipe removes (whether or not it exists)."""
    targets: list[Path] = []
    for db in (cfg.journal.path, list_store_path(cfg), reuse_store_path(cfg)):
        targets += [db.with_name(db.name + suffix) for suffix in SQLITE_SIDE_FILES]
    targets.append(cfg.subject_key_path)
    for secret in (cfg.mqtt.key_file, cfg.mqtt.password_file):
        if secret is not None:
            targets.append(secret)
    cccd = cfg.credentials.cccd
    if cccd is not None and cccd.registered_file is not None:
        targets.append(cccd.registered_file)  # national ID numbers: personal data
    keep = config_path.resolve() if config_path is not None else None
    seen: set[Path] = set()
    result = []
    for path in targets:
        resolved = path.resolve()
        if resolved == keep or resolved in seen:
            continue
        seen.add(resolved)
        result.append(path)
    return result


def wipe(cfg: Config, config_path: Path | None = None, now: dt.datetime | None = None) -> WipeReport:
    """Erase personal data and keys; leaves the device refusing to run. Stop the daemon first."""
    marker = wiped_marker(cfg)
    marker.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    _write_marker(marker, {"wiped_at": stamp})
    removed: list[Path] = []
    failed: list[tuple[Path, str]] = []
    for path in wipe_targets(cfg, config_path):
        try:
            if not path.is_file():
                continue
            _overwrite(path)
            path.unlink()
            removed.append(path)
        except OSError as exc:
            failed.append((path, exc.strerror or type(exc).__name__))
    _write_marker(marker, {"wiped_at": stamp, "removed": len(removed), "failed": len(failed)})
    return WipeReport(tuple(removed), tuple(failed))


def _write_marker(marker: Path, content: dict[str, object]) -> None:
    tmp = marker.with_name(marker.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(content, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, marker)
    dir_fd = os.open(marker.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _overwrite(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as fh:
        chunk = b"\0" * 65536
        left = size
        while left > 0:
            fh.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        fh.flush()
        os.fsync(fh.fileno())


def read_marker(cfg: Config) -> dict[str, object] | None:
    try:
        data = json.loads(wiped_marker(cfg).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def install_key(path: Path, data: bytes) -> None:
    """Write a provided subject key (e.g. the site's key from the provisioning bundle) as 0600."""
    if len(data) < 16:
        raise ConfigError("--subject-key", "holds fewer than 16 bytes of key material")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def provision(cfg: Config, subject_key: bytes | None = None) -> dict[str, object]:
    """Make the device runnable again; raises ConfigError (marker kept) if trust material is missing.

    ``subject_key``: the site's pseudonym key to install (doors of one site share it so a
    person has one ``subject`` there); without it a missing key is created at random.
    """
    from entryscan.device.access.assemble import make_policy
    from entryscan.device.access.clock import SystemClock
    from entryscan.device.config.paths import load_subject_key
    from entryscan.device.delivery.journal import Journal

    marker = read_marker(cfg)
    for name in ("ca_file", "cert_file", "key_file", "password_file"):
        path = getattr(cfg.mqtt, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"mqtt.{name}", f"{path} is missing; install it before provisioning")
    state_dir(cfg).mkdir(mode=0o700, parents=True, exist_ok=True)
    if subject_key is not None:
        install_key(cfg.subject_key_path, subject_key)
    key = load_subject_key(cfg)
    clock = SystemClock()
    policy = make_policy(cfg, clock, key)  # loads every trust file the config names
    for store in (policy.lists, policy.reuse):
        close = getattr(store, "close", None)
        if close is not None:
            close()
    if marker is not None:
        journal = Journal(cfg.journal.path, device=cfg.device.id, site=cfg.device.site, door=cfg.device.door,
                          max_rows=cfg.journal.max_rows, clock=clock)
        try:
            journal.record_alert("device_wiped", {"wiped_at": marker.get("wiped_at"), "reprovisioned": True})
        finally:
            journal.close()
        wiped_marker(cfg).unlink()
    return {"was_wiped": marker is not None, "subject_key": str(cfg.subject_key_path)}
