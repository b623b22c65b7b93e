"""The access decision assembled from the config: verifiers, list store, reuse store and policy.

Shared by the daemon's builder, ``entryscan check`` and ``entryscan provision`` (which loads every trust file
the config names to prove the device can decide), so none of them needs the daemon's composition root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from entryscan.device.access.credentials.base import CredentialVerifier, Pseudonymizer
from entryscan.device.access.credentials.factory import build_verifiers
from entryscan.device.access.policy import Policy, PolicySettings
from entryscan.device.access.reuse import ReuseStore
from entryscan.device.config.paths import list_store_path, reuse_store_path
from entryscan.device.config.settings import Config, PolicyMode
from entryscan.device.errors import ConfigError
from entryscan.device.ports import Clock

if TYPE_CHECKING:
    from entryscan.device.access.lists import ListStore


def make_policy(cfg: Config, clock: Clock, key: bytes, lists: ListStore | None = None) -> Policy:
    """The policy with its verifiers, list store and reuse store (files under the journal's folder).

    ``lists`` is the daemon's store when it also feeds it from MQTT; otherwise one is opened here.
    """
    _check_policy_types(cfg)
    verifiers: list[CredentialVerifier] = build_verifiers(cfg.credentials, key)
    settings = PolicySettings(
        mode=cfg.policy.mode,
        site=cfg.device.site,
        door=cfg.device.door,
        max_payload_bytes=cfg.decoder.max_payload_bytes,
        require_synced_clock=cfg.policy.require_synced_clock,
        visitors=cfg.policy.visitors,
        direction=cfg.policy.direction,
        passback_window_s=cfg.policy.passback_window_s,
    )
    reuse = None
    if cfg.credentials.signed_pass is not None or cfg.policy.direction != "none":
        # The records live in the journal's file (written with its rows); reuse.db is older firmware's file.
        reuse = ReuseStore(cfg.journal.path, key=key, retention_s=cfg.privacy.retention_days * 86400.0,
                           legacy=reuse_store_path(cfg))
    return Policy(settings, verifiers, clock, Pseudonymizer(key), lists=lists or make_list_store(cfg, clock),
                  reuse=reuse)


def make_list_store(cfg: Config, clock: Clock) -> ListStore | None:
    """The signed-list store, imported only when ``[lists]`` is configured (it needs cryptography)."""
    if cfg.lists is None:
        return None
    from entryscan.device.access.credentials.signed_pass import load_public_key
    from entryscan.device.access.lists import ListStore

    keys = [load_public_key(p, f"lists.trusted_keys[{i}]") for i, p in enumerate(cfg.lists.trusted_keys)]
    return ListStore(list_store_path(cfg), keys, site=cfg.device.site, now=clock.now,
                     max_age_s=cfg.lists.max_age_s, on_stale=cfg.lists.on_stale, expected=cfg.lists.expected)


def _check_policy_types(cfg: Config) -> None:
    """Each mode needs a credential type it admits; registered visitors need their ID file."""
    creds = cfg.credentials
    cccd = creds.cccd is not None and creds.cccd.enabled
    needs = {
        PolicyMode.CREDENTIALS: (creds.signed_pass or creds.eu_dcc or creds.shc, "credentials.signed_pass",
                                 "a signed type (signed_pass, eu_dcc or shc) is needed for mode 'credentials'"),
        PolicyMode.HEALTH_PASS: (creds.eu_dcc or creds.shc, "credentials.eu_dcc",
                                 "eu_dcc or shc is required when policy.mode = 'health-pass'"),
        PolicyMode.VISITORS: (cccd, "credentials.cccd", "is required when policy.mode = 'visitors'"),
        PolicyMode.LOCKDOWN: (creds.signed_pass, "credentials.signed_pass",
                              "is required when policy.mode = 'lockdown' (admins carry signed passes)"),
    }
    if cfg.policy.mode in needs:
        present, key, problem = needs[cfg.policy.mode]
        if not present:
            raise ConfigError(key, problem)
    if cfg.policy.visitors == "registered" and (creds.cccd is None or creds.cccd.registered_file is None):
        raise ConfigError("credentials.cccd.registered_file", "is required when policy.visitors = 'registered'")
