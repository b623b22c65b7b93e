"""QR decoders behind the Decoder port: zxing-cpp (default) and pyzbar.

Both take the grey Y plane as it comes from the camera (a 2-D uint8 array,
possibly a strided view) and look for QR codes only: restricting symbologies is
the largest single speed-up measured (performance-notes §1).

A code's ``raw`` is the bytes its data segments carry, whichever decoder read
it: zxing-cpp gives them as they are, and zbar does in binary mode
(ZBAR_CFG_BINARY, libzbar >= 0.23), where it no longer converts to UTF-8 from
a guessed character set. Its ``text`` is the decoder's charset-aware reading:
zxing-cpp's own (ECI first, then its UTF-8 / Shift_JIS / ISO-8859-1 guess),
and for zbar the same guess made by ``codetext``. One exception zbar
leaves: data after an ECI that names a character set other than UTF-8 (ISO-8859-n,
Shift_JIS, CP437) comes out of zbar converted to UTF-8 even in binary mode.
"""

from __future__ import annotations

import logging
import os
from typing import Any, BinaryIO, Literal

import numpy as np

from entryscan.device.errors import DecoderError
from entryscan.device.model import Code, GreyImage
from entryscan.device.scan.codetext import text_of

log = logging.getLogger(__name__)

Backend = Literal["auto", "zxing", "zbar"]
BACKENDS: dict[str, Backend] = {"auto": "auto", "zxing": "zxing", "zbar": "zbar"}


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
                codes.append(Code(raw=bytes(r.bytes), text=r.text))
            else:
                located = True
        return codes, located

    def decode(self, image: GreyImage) -> list[Code]:
        return self.scan(image)[0]


# zbar.h: zbar_config_t and zbar_symbol_type_t values used here (pyzbar's enum predates BINARY).
ZBAR_QRCODE, ZBAR_CFG_ENABLE, ZBAR_CFG_BINARY, ZBAR_CFG_TEST_INVERTED = 64, 0, 4, 0x81
Y800 = 0x30303859  # fourcc "Y800": one grey byte per pixel


class ZbarDecoder:
    """libzbar through pyzbar's ctypes bindings, QR only, binary mode, on the raw buffer.

    ``inverted`` also tries light-on-dark codes (ZBAR_CFG_TEST_INVERTED): for file
    commands, not for the camera path, where it doubles the cost of empty frames.
    """

    name = "zbar"

    def __init__(self, *, inverted: bool = False) -> None:
        try:
            from pyzbar import wrapper
        except (ImportError, OSError) as exc:  # OSError: libzbar0 missing
            raise DecoderError(f"pyzbar/libzbar0 is not available: {exc}") from exc
        self._zbar = wrapper
        self._inverted = inverted
        scanner = self._new_scanner()  # fail now, not on the first frame
        wrapper.zbar_image_scanner_destroy(scanner)

    def _new_scanner(self) -> Any:
        z = self._zbar
        scanner = z.zbar_image_scanner_create()
        if not scanner:
            raise DecoderError("zbar could not create an image scanner")
        z.zbar_image_scanner_set_config(scanner, 0, ZBAR_CFG_ENABLE, 0)
        z.zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1)
        # set_config answers non-zero for an option this libzbar does not know.
        if z.zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1) != 0:
            z.zbar_image_scanner_destroy(scanner)
            raise DecoderError("libzbar is older than 0.23 (no binary mode): it would re-encode QR data")
        if self._inverted:
            z.zbar_image_scanner_set_config(scanner, 0, ZBAR_CFG_TEST_INVERTED, 1)
        return scanner

    def decode(self, image: GreyImage) -> list[Code]:
        from ctypes import string_at

        z = self._zbar
        height, width = image.shape
        # zbar's ctypes call accepts only bytes; the copy costs ~20 us at 640x480 (perf notes §2).
        buf = image.tobytes()
        scanner, zimage = self._new_scanner(), z.zbar_image_create()
        try:
            z.zbar_image_set_format(zimage, Y800)
            z.zbar_image_set_size(zimage, width, height)
            z.zbar_image_set_data(zimage, buf, len(buf), None)
            z.zbar_scan_image(scanner, zimage)
            raws = []
            symbol = z.zbar_image_first_symbol(zimage)
            while symbol:
                raws.append(string_at(z.zbar_symbol_get_data(symbol), z.zbar_symbol_get_data_length(symbol)))
                symbol = z.zbar_symbol_next(symbol)
        finally:
            z.zbar_image_destroy(zimage)
            z.zbar_image_scanner_destroy(scanner)
        return [Code(raw=raw, text=text_of(raw)) for raw in raws]

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
