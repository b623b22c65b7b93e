"""Render the sample frames the simulated door replays (examples/door/frames).

Each frame is a 640x480 grey image: a textured, noisy background like a real
doorway, with at most one QR code at a slight angle. Deterministic (fixed seed),
so re-running reproduces the committed files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import segno
from PIL import Image, ImageFilter

WIDTH, HEIGHT = 640, 480

# (file stem, payload or None for an empty doorway)
SCRIPT: list[tuple[str, str | None]] = [
    ("000-empty", None),
    ("001-empty", None),
    ("002-staff-0001", "STAFF-0001"),
    ("003-staff-0001-still", "STAFF-0001"),
    ("004-staff-0001-still", "STAFF-0001"),
    ("005-empty", None),
    ("006-visitor-unknown", "VISITOR-7Q2X"),
    ("007-empty", None),
    ("008-staff-0002", "STAFF-0002"),
    ("009-empty", None),
    ("010-contractor-unknown", "https://example.com/not-a-badge"),
    ("011-empty", None),
    ("012-staff-0003", "STAFF-0003"),
    ("013-empty", None),
]


def background(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    base = 70 + 90 * (xx / WIDTH) * 0.6 + 40 * (yy / HEIGHT)
    for _ in range(6):
        x0, y0 = rng.integers(0, WIDTH - 80), rng.integers(0, HEIGHT - 80)
        base[y0:y0 + rng.integers(30, 160), x0:x0 + rng.integers(30, 200)] += rng.uniform(-35, 35)
    return base + rng.normal(0, 4, base.shape)


def paste_code(canvas: np.ndarray, payload: str, rng: np.random.Generator) -> np.ndarray:
    qr = segno.make(payload, error="m", micro=False)
    scale = max(3, int(HEIGHT * 0.34) // (qr.symbol_size(border=4)[0]))
    rows = np.array([list(r) for r in qr.matrix], dtype=np.uint8)
    rows = np.pad(rows, 4)
    tile = np.kron(np.where(rows == 1, 25, 225).astype(np.uint8), np.ones((scale, scale), np.uint8))
    img = Image.fromarray(tile).rotate(float(rng.uniform(-8, 8)), expand=True, fillcolor=200)
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    tile_arr = np.asarray(img, dtype=np.float32)
    th, tw = tile_arr.shape
    y0 = int(rng.integers(20, HEIGHT - th - 20))
    x0 = int(rng.integers(40, WIDTH - tw - 40))
    canvas[y0:y0 + th, x0:x0 + tw] = tile_arr
    return canvas


def render(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    rng = np.random.default_rng(2021)
    for stem, payload in SCRIPT:
        canvas = background(rng)
        if payload is not None:
            canvas = paste_code(canvas, payload, rng)
        grey = np.clip(canvas, 0, 255).astype(np.uint8)
        Image.fromarray(grey).save(out / f"{stem}.png", optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "examples/door/frames")
    render(parser.parse_args().out)


if __name__ == "__main__":
    main()
