"""robustness: detection rate, our FrameScanner against the plain decoders.

Sets:
* ``qr-photos`` - the 96 real photographs in tests/data/qr-photos (expected text in N.txt,
                  compared as raw bytes);
* ``qr-photos-inverted`` - the same photos inverted (light code on dark, as on a dark-mode phone):
                  derived from the real set, a case the fast pass cannot see;
* ``synthetic-hard-640x480`` / ``-1280x720`` - tilted, low-contrast, blurred codes (bench/frames.py).
Methods: ``zxing`` (plain, fast flags), ``zxing_thorough`` (rotate/downscale/invert), ``zbar``,
``framescan_1`` (one frame), ``framescan_held`` (the same image for 5 frames, i.e. ~0.3 s held
still in front of the camera, with fresh noise, so the settled-scene fallback can run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bench import frames
from bench.common import QR_PHOTOS, Mode, emit
from entryscan.device.model import GreyImage
from entryscan.device.scan.decoders import ZbarDecoder, ZxingDecoder, load_grey
from entryscan.device.scan.framescan import FrameScanner

HELD_FRAMES = 5
Case = tuple[GreyImage, bytes]
Reader = Callable[[GreyImage], list[bytes]]


def photo_cases(invert: bool) -> Iterator[Case]:
    for png in sorted(QR_PHOTOS.glob("*/*.png")):
        image = load_grey(png)
        yield (255 - image if invert else image), png.with_suffix(".txt").read_bytes()


def synthetic_cases(w: int, h: int, n: int) -> Iterator[Case]:
    fs = frames.make_set(w, h, "hard", n, seed=2024)
    for img in fs.frames:
        yield img, fs.payload


def held(image: GreyImage) -> list[bytes]:
    """A fresh scanner fed the image HELD_FRAMES times with a little sensor noise on each."""
    scanner = FrameScanner()
    rng = np.random.default_rng(0)
    found: list[bytes] = []
    for _ in range(HELD_FRAMES):
        noise = rng.integers(-2, 3, size=image.shape, dtype=np.int16)
        frame = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        found += [c.raw for c in scanner.decode(frame)]
    return found


def readers() -> dict[str, Reader]:
    def plain(decoder: Any) -> Reader:
        return lambda img: [c.raw for c in decoder.decode(img)]

    return {
        "zxing": plain(ZxingDecoder()),
        "zxing_thorough": plain(ZxingDecoder(thorough=True)),
        "zbar": plain(ZbarDecoder()),
        "framescan_1": lambda img: [c.raw for c in FrameScanner().decode(img)],
        "framescan_held": held,
    }


def score(name: str, cases: list[Case]) -> None:
    for method, read in readers().items():
        hits = sum(expected in read(img) for img, expected in cases)
        emit("robustness", "detected", hits, "codes", set=name, method=method, n=len(cases))
        emit("robustness", "detect", hits / len(cases), "ratio", set=name, method=method, n=len(cases))


def main(mode: Mode) -> None:
    photos = list(photo_cases(invert=False))
    if mode.quick:
        photos = photos[::8]
    score("qr-photos", photos)
    score("qr-photos-inverted", list(photo_cases(invert=True))[:: mode.pick(8, 1)])
    n = mode.pick(4, 24)
    score("synthetic-hard-640x480", list(synthetic_cases(640, 480, n)))
    score("synthetic-hard-1280x720", list(synthetic_cases(1280, 720, n)))
