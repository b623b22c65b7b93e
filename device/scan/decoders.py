"""QR decoders behind the Decoder port: zxing-cpp (default) and pyzbar.

Both take the grey Y plane as it comes from the camera (a 2-D uint8 array,
possibly a strided view) and look for QR codes only: restricting symbologies is
the largest single speed-up measured (performance-notes §1).
"""

from __future__ import annotations

import logging
import os
from typing import Any, BinaryIO, Literal

import numpy as np

from entryscan.device.errors import DecoderError
from entryscan.device.model import Code, GreyImage

log = logging.getLogger(__name__)

Backend = Literal["auto", "zxing", "zbar"]
BACKENDS: dict[str, Backend] = {"auto": "auto", "zxing": "zxing", "zbar": "zbar"}


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


class ZxingDecoder:
    """zxing-cpp, QR only, plain text mode, raw bytes kept.

    ``try_rotate``/``try_downscale``/``try_invert`` default off: on 640x480 frames
    they double the cost and add nothing on upright codes. The thorough pass is
    for the fallback path. With ``report_located`` zxing also returns symbols it
    found but could not decode, which ``scan`` reports as a suspected code.
    """

    name = "zxing"

    def __init__(self, *, thorough: bool = False, report_located: bool = False) -> None:
        try:
            import zxingcpp
        except ImportError as exc:
            raise DecoderError(f"zxing-cpp is not installed: {exc}") from exc
        self._read = zxingcpp.read_barcodes
        self._kwargs: dict[str, Any] = {
            "formats": zxingcpp.BarcodeFormat.QRCode,
            "text_mode": zxingcpp.TextMode.Plain,
            "try_rotate": thorough,
            "try_downscale": thorough,
            "try_invert": thorough,
            "return_errors": report_located,
        }
        self.thorough = thorough

    def scan(self, image: GreyImage) -> tuple[list[Code], bool]:
        """Codes found, and whether a symbol was located that did not decode."""
        codes: list[Code] = []
        located = False
        for r in self._read(image, **self._kwargs):
            if r.valid:
                raw = bytes(r.bytes)
                codes.append(Code(raw=raw, text=_text(raw)))
            else:
                located = True
        return codes, located

    def decode(self, image: GreyImage) -> list[Code]:
        return self.scan(image)[0]


class ZbarDecoder:
    """pyzbar (libzbar0), QR only, on the raw buffer with no PIL conversion."""

    name = "zbar"

    def __init__(self) -> None:
        try:
            from pyzbar import pyzbar
        except (ImportError, OSError) as exc:  # OSError: libzbar0 missing
            raise DecoderError(f"pyzbar/libzbar0 is not available: {exc}") from exc
        self._decode = pyzbar.decode
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]

    def decode(self, image: GreyImage) -> list[Code]:
        height, width = image.shape
        # pyzbar's ctypes call accepts only bytes; the copy costs ~20 us at 640x480 (perf notes §2).
        buf = image.tobytes()
        results = self._decode((buf, width, height), symbols=self._symbols)
        return [Code(raw=bytes(r.data), text=_text(bytes(r.data))) for r in results]

    def scan(self, image: GreyImage) -> tuple[list[Code], bool]:
        """As ZxingDecoder.scan; zbar cannot report symbols it located but did not decode."""
        return self.decode(image), False


def make_decoder(backend: Backend, *, report_located: bool = False) -> ZxingDecoder | ZbarDecoder:
    """Build the configured decoder; ``auto`` takes zxing-cpp when it imports."""
    if backend == "zbar":
        return ZbarDecoder()
    if backend == "zxing":
        return ZxingDecoder(report_located=report_located)
    try:
        return ZxingDecoder(report_located=report_located)
    except DecoderError as exc:
        log.warning("zxing-cpp unavailable, falling back to pyzbar: %s", exc)
        return ZbarDecoder()


def load_grey(path: str | os.PathLike[str] | BinaryIO) -> GreyImage:
    """Read an image file as a grey uint8 array (the same plane the camera gives)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            img: Image.Image = opened
            # Transparent PNGs (the DCC test codes) get a white background, as on paper.
            if img.mode in ("RGBA", "LA", "P"):
                rgba = img.convert("RGBA")
                img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DecoderError(f"cannot read image {path}: {exc}") from exc
