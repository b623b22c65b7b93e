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

from device.errors import DecoderError
from device.model import Code, GreyImage

log = logging.getLogger(__name__)

Backend = Literal["auto", "zxing", "zbar"]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


class ZxingDecoder:
    """zxing-cpp, QR only, plain text mode, raw bytes kept.

    ``try_rotate``/``try_downscale``/``try_invert`` default off: on 640x480 frames
    they double the cost and add nothing on upright codes. The thorough pass is
    for the fallback path.
    """

    name = "zxing"

    def __init__(self, *, thorough: bool = False) -> None:
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
        }
        self.thorough = thorough

    def decode(self, image: GreyImage) -> list[Code]:
        results = self._read(image, **self._kwargs)
        return [Code(raw=bytes(r.bytes), text=_text(bytes(r.bytes))) for r in results if r.valid]


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


def make_decoder(backend: Backend) -> ZxingDecoder | ZbarDecoder:
    """Build the configured decoder; ``auto`` takes zxing-cpp when it imports."""
    if backend == "zbar":
        return ZbarDecoder()
    if backend == "zxing":
        return ZxingDecoder()
    try:
        return ZxingDecoder()
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
