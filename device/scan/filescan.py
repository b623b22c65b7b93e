"""Read every code in one image file: the union of every decoder the door has.

A file is not a live stream: there is no next frame to try again on, and no
frame budget. So the file commands (``entryscan decode``, ``check --image``)
run every pass and report each distinct code once, in the order first found:

1. the door's own FrameScanner (fast pass on a box-downscaled view, full
   resolution when a symbol is located, then its thorough fallbacks);
2. zxing-cpp with all its options (rotate, downscale, invert) at full resolution;
3. zbar, binary mode, also trying the inverted image;
4. cheap extra passes that earn their place on the photo sets (bench/filescan.py):
   a contrast stretch for washed-out photos, and a 2x upscale of small images,
   whose modules are too few pixels wide for either binarizer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

import numpy as np

from entryscan.device.errors import DecoderError
from entryscan.device.model import Code, GreyImage
from entryscan.device.scan.decoders import Backend, ZbarDecoder, ZxingDecoder
from entryscan.device.scan.framescan import FrameScanner

log = logging.getLogger(__name__)

SMALL_SIDE = 480  # images whose shorter side is below this also get a 2x upscaled look
STRETCH_PERCENTILES = (1.0, 99.0)

Pass = Callable[[GreyImage], list[Code]]


def contrast_stretch(image: GreyImage) -> GreyImage:
    """Map the 1st..99th percentile of grey levels onto 0..255 (a no-op copy for full-range images)."""
    lo, hi = np.percentile(image, STRETCH_PERCENTILES)
    if hi - lo < 1:
        return image
    scaled = (image.astype(np.float32) - lo) * (255.0 / (hi - lo))
    stretched: GreyImage = np.clip(scaled, 0, 255).astype(np.uint8)
    return stretched


def upscale2(image: GreyImage) -> GreyImage:
    """Each pixel doubled in both directions (no interpolation: module edges stay sharp)."""
    return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)


class FileScanner:
    """Every pass over one image; the passes are built once and reused across files."""

    def __init__(self, backend: Backend = "auto") -> None:
        """``auto``: every pass of both libraries; ``zxing`` or ``zbar``: that library's passes alone."""
        self.passes: list[tuple[str, Pass]] = []
        for library, build in (("zxing", _zxing_passes), ("zbar", _zbar_passes)):
            if backend not in ("auto", library):
                continue
            try:
                self.passes += build(backend == "auto")
            except DecoderError as exc:
                if backend == library:
                    raise
                log.warning("file scans go without %s: %s", library, exc)
        if not self.passes:
            raise DecoderError("no QR decoder is available")
        self.name = "file:" + "+".join(name for name, _ in self.passes)

    def decode(self, image: GreyImage) -> list[Code]:
        return union(fn(image) for _, fn in self.passes)

    def decode_by_pass(self, image: GreyImage) -> dict[str, list[Code]]:
        """What each pass reads on its own (for the bench)."""
        return {name: fn(image) for name, fn in self.passes}


def _zxing_passes(with_zbar_fallback: bool) -> list[tuple[str, Pass]]:
    door = FrameScanner("zxing", fallback=with_zbar_fallback, skip_unchanged=False, budget_ms=math.inf)
    thorough = ZxingDecoder(thorough=True)
    return [
        ("door", door.decode),
        ("zxing", thorough.decode),
        ("zxing-stretched", lambda img: thorough.decode(contrast_stretch(img))),
        ("zxing-upscaled", lambda img: thorough.decode(upscale2(img)) if _small(img) else []),
    ]


def _zbar_passes(_: bool) -> list[tuple[str, Pass]]:
    zbar = ZbarDecoder(inverted=True)
    return [("zbar", zbar.decode),
            ("zbar-upscaled", lambda img: zbar.decode(upscale2(img)) if _small(img) else [])]


def _small(image: GreyImage) -> bool:
    return bool(min(image.shape) < SMALL_SIDE)


def union(results: Iterable[list[Code]]) -> list[Code]:
    """Each distinct payload once, first reading kept."""
    seen: dict[bytes, Code] = {}
    for codes in results:
        for code in codes:
            seen.setdefault(code.raw, code)
    return list(seen.values())
