"""The one place where configuration becomes running objects.

Everything below this module receives its collaborators ready-made; only the
builder reads files (keys, badge lists, trust material) or the environment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device import __version__
from device.camera import DirCamera, Picamera2Camera
from device.clock import SystemClock
from device.config import Config
from device.credentials.base import CredentialVerifier, Pseudonymizer
from device.credentials.factory import build_verifiers
from device.debounce import Debouncer
from device.decode import make_decoder
from device.feedback import GpioFeedback
from device.journal import Journal
from device.keys import load_or_create_key
from device.policy import Policy, PolicySettings
from device.ports import Camera, Clock
from device.scanloop import ScanLoop, ScanSettings

log = logging.getLogger(__name__)


@dataclass
class Components:
    config: Config
    clock: Clock
    scan: ScanLoop
    feedback: GpioFeedback
    publisher: Any
    pin_factory: Any


def make_camera(cfg: Config) -> Camera:
    folder = cfg.camera.replay_dir
    if folder is not None:
        return DirCamera(folder, cfg.camera.fps)
    width, height = cfg.camera.size
    return Picamera2Camera((width, height), cfg.camera.fps, cfg.camera.autofocus, cfg.camera.lens_position)


def make_policy(cfg: Config, clock: Clock, key: bytes) -> Policy:
    verifiers: list[CredentialVerifier] = build_verifiers(cfg.credentials, key)
    settings = PolicySettings(
        mode=cfg.policy.mode,
        site=cfg.device.site,
        door=cfg.device.door,
        max_payload_bytes=cfg.decoder.max_payload_bytes,
        require_synced_clock=cfg.policy.require_synced_clock,
    )
    return Policy(settings, verifiers, clock, Pseudonymizer(key))


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

    clock = clock or SystemClock()
    cfg.journal.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = load_or_create_key(cfg.subject_key_path, "privacy.subject_key_file")
    policy = make_policy(cfg, clock, key)
    pin_factory = _mock_pin_factory() if simulate else None
    feedback = GpioFeedback(cfg.feedback, cfg.relay, pin_factory=pin_factory)
    publisher = MqttPublisher(
        cfg.mqtt, device=cfg.device.id, site=cfg.device.site, door=cfg.device.door,
        journal_path=cfg.journal.path, max_rows=cfg.journal.max_rows, clock=clock,
        state_provider=lambda: state_snapshot(scan, cfg, clock), firmware=__version__,
    )
    scan = ScanLoop(
        camera=camera or make_camera(cfg),
        decoder=make_decoder(cfg.decoder.backend),
        debouncer=Debouncer(cfg.decoder.debounce_s),
        policy=policy,
        feedback=feedback,
        open_journal=make_journal_opener(cfg, clock),
        notifier=publisher,
        settings=ScanSettings(capture_timeout_s=cfg.camera.timeout_s, share=cfg.privacy.share),
        on_event=on_event,
    )
    return Components(cfg, clock, scan, feedback, publisher, pin_factory)


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
        "unpersisted": health.unpersisted,
        "frames": health.frames,
        "scans": health.scans,
        "policy_mode": cfg.policy.mode.value,
        "policy_version": scan.policy.settings.version,
        "door": cfg.device.door,
    }


def _mock_pin_factory() -> Any:
    from gpiozero.pins.mock import MockFactory

    return MockFactory()
