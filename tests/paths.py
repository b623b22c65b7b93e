"""Where the external test material (tests/data, copied with its licences) and the sample door live."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO / "tests" / "data"
QR_PHOTOS = TESTDATA / "qr-photos"
SAMPLE_DOOR = REPO / "examples" / "door"
SAMPLE_FRAMES = SAMPLE_DOOR / "frames"
