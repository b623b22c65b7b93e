"""``poster check``: read photos or scans of venue boards and check each against the site.

One JSON object per image: ``{"path", "readable", "venue", "signature", "matches_registry",
"differences"}``. Images are bounded (file size and pixel count) before they are decoded, and an
unreadable or hostile file is reported, never a crash.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from entryscan.device.errors import DecoderError
from entryscan.provisioning.venue import VenueVerifier, parse_venue_url

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 50_000_000


@dataclass
class BoardReport:
    path: str
    readable: bool
    venue: str | None = None
    signature: str | None = None
    matches_registry: bool = False
    differences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.readable and self.signature == "ok" and self.matches_registry

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "readable": self.readable, "venue": self.venue, "signature": self.signature,
                "matches_registry": self.matches_registry, "differences": self.differences}


def load_bounded_grey(path: Path) -> np.ndarray[Any, np.dtype[np.uint8]]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DecoderError(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        with Image.open(path) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise DecoderError(f"more than {MAX_PIXELS} pixels")
            opened.load()
            image: Image.Image = opened
            if image.mode in ("RGBA", "LA", "P"):  # transparent areas are white paper
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DecoderError(f"cannot read image: {exc}") from None


def read_codes(grey: np.ndarray[Any, np.dtype[np.uint8]]) -> list[str]:
    """Every QR text found: zxing-cpp's thorough pass (rotation, downscaling), then zbar as a second opinion."""
    from entryscan.device.scan.decoders import ZbarDecoder, ZxingDecoder

    texts = [c.text for c in ZxingDecoder(thorough=True).decode(grey)]
    if not texts:
        with contextlib.suppress(DecoderError):  # libzbar0 missing: zxing's answer stands
            texts = [c.text for c in ZbarDecoder().decode(grey)]
    return texts


def check_image(path: Path, verifier: VenueVerifier) -> BoardReport:
    try:
        texts = read_codes(load_bounded_grey(path))
    except (OSError, DecoderError) as exc:
        return BoardReport(str(path), False, differences=[f"cannot read the image: {exc}"])
    if not texts:
        return BoardReport(str(path), False, differences=["no QR code found"])
    url = next((t for t in texts if parse_venue_url(t) is not None), texts[0])
    result = verifier.verify(url)
    return BoardReport(str(path), True, result.venue, result.signature, result.matches_registry, result.differences)
