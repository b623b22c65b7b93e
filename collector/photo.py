"""A citizen's photo, made safe to keep: bounded, decoded once, re-encoded as a plain JPEG.

Bounded before decoding (bytes, then the pixel count the header declares), decoded with Pillow, turned
upright (EXIF orientation), shrunk to ``MAX_SIDE`` and written again without any metadata: EXIF, GPS,
XMP, ICC and comments never reach the store. When the citizen chose to share the place, the GPS
position is read from the original first and kept as a separate (lat, lon), and nothing else.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from entryscan.device.errors import EntryscanError

MAX_BYTES = 8 * 1024 * 1024  # a phone's full-size JPEG fits
MAX_PIXELS = 40_000_000
MAX_SIDE = 1600
QUALITY = 80
FORMATS = ("JPEG", "PNG", "WEBP", "HEIF", "MPO")
_GPS_IFD = 0x8825


class PhotoRefused(EntryscanError):
    """A photo that is too large, not an image or of a kind not accepted; ``code`` names which."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes  # JPEG, no metadata
    mime: str
    width: int
    height: int
    place: tuple[float, float] | None  # from the photo's GPS, only when asked to keep it


def clean_photo(data: bytes, keep_place: bool = False) -> CleanPhoto:
    if len(data) > MAX_BYTES:
        raise PhotoRefused("photo_too_large", f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.format not in FORMATS:
                    raise PhotoRefused("photo_not_image", f"not a photo ({opened.format})")
                if opened.width * opened.height > MAX_PIXELS:
                    raise PhotoRefused("photo_too_large", f"more than {MAX_PIXELS} pixels")
                place = _gps(opened) if keep_place else None
                opened.load()
                image = ImageOps.exif_transpose(opened).convert("RGB")
    except PhotoRefused:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoRefused("photo_not_image", f"cannot read the photo: {exc}") from None
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY, optimize=True)  # no exif= argument: nothing is carried over
    return CleanPhoto(out.getvalue(), "image/jpeg", image.width, image.height, place)


def _gps(image: Image.Image) -> tuple[float, float] | None:
    """The photo's GPS position in degrees, or None (missing, malformed or out of range)."""
    try:
        gps = image.getexif().get_ifd(_GPS_IFD)
        lat = _degrees(gps[2], gps.get(1, "N"), "S")
        lon = _degrees(gps[4], gps.get(3, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError, AttributeError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return round(lat, 6), round(lon, 6)


def _degrees(dms: object, ref: object, negative: str) -> float:
    d, m, s = (float(x) for x in dms)  # type: ignore[attr-defined]
    value = d + m / 60 + s / 3600
    text = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -value if text.strip().upper() == negative else value
