"""decode: ms per 640x480 grey frame and detection rate, our per-frame path against its peers.

Methods, interleaved per frame in a shuffled order (see common.interleaved):
* ``pipeline``  - camera adapter (Y-plane view of a padded YUV420 buffer, Frame stamp) -> FrameScanner
                  -> debounce -> policy (sample door badge allowlist). Debounce 0 s so every decoded
                  code reaches the policy (a policy decision costs ~20 us); the journal commit and
                  feedback come after the decision and are timed by the ``latency`` bench.
* ``raw_zxing`` - zxingcpp.read_barcodes on the same Y plane, QR only, rotate/downscale/invert off:
                  the call our fast pass makes, so pipeline/raw_zxing is our overhead.
* ``raw_zxing_defaults`` - the same with zxing-cpp's defaults (rotate/downscale/invert on).
* ``raw_pyzbar`` - pyzbar on (bytes, w, h), QR only.
* ``naive``     - the typical Pi QR-scanner loop: RGB frame -> PIL Image -> pyzbar, all symbologies.
Frame kinds: ``empty`` (distinct door scenes: every frame differs, nothing is skipped), ``clean``,
``hard`` (see bench/frames.py), and ``still`` (one scene, fresh sensor noise: the idle door, where
FrameScanner's change skip applies).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zxingcpp
from PIL import Image
from pyzbar import pyzbar

from bench import frames
from bench.common import Mode, emit, interleaved, median, percentile
from bench.pipeline import DecidePath, FrameSource, as_yuv420
from entryscan.device.scan.framescan import FrameScanner

W, H = 640, 480
QR = zxingcpp.BarcodeFormat.QRCode
Found = Callable[[Any], list[bytes]]


def peers() -> dict[str, Found]:
    def zx(fast: bool) -> Found:
        read: Any = zxingcpp.read_barcodes  # the stubs type formats= too narrowly for BarcodeFormat
        kw: dict[str, Any] = {"formats": QR}
        if fast:
            kw.update(try_rotate=False, try_downscale=False, try_invert=False)
        return lambda yuv: [bytes(r.bytes) for r in read(yuv[:H, :W], **kw)]

    def zbar(yuv: Any) -> list[bytes]:
        plane = yuv[:H, :W]
        res = pyzbar.decode((plane.tobytes(), W, H), symbols=[pyzbar.ZBarSymbol.QRCODE])
        return [r.data for r in res]

    def naive(rgb: Any) -> list[bytes]:
        return [r.data for r in pyzbar.decode(Image.fromarray(rgb))]

    return {"raw_zxing": zx(True), "raw_zxing_defaults": zx(False), "raw_pyzbar": zbar, "naive": naive}


def frame_sets(mode: Mode) -> dict[str, tuple[bytes, list[Any]]]:
    n = mode.pick(3, 12)
    sets = {case: frames.make_set(W, H, case, n) for case in frames.CASES}
    out = {case: (s.payload, s.frames) for case, s in sets.items()}
    out["still"] = (b"", frames.still_scene(W, H, n))
    return out


def run_case(case: str, payload: bytes, greys: list[Any], reps: int, workdir: Path) -> None:
    scanner = FrameScanner()
    decide = DecidePath(workdir / case, scanner, debounce_s=0.0)
    source = FrameSource(W, H)
    # (padded YUV420 buffer, RGB copy): each method gets what its camera would hand it.
    items = [(as_yuv420(g), np.ascontiguousarray(np.dstack([g, g, g]))) for g in greys]
    methods: dict[str, Callable[[Any], object]] = {"pipeline": lambda it: decide(source.frame(it[0]))}
    for name, fn in peers().items():
        methods[name] = _on_rgb(fn) if name == "naive" else _on_yuv(fn)
    times = interleaved(methods, items, reps)
    for name, ts in times.items():
        ms = [t * 1000 for t in ts]
        emit("decode", "median", median(ms), "ms", case=case, method=name, n=len(ms))
        emit("decode", "p95", percentile(ms, 95), "ms", case=case, method=name, n=len(ms))
    if payload:
        for name, rate in detection(payload, items).items():
            emit("decode", "detect", rate, "ratio", case=case, method=name, n=len(items))
    if case == "still":
        emit("decode", "skipped", scanner.stats.skipped / max(scanner.stats.frames, 1), "ratio",
             case=case, method="pipeline")
    ratios(case, times)


def _on_yuv(fn: Found) -> Callable[[Any], object]:
    return lambda item: fn(item[0])


def _on_rgb(fn: Found) -> Callable[[Any], object]:
    return lambda item: fn(item[1])


def detection(payload: bytes, items: list[Any]) -> dict[str, float]:
    """Share of frames whose exact payload each method returned (a fresh scanner per frame)."""
    fns = peers()
    hits = {name: 0 for name in [*fns, "pipeline"]}
    for yuv, rgb in items:
        for name, fn in fns.items():
            hits[name] += payload in fn(rgb if name == "naive" else yuv)
        scanner = FrameScanner()
        hits["pipeline"] += payload in [c.raw for c in scanner.decode(FrameSource(W, H).frame(yuv).image)]
    return {name: h / len(items) for name, h in hits.items()}


def ratios(case: str, times: dict[str, list[float]]) -> None:
    ours = median(times["pipeline"])
    emit("decode", "pipeline_over_raw_zxing", ours / median(times["raw_zxing"]), "ratio", case=case)
    emit("decode", "naive_over_pipeline", median(times["naive"]) / ours, "ratio", case=case)


def main(mode: Mode) -> None:
    reps = mode.pick(2, 5)
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as tmp:
        for case, (payload, greys) in frame_sets(mode).items():
            run_case(case, payload, greys, reps, Path(tmp))
