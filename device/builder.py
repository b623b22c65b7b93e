"""The one place where configuration becomes running objects.

Everything below this module receives its collaborators ready-made; only the
builder reads files (keys, badge lists, trust material) or the environment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from device import __version__
from device.camera import DirCamera, Picamera2Camera
from device.clock import SystemClock
from device.config import Config, PolicyMode
from device.credentials.base import CredentialVerifier, Pseudonymizer
from device.credentials.factory import build_verifiers
from device.debounce import Debouncer
from device.errors import ConfigError
from device.feedback import GpioFeedback
from device.framescan import FrameScanner
from device.journal import Journal
from device.keys import load_or_create_key
from device.policy import Policy, PolicySettings
from device.ports import Camera, Clock
from device.reuse import ReuseStore
from device.scanloop import ScanLoop, ScanSettings
from device.tamper import TamperSwitch
from device.wipe import ensure_provisioned, list_store_path, reuse_store_path

if TYPE_CHECKING:
    from device.lists import ListStore

log = logging.getLogger(__name__)


@dataclass
class Components:
    config: Config
    clock: Clock
    scan: ScanLoop
    feedback: GpioFeedback
    publisher: Any
    pin_factory: Any
    tamper: TamperSwitch | None = None


def make_camera(cfg: Config) -> Camera:
    folder = cfg.camera.replay_dir
    if folder is not None:
        return DirCamera(folder, cfg.camera.fps)
    width, height = cfg.camera.size
    return Picamera2Camera((width, height), cfg.camera.fps, cfg.camera.autofocus, cfg.camera.lens_position)


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
        reuse = ReuseStore(reuse_store_path(cfg), key=key, retention_s=cfg.privacy.retention_days * 86400.0)
    return Policy(settings, verifiers, clock, Pseudonymizer(key), lists=lists or make_list_store(cfg, clock),
                  reuse=reuse)


def make_list_store(cfg: Config, clock: Clock) -> ListStore | None:
    """The signed-list store, imported only when ``[lists]`` is configured (it needs cryptography)."""
    if cfg.lists is None:
        return None
    from device.credentials.signed_pass import load_public_key
    from device.lists import ListStore

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


def make_journal_opener(cfg: Config, clock: Clock) -> Callable[[], Journal]:
    def open_journal() -> Journal:
        return Journal(cfg.journal.path, device=cfg.device.id, site=cfg.device.site, door=cfg.device.door,
                       max_rows=cfg.journal.max_rows, clock=clock)

    return open_journal


def build(
    cfg: Config,
    *,
    simulate: bool,
    clock: Clock | None = None,
    camera: Camera | None = None,
    on_event: Callable[[dict[str, object]], None] | None = None,
) -> Components:
    """Compose the daemon. ``camera``/``clock`` overrides exist for tests and benchmarks."""
    from device.mqtt import MqttPublisher

    ensure_provisioned(cfg)  # a wiped device refuses to run (exit 78) until `entryscan provision`
    clock = clock or SystemClock()
    cfg.journal.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = load_or_create_key(cfg.subject_key_path, "privacy.subject_key_file")
    lists = make_list_store(cfg, clock)
    policy = make_policy(cfg, clock, key, lists)
    pin_factory = _mock_pin_factory() if simulate else None
    feedback = GpioFeedback(cfg.feedback, cfg.relay, pin_factory=pin_factory)
    publisher = MqttPublisher(
        cfg.mqtt, device=cfg.device.id, site=cfg.device.site, door=cfg.device.door,
        journal_path=cfg.journal.path, max_rows=cfg.journal.max_rows, clock=clock,
        state_provider=lambda: state_snapshot(scan, cfg, clock), firmware=__version__,
        lists=lists,
        commands={"identify": lambda request: feedback.identify(), "state": lambda request: publisher.publish_state()},
    )
    scan = ScanLoop(
        camera=camera or make_camera(cfg),
        decoder=FrameScanner(cfg.decoder.backend),
        debouncer=Debouncer(cfg.decoder.debounce_s),
        policy=policy,
        feedback=feedback,
        open_journal=make_journal_opener(cfg, clock),
        notifier=publisher,
        settings=ScanSettings(capture_timeout_s=cfg.camera.timeout_s, share=cfg.privacy.share,
                              deny_unpersisted=cfg.journal.on_storage_fault == "deny"),
        on_event=on_event,
        on_storage_fault=publisher.transient_alert,
    )
    tamper = None
    if cfg.tamper.pin is not None:
        scan.set_tamper_lockout(cfg.tamper.lockout)
        tamper = TamperSwitch(cfg.tamper.pin, scan.tamper_changed, pin_factory=pin_factory)
    return Components(cfg, clock, scan, feedback, publisher, pin_factory, tamper)


def state_snapshot(scan: ScanLoop, cfg: Config, clock: Clock) -> dict[str, object]:
    """The retained ``state`` document: health only, never personal data."""
    import time

    health = scan.health
    return {
        "firmware": __version__,
        "uptime_s": round(time.monotonic() - health.started),
        "camera": health.camera,
        "decoder": scan.decoder.name,
        "clock_synced": clock.synced(),
        "storage": health.storage,
        "tamper": health.tamper,
        "unpersisted": health.unpersisted,
        "frames": health.frames,
        "scans": health.scans,
        "policy_mode": cfg.policy.mode.value,
        "policy_version": scan.policy.settings.version,
        "lists": scan.policy.lists.versions() if scan.policy.lists is not None else {},
        "door": cfg.device.door,
    }


def _mock_pin_factory() -> Any:
    from gpiozero.pins.mock import MockFactory

    return MockFactory()
