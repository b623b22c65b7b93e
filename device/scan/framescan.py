"""FrameScanner: the per-frame decode policy in front of the plain decoders.

It satisfies the Decoder port (``name``, ``decode(image) -> list[Code]``) so the
builder can use it in place of a plain decoder. Per frame it does, in order:

1. **Skip unchanged scenes.** A 40x30-ish grid of block means, taken from a
   sparse sample of the Y plane (~25 us at 640x480), is compared with the grid of
   the last *decoded* frame. Unchanged -> no decode; the codes of that last
   decode are returned again so the debouncer keeps seeing a code held still
   (its timer restarts on every sighting, exactly as if we had decoded).
   A changed frame is decoded at once, so the first frame that shows a code is
   never delayed; a few "settle" frames after a change are decoded too (motion
   blur and autofocus clear up after the scene stops moving, while the block
   means barely change), and a periodic refresh bounds what a missed change costs.
2. **Fast pass.** zxing-cpp, QR only, rotate/downscale/invert off, straight on
   the (possibly strided) Y plane: no copy. Frames larger than ``fast_pixels``
   are box-downscaled by an integer factor first (perf notes §1: 7-15x cheaper,
   and averaging even helps blurred codes); full resolution is tried only when
   zxing reports a symbol it located but could not decode (``return_errors``),
   i.e. when a finder pattern is suspected.
3. **Fallbacks within a budget.** When the fast pass fails on a frame that
   looks like a code (a located-but-undecoded symbol), the thorough zxing pass
   (rotate/invert/downscale) and then pyzbar run; once a changed scene has
   settled, the thorough pass alone runs (it catches inverted codes, whose
   finder patterns the fast pass cannot see). Each runs only if its predicted
   cost still fits ``budget_ms``. A C
   decoder cannot be interrupted, so the budget is enforced by prediction: a
   per-decoder cost per pixel learnt from its own runs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from entryscan.device.errors import DecoderError
from entryscan.device.model import Code, GreyImage
from entryscan.device.ports import Decoder
from entryscan.device.scan.decoders import Backend, ZbarDecoder, ZxingDecoder, make_decoder

log = logging.getLogger(__name__)

Signature = npt.NDArray[np.int32]

SAMPLE_TARGET = 80  # samples across the width: half the rows of 160 read after a cold cache, same detection
BLOCK = 4  # samples per block edge: a block mean averages 16 samples (noise / 4)
MIN_CHANGED_BLOCKS = 2  # one block can flip on a noise spike; two rarely do
# First-guess decode costs (ns per pixel, x86 figures from the perf notes); the
# scanner replaces them with what it measures, so a Pi learns its own.
PRIOR_NS_PER_PIXEL = {"zxing-thorough": 9.0, "zbar": 62.0, "zxing": 4.5}
COST_SMOOTHING = 0.3


@dataclass
class ScanStats:
    """Counters for benchmarks and the ``state`` document; written by the scan thread only."""

    frames: int = 0
    skipped: int = 0
    decoded: int = 0
    full_res_retries: int = 0
    fallback_runs: int = 0
    fallback_hits: int = 0
    over_budget: int = 0


@dataclass
class _Fallback:
    """One fallback decoder, built on first use: pyzbar alone adds ~2.4 MB RSS, paid only if needed."""

    label: str
    make: Callable[[], Decoder]
    ns_per_pixel: float
    on_settle: bool  # also worth a look at a settled scene with no located symbol
    decoder: Decoder | None = None
    broken: bool = False

    def predict_s(self, pixels: int) -> float:
        return self.ns_per_pixel * pixels / 1e9

    def learn(self, seconds: float, pixels: int) -> None:
        measured = seconds * 1e9 / max(pixels, 1)
        self.ns_per_pixel += COST_SMOOTHING * (measured - self.ns_per_pixel)

    def get(self) -> Decoder | None:
        if self.decoder is None and not self.broken:
            try:
                self.decoder = self.make()
            except DecoderError as exc:
                self.broken = True
                log.warning("fallback %s unavailable: %s", self.label, exc)
        return self.decoder


def box_downscale(image: GreyImage, factor: int) -> GreyImage:
    """Mean of each factor x factor block; reads the (strided) view, writes only the small image."""
    h, w = image.shape
    oh, ow = h // factor, w // factor
    acc = np.zeros((oh, ow), dtype=np.uint16)
    for dy in range(factor):
        for dx in range(factor):
            acc += image[dy : oh * factor : factor, dx : ow * factor : factor]
    if factor & (factor - 1) == 0:  # power of two: a shift is exact and cheaper than a divide
        acc >>= int(math.log2(factor * factor))
        return acc.astype(np.uint8)
    return (acc // (factor * factor)).astype(np.uint8)


def downscale_factor(shape: tuple[int, ...], fast_pixels: int) -> int:
    """The integer factor that brings the frame to about ``fast_pixels`` (1 = leave it)."""
    pixels = shape[0] * shape[1]
    if fast_pixels <= 0 or pixels <= fast_pixels:
        return 1
    return math.ceil(math.sqrt(pixels / fast_pixels))


def signature(image: GreyImage) -> Signature:
    """Block sums over a sparse sample: cheap, and averaging 16 samples tames sensor noise."""
    step = max(1, image.shape[1] // SAMPLE_TARGET)
    sample = image[::step, ::step]
    sh, sw = (sample.shape[0] // BLOCK) * BLOCK, (sample.shape[1] // BLOCK) * BLOCK
    # Sum rows then columns with strided slices: much faster than reshape().sum(axis=(1, 3)).
    rows = sample[0:sh:BLOCK].astype(np.int32)
    for k in range(1, BLOCK):
        rows += sample[k:sh:BLOCK]
    out = rows[:, 0:sw:BLOCK].copy()
    for k in range(1, BLOCK):
        out += rows[:, k:sw:BLOCK]
    return out


class FrameScanner:
    """Decoder-port wrapper: change skip, downscale-first, budgeted fallbacks (see module doc)."""

    def __init__(
        self,
        backend: Backend = "auto",
        *,
        fallback: bool = True,
        fast_pixels: int = 640 * 480,
        budget_ms: float = 40.0,
        skip_unchanged: bool = True,
        change_threshold: float = 12.0,
        settle_frames: int = 4,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = make_decoder(backend, report_located=True)
        self._fallbacks = _make_fallbacks(self._primary.name) if fallback else []
        self.name = "framescan:" + "+".join([self._primary.name] + [f.label for f in self._fallbacks])
        self._fast_pixels = fast_pixels
        self._budget_s = budget_ms / 1000
        self._skip_unchanged = skip_unchanged
        # Signatures are sums of BLOCK*BLOCK samples: scale the grey-level threshold to match.
        self._threshold = change_threshold * BLOCK * BLOCK
        self._settle_frames = settle_frames
        self._refresh_s = refresh_s
        self._clock = clock
        self._reference: Signature | None = None
        self._last_codes: list[Code] = []
        self._last_decode = -math.inf
        self._settle_left = 0
        self.stats = ScanStats()

    def decode(self, image: GreyImage) -> list[Code]:
        self.stats.frames += 1
        now = self._clock()
        sig = signature(image) if self._skip_unchanged else None
        deep_look = False
        if sig is not None:
            verdict = self._judge(sig, now)
            if verdict == "skip":
                self.stats.skipped += 1
                return list(self._last_codes)
            deep_look = verdict == "settled"
        codes = self._scan(image, deep_look)
        self.stats.decoded += 1
        self._reference, self._last_codes, self._last_decode = sig, codes, now
        return codes

    def _judge(self, sig: Signature, now: float) -> str:
        """``decode`` (changed or due), ``settled`` (last settle frame), or ``skip``."""
        ref = self._reference
        if ref is None or ref.shape != sig.shape or self._changed(ref, sig):
            self._settle_left = self._settle_frames
            return "decode"
        if self._settle_left > 0:
            self._settle_left -= 1
            return "settled" if self._settle_left == 0 else "decode"
        if now - self._last_decode >= self._refresh_s:
            return "decode"
        return "skip"

    def _changed(self, ref: Signature, sig: Signature) -> bool:
        moved = np.count_nonzero(np.abs(sig - ref) > self._threshold)
        return bool(moved >= MIN_CHANGED_BLOCKS)

    def _scan(self, image: GreyImage, deep_look: bool) -> list[Code]:
        start = time.perf_counter()
        factor = downscale_factor(image.shape, self._fast_pixels)
        view = box_downscale(image, factor) if factor > 1 else image
        codes, suspect = self._primary.scan(view)
        if codes:
            return codes
        if factor > 1 and suspect:
            # A symbol was located at low resolution: small or fine codes need every pixel.
            self.stats.full_res_retries += 1
            codes, suspect = self._primary.scan(image)
            if codes:
                return codes
        if suspect or deep_look:
            return self._fall_back(image, start, settled_only=not suspect)
        return []

    def _fall_back(self, image: GreyImage, start: float, settled_only: bool) -> list[Code]:
        pixels = image.shape[0] * image.shape[1]
        for fb in self._fallbacks:
            if settled_only and not fb.on_settle:
                continue
            if time.perf_counter() - start + fb.predict_s(pixels) > self._budget_s:
                self.stats.over_budget += 1
                continue  # a cheaper fallback further down may still fit
            decoder = fb.get()
            if decoder is None:
                continue
            t0 = time.perf_counter()
            codes = decoder.decode(image)
            fb.learn(time.perf_counter() - t0, pixels)
            self.stats.fallback_runs += 1
            if codes:
                self.stats.fallback_hits += 1
                return codes
        return []


def _make_fallbacks(primary: str) -> list[_Fallback]:
    """Thorough zxing first (cheap, tolerant), then the other library; both built on first use.

    A settled scene with no located symbol gets only the thorough zxing pass: what it adds there
    is inverted and rotated codes, which pyzbar (no invert) would not read either. pyzbar runs on
    located-but-undecoded symbols, where its different binarizer sometimes wins.
    """
    out = [_Fallback("zxing-thorough", lambda: ZxingDecoder(thorough=True), PRIOR_NS_PER_PIXEL["zxing-thorough"], True)]
    if primary != "zbar":
        out.append(_Fallback("zbar", ZbarDecoder, PRIOR_NS_PER_PIXEL["zbar"], False))
    return out
