"""latency: a frame carrying a code handed to the pipeline -> journal commit, and -> feedback call.

In-process ScanLoop.process with FrameScanner, the sample door's policy, a real SQLite journal
(WAL, synchronous=FULL) in a temporary folder on this disk, and GpioFeedback on mock pins. Each
trial shows the door an empty scene for two frames (FrameScanner's reference), then a frame with a
new code; the journal commit precedes the feedback by design (scanloop.py), so feedback >= commit.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import frames
from bench.common import Mode, emit, median, percentile
from bench.pipeline import FrameSource, as_yuv420, scan_path
from entryscan.device.model import GreyImage
from entryscan.device.scan.framescan import FrameScanner

W, H = 640, 480
IDLE_GAP_S = 0.03  # about a frame interval between trials, so each one starts from an idle loop


def payloads(n: int) -> list[str]:
    """Allowed badges and unknown codes alike (a deny is feedback too); all distinct, so no
    trial is debounced as a repeat of an earlier one."""
    staff = [f"STAFF-000{i}" for i in (1, 2, 3)]
    return [staff.pop(0) if staff and i % 2 == 0 else f"VISITOR-{i:04d}" for i in range(n)]


def trial_frames(n: int) -> tuple[list[GreyImage], list[GreyImage]]:
    empty = frames.still_scene(W, H, 2, seed=99)
    coded = [frames.make_set(W, H, "clean", 1, payload=p, seed=i).frames[0] for i, p in enumerate(payloads(n))]
    return empty, coded


def main(mode: Mode) -> None:
    n = mode.pick(6, 40)
    empty, coded = trial_frames(n)
    to_commit: list[float] = []
    to_feedback: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        # Debounce as shipped (3 s); every trial's code is distinct, so each one is a new scan.
        scan, probes = scan_path(Path(tmp), FrameScanner(), debounce_s=3.0)
        source = FrameSource(W, H)
        empties = [as_yuv420(e) for e in empty]
        try:
            for img in coded:
                for e in empties:
                    scan.process(source.frame(e))
                yuv = as_yuv420(img)
                time.sleep(IDLE_GAP_S)
                t0 = time.perf_counter()
                events = scan.process(source.frame(yuv))
                if len(events) != 1:
                    raise RuntimeError(f"expected one event per coded frame, got {len(events)}")
                to_commit.append((probes.commit[-1] - t0) * 1000)
                to_feedback.append((probes.feedback[-1] - t0) * 1000)
        finally:
            scan.feedback.close()
    for name, xs in (("to_commit", to_commit), ("to_feedback", to_feedback)):
        emit("latency", f"{name}_median", median(xs), "ms", n=len(xs))
        emit("latency", f"{name}_p95", percentile(xs, 95), "ms", n=len(xs))
