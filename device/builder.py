"""The one place where configuration becomes running objects.

Everything below this module receives its collaborators ready-made; only the
builder reads files (keys, badge lists, trust material) or the environment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from entryscan.device import __version__
from entryscan.device.access.assemble import make_list_store, make_policy
from entryscan.device.access.clock import SystemClock
from entryscan.device.access.peers import PeerPassages
from entryscan.device.access.policy import Policy
from entryscan.device.config.paths import load_subject_key
from entryscan.device.config.settings import Config
from entryscan.device.delivery.journal import Journal
from entryscan.device.errors import JournalError
from entryscan.device.hardware.feedback import GpioFeedback
from entryscan.device.hardware.pins import hardware_pin_factory
from entryscan.device.hardware.tamper import TamperSwitch
from entryscan.device.keys import os_error
from entryscan.device.lifecycle.wipe import ensure_provisioned
from entryscan.device.ports import Camera, Clock
from entryscan.device.scan.camera import DirCamera, Picamera2Camera
from entryscan.device.scan.debounce import Debouncer
from entryscan.device.scan.framescan import FrameScanner
from entryscan.device.scan.loop import ScanLoop, ScanSettings

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


def make_journal_opener(cfg: Config, clock: Clock) -> Callable[[], Journal]:
    def open_journal() -> Journal:
        return Journal(cfg.journal.path, device=cfg.device.id, site=cfg.device.site, door=cfg.device.door,
                       max_rows=cfg.journal.max_rows, clock=clock)

    return open_journal


def _probe_journal(open_journal: Callable[[], Journal]) -> None:
    """A journal path that names a directory or some other file is a config error (78) now, not a door that runs
    on without recording; a disk that cannot be written yet is not: the scan loop's storage-fault handling and the
    publisher's retries take that (availability first, as configured)."""
    try:
        open_journal().close()
    except JournalError as exc:
        log.error("journal cannot be opened at start: %s", exc)


def build(
    cfg: Config,
    *,
    simulate: bool,
    clock: Clock | None = None,
    camera: Camera | None = None,
    on_event: Callable[[dict[str, object]], None] | None = None,
) -> Components:
    """Compose the daemon. ``camera``/``clock`` overrides exist for tests and benchmarks."""
    from entryscan.device.delivery.publisher import MqttPublisher

    ensure_provisioned(cfg)  # a wiped device refuses to run (exit 78) until `entryscan provision`
    clock = clock or SystemClock()
    try:
        cfg.journal.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:  # a full or failing disk is retried (70); a file in the way is a config error (78)
        raise os_error(exc, "journal.path", f"cannot create {cfg.journal.path.parent}") from None
    _probe_journal(make_journal_opener(cfg, clock))
    key = load_subject_key(cfg)
    lists = make_list_store(cfg, clock)
    policy = make_policy(cfg, clock, key, lists)
    pin_factory = _mock_pin_factory() if simulate else hardware_pin_factory()
    feedback = GpioFeedback(cfg.feedback, cfg.relay, pin_factory=pin_factory)
    publisher = MqttPublisher(
        cfg.mqtt, device=cfg.device.id, site=cfg.device.site, door=cfg.device.door,
        journal_path=cfg.journal.path, max_rows=cfg.journal.max_rows, clock=clock,
        state_provider=lambda: state_snapshot(scan, cfg, clock), firmware=__version__,
        lists=lists, peers=make_peers(cfg, policy, clock),
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


def make_peers(cfg: Config, policy: Policy, clock: Clock) -> PeerPassages | None:
    """A door with a direction learns passages from the entry events of the other doors of its site."""
    if policy.reuse is None or cfg.policy.direction == "none":
        return None
    return PeerPassages(policy.reuse, clock, device=cfg.device.id, site=cfg.device.site,
                        window_s=cfg.policy.passback_window_s)


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
        "lists_issued": scan.policy.lists.issued() if scan.policy.lists is not None else {},
        "door": cfg.device.door,
    }


def _mock_pin_factory() -> Any:
    from gpiozero.pins.mock import MockFactory

    return MockFactory()
