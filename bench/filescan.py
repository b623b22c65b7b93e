"""filescan: read rate of the file commands (``entryscan decode``, ``check --image``) beside the plain libraries.

Sets (from the real photographs in tests/data/qr-photos; ``QR_PHOTOS`` in bench/common.py):
* ``qr-photos`` - the 96 photos as they are;
* ``inverted`` - light code on dark (a dark-mode phone screen);
* ``faded`` - grey levels squeezed to a quarter of their range (a washed-out print or a dim screen);
* ``shrunk3`` - a third of the size (a code far from the lens: modules of one or two pixels);
* ``blurred`` - Gaussian blur, radius 2 px (out of focus).
Methods: ``plain_zxing`` - zxingcpp.read_barcodes, QR only, every option at zxing-cpp's defaults
(rotate, downscale, invert); ``plain_pyzbar`` - pyzbar.decode, QR only, as shipped; ``union_plain``
- either of those two; ``file_command`` - FileScanner("auto"), what the file commands run; and
``file_without_<pass>`` - the file command less one pass, which shows what each pass earns.
A read counts when a code's bytes, or its text, equal the expected text.
Run: ``python -m bench filescan`` (add ``--quick`` for every eighth photo).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import zxingcpp
from PIL import Image, ImageFilter
from pyzbar import pyzbar

from bench.common import QR_PHOTOS, Mode, emit, median
from entryscan.device.model import GreyImage
from entryscan.device.scan.decoders import load_grey
from entryscan.device.scan.filescan import FileScanner, union

Reading = list[tuple[bytes, str]]
Reader = Callable[[GreyImage], Reading]
Case = tuple[GreyImage, bytes]


def variants(image: GreyImage) -> Iterator[tuple[str, GreyImage]]:
    yield "qr-photos", image
    yield "inverted", 255 - image
    yield "faded", (image.astype(np.float32) * 0.25 + 150).astype(np.uint8)
    h, w = image.shape
    pil = Image.fromarray(image)
    yield "shrunk3", np.asarray(pil.resize((max(1, w // 3), max(1, h // 3)), Image.Resampling.BILINEAR))
    yield "blurred", np.asarray(pil.filter(ImageFilter.GaussianBlur(2.0)))


def photo_sets(mode: Mode) -> dict[str, list[Case]]:
    sets: dict[str, list[Case]] = {}
    photos = sorted(QR_PHOTOS.glob("*/*.png"))[:: mode.pick(8, 1)]
    for png in photos:
        expected = png.with_suffix(".txt").read_bytes()
        for name, image in variants(load_grey(png)):
            sets.setdefault(name, []).append((image, expected))
    return sets


def plain_readers() -> dict[str, Reader]:
    read: Any = zxingcpp.read_barcodes  # the stubs type formats= too narrowly for BarcodeFormat

    def zxing(img: GreyImage) -> Reading:
        return [(bytes(r.bytes), r.text) for r in read(img, formats=zxingcpp.BarcodeFormat.QRCode,
                                                       text_mode=zxingcpp.TextMode.Plain)]

    def zbar(img: GreyImage) -> Reading:
        found = pyzbar.decode((img.tobytes(), img.shape[1], img.shape[0]), symbols=[pyzbar.ZBarSymbol.QRCODE])
        return [(r.data, r.data.decode("utf-8", "replace")) for r in found]

    return {"plain_zxing": zxing, "plain_pyzbar": zbar}


def file_readers(scanner: FileScanner) -> dict[str, Reader]:
    def without(skip: str) -> Reader:
        kept = [fn for name, fn in scanner.passes if name != skip]
        return lambda img: [(c.raw, c.text) for c in union(fn(img) for fn in kept)]

    out: dict[str, Reader] = {"file_command": lambda img: [(c.raw, c.text) for c in scanner.decode(img)]}
    out.update({f"file_without_{name}": without(name) for name, _ in scanner.passes})
    return out


def hit(reading: Reading, expected: bytes) -> bool:
    text = expected.decode("utf-8", "replace")
    return any(raw == expected or found == text for raw, found in reading)


def score(set_name: str, cases: list[Case], readers: dict[str, Reader]) -> None:
    plain = plain_readers()
    union_hits = 0
    for image, expected in cases:
        union_hits += any(hit(fn(image), expected) for fn in plain.values())
    n = len(cases)
    emit("filescan", "read", union_hits / n, "ratio", set=set_name, method="union_plain", hits=union_hits, n=n)
    for method, read in {**plain, **readers}.items():
        hits, ms = 0, []
        for image, expected in cases:
            t0 = time.perf_counter()
            reading = read(image)
            ms.append((time.perf_counter() - t0) * 1000)
            hits += hit(reading, expected)
        emit("filescan", "read", hits / n, "ratio", set=set_name, method=method, hits=hits, n=n,
             median_ms=round(median(ms), 2))


def main(mode: Mode) -> None:
    readers = file_readers(FileScanner("auto"))
    for set_name, cases in photo_sets(mode).items():
        score(set_name, cases, readers)
