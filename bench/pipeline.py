"""The daemon's scan path in-process: camera frame -> decoder -> debounce -> policy -> journal -> feedback.

Built from the same pieces as device/builder.py (the sample door's config and badge list, the real
Policy, Journal and GpioFeedback on gpiozero's mock pins), without the MQTT publisher or threads,
so one frame can be timed from hand-over to decision.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import door_config
from entryscan.device.access.assemble import make_policy
from entryscan.device.access.clock import SystemClock
from entryscan.device.builder import make_journal_opener
from entryscan.device.config.settings import load_config
from entryscan.device.hardware.feedback import GpioFeedback
from entryscan.device.model import Decision, Frame, GreyImage, PendingUse
from entryscan.device.ports import Decoder
from entryscan.device.scan.camera import y_plane
from entryscan.device.scan.debounce import Debouncer
from entryscan.device.scan.loop import EntryJournal, ScanLoop, ScanSettings

STRIDE_PAD = 64  # picamera2 pads lores rows; frames are handed over as strided Y-plane views


def as_yuv420(grey: GreyImage) -> GreyImage:
    """Embed a grey frame as the Y plane of a padded YUV420 buffer, as the ISP delivers it."""
    h, w = grey.shape
    buf = np.full((h * 3 // 2, w + STRIDE_PAD), 128, np.uint8)
    buf[:h, :w] = grey
    return buf


class FrameSource:
    """The camera adapter's per-frame work: slice the Y plane, stamp a Frame (as Picamera2Camera)."""

    def __init__(self, width: int, height: int) -> None:
        self._size = (width, height)
        self._seq = 0

    def frame(self, yuv: GreyImage) -> Frame:
        self._seq += 1
        return Frame(image=y_plane(yuv, *self._size), seq=self._seq, monotonic=time.monotonic())


@dataclass
class Probes:
    """perf_counter stamps of the last feedback call and journal commit."""

    feedback: list[float] = field(default_factory=list)
    commit: list[float] = field(default_factory=list)


class StampedFeedback(GpioFeedback):
    def __init__(self, probes: Probes, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._probes = probes

    def show(self, decision: Decision) -> None:
        self._probes.feedback.append(time.perf_counter())
        super().show(decision)


class StampedJournal:
    """Wraps the real Journal; stamps the moment record_entry returned (the commit is done)."""

    def __init__(self, inner: Any, probes: Probes) -> None:
        self._inner = inner
        self._probes = probes

    def record_entry(self, fields: dict[str, object], use: PendingUse | None = None) -> dict[str, object] | None:
        event: dict[str, object] | None = self._inner.record_entry(fields, use)
        self._probes.commit.append(time.perf_counter())
        return event

    def record_use(self, use: PendingUse) -> None:
        self._inner.record_use(use)

    def record_alert(self, kind: str, detail: dict[str, object]) -> None:
        self._inner.record_alert(kind, detail)


class NullNotifier:
    def notify(self) -> None:
        return None

    def tag_scanned(self, tag_id: str) -> None:
        return None

    def decided(self, event: dict[str, object]) -> None:
        return None


class DecidePath:
    """ScanLoop.process up to the decision: decode -> debounce -> policy (no journal, no feedback)."""

    def __init__(self, workdir: Path, decoder: Decoder, debounce_s: float) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = load_config(door_config(workdir, "mqtt://127.0.0.1:1", workdir / "frames", 0))
        self._decoder = decoder
        self._debouncer = Debouncer(debounce_s)
        self._policy = make_policy(cfg, SystemClock(), os.urandom(32))

    def __call__(self, frame: Frame) -> list[Decision]:
        return [self._policy.decide(code.raw) for code in self._decoder.decode(frame.image)
                if self._debouncer.admit(code.raw, frame.monotonic)]


def scan_path(workdir: Path, decoder: Decoder, debounce_s: float) -> tuple[ScanLoop, Probes]:
    """A ScanLoop ready for ``process(frame)``, with a real journal under ``workdir``."""
    from gpiozero.pins.mock import MockFactory

    workdir.mkdir(parents=True, exist_ok=True)
    cfg = load_config(door_config(workdir, "mqtt://127.0.0.1:1", workdir / "frames", 0))
    clock = SystemClock()
    probes = Probes()
    feedback = StampedFeedback(probes, cfg.feedback, cfg.relay, pin_factory=MockFactory())
    opener = make_journal_opener(cfg, clock)

    def open_journal() -> EntryJournal:
        return StampedJournal(opener(), probes)

    scan = ScanLoop(camera=_NoCamera(), decoder=decoder, debouncer=Debouncer(debounce_s),
                    policy=make_policy(cfg, clock, os.urandom(32)), feedback=feedback,
                    open_journal=open_journal, notifier=NullNotifier(),
                    settings=ScanSettings(capture_timeout_s=1.0))
    # ScanLoop opens its journal on its own thread; here process() runs on ours.
    scan._journal = open_journal()
    return scan, probes


class _NoCamera:
    name = "bench"

    def open(self) -> None:
        return None

    def capture(self, timeout: float) -> Frame | None:
        return None

    def close(self) -> None:
        return None
