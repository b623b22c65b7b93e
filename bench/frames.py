"""Synthetic grey camera frames for the benchmarks (numpy + Pillow + segno, no OpenCV).

A re-implementation of the frame ideas in the guide's perf-baseline frames script
without cv2 (OpenCV is not a project dependency and adds ~34 MiB; perf notes §5):

* ``empty``: a textured door scene (gradient, rectangles, lines, blur, sensor noise);
* ``clean``: one axis-aligned QR (side 25-38 % of the frame height), high contrast;
* ``hard``:  the same code rotated +-25 deg, tilted, low contrast, uneven light, blurred.

``still_scene`` renders one background with fresh sensor noise per frame: the idle door
as a camera really sees it (the scene does not change, the noise does).
"""

from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import segno
from PIL import Image, ImageDraw, ImageFilter

Grey = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]
SEED = 12345
CASES = ("empty", "clean", "hard")


@dataclass(frozen=True)
class FrameSet:
    case: str
    payload: bytes
    frames: list[Grey]


def make_payload(nbytes: int = 150, seed: int = 1) -> str:
    """A token-like ASCII payload (QR v8-M at 150 bytes, as in the baseline)."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=int(nbytes * 3 / 4) - 4, dtype=np.uint8).tobytes()
    return ("AC1:" + base64.urlsafe_b64encode(raw).decode().rstrip("="))[:nbytes]


def qr_modules(payload: str) -> npt.NDArray[np.bool_]:
    """The module matrix with a 4-module quiet zone; True = dark."""
    qr = segno.make(payload, error="m", micro=False, boost_error=False)
    matrix = np.array([list(row) for row in qr.matrix], dtype=bool)
    return np.pad(matrix, 4, constant_values=False)


def background(w: int, h: int, rng: np.random.Generator) -> Floats:
    scale = h / 480.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    grad = xx * math.cos(ang) + yy * math.sin(ang)
    grad = (grad - grad.min()) / (grad.max() - grad.min() + 1e-6)
    img = Image.fromarray((60 + 110 * grad).astype(np.uint8), "L")
    draw = ImageDraw.Draw(img)
    for _ in range(12):  # door-scene clutter: frames, signs, posters
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1 = x0 + int(rng.integers(int(20 * scale), int(200 * scale)))
        y1 = y0 + int(rng.integers(int(20 * scale), int(200 * scale)))
        draw.rectangle((x0, y0, x1, y1), fill=int(rng.uniform(30, 220)))
    for _ in range(15):
        pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(2)]
        draw.line(pts, fill=int(rng.uniform(20, 235)), width=max(1, int(rng.integers(1, 5) * scale)))
    img = img.filter(ImageFilter.GaussianBlur(1.5 * scale))
    return np.asarray(img, dtype=np.float32)


def _corners(case: str, side: float, cx: float, cy: float, rng: np.random.Generator) -> list[float]:
    half = side / 2
    if case == "clean":
        pts = np.array([[-half, -half], [half, -half], [half, half], [-half, half]], np.float64)
    else:  # tilt (one side shorter), corner jitter, then rotation
        short = rng.uniform(0.15, 0.30)
        pts = np.array([[-half, -half], [half, -half * (1 - short)],
                        [half, half * (1 - short)], [-half, half]], np.float64)
        pts += rng.uniform(-0.04, 0.04, size=pts.shape) * side
        a = math.radians(rng.uniform(-25, 25))
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        pts = pts @ rot.T
    return list((pts + [cx, cy]).ravel())


def _perspective_coeffs(dst: list[float], size: int) -> list[float]:
    """PIL's PERSPECTIVE data mapping output (dst quad) back to the source square."""
    src = [(0.0, 0.0), (size, 0.0), (size, size), (0.0, size)]
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(zip(dst[0::2], dst[1::2], strict=True), src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return [float(c) for c in np.linalg.solve(np.array(rows), np.array(rhs))]


def _place_code(bg: Floats, modules: npt.NDArray[np.bool_], case: str, rng: np.random.Generator) -> Floats:
    h, w = bg.shape
    n = modules.shape[0] - 8
    sym = rng.uniform(0.25, 0.38) * h
    side = sym * modules.shape[0] / n
    half = side / 2
    cx, cy = rng.uniform(half + 2, w - half - 2), rng.uniform(half + 2, h - half - 2)
    big = 8 * modules.shape[0]
    tile = Image.fromarray(np.where(modules, 0, 255).astype(np.uint8), "L").resize((big, big), Image.Resampling.NEAREST)
    coeffs = _perspective_coeffs(_corners(case, side, cx, cy, rng), big)
    code = tile.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR, fillcolor=0)
    mask = Image.new("L", (big, big), 255).transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR, fillcolor=0)
    if case == "clean":
        dark, light = 25.0, 220.0
    else:
        dark, light = rng.uniform(85, 105), rng.uniform(145, 165)
    c = dark + (light - dark) * np.asarray(code, np.float32) / 255
    m = np.asarray(mask, np.float32) / 255
    return (bg * (1 - m) + c * m).astype(np.float32)


def render(w: int, h: int, case: str, modules: npt.NDArray[np.bool_], rng: np.random.Generator) -> Grey:
    bg = background(w, h, rng)
    if case == "empty":
        return add_noise(bg, 6.0, rng)
    img = _place_code(bg, modules, case, rng)
    if case == "hard":
        img = (img * (0.8 + 0.35 * np.arange(w, dtype=np.float32) / w)).astype(np.float32)  # uneven light
        blur = rng.uniform(0.6, 1.0) * h / 480
    else:
        blur = 0.5 * h / 480
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "L").filter(ImageFilter.GaussianBlur(blur))
    return add_noise(np.asarray(pil, np.float32), 4.0 if case == "clean" else 6.0, rng)


def add_noise(img: Floats, sigma: float, rng: np.random.Generator) -> Grey:
    noisy = img + rng.normal(0, sigma, size=img.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(noisy, 0, 255).astype(np.uint8))


def make_set(w: int, h: int, case: str, n: int, payload: str | None = None, seed: int = SEED) -> FrameSet:
    """``n`` frames of one case; deterministic for a given (size, case, seed)."""
    text = payload if payload is not None else make_payload()
    modules = qr_modules(text)
    rng = np.random.default_rng(zlib.crc32(f"{w}x{h}:{case}:{seed}".encode()))
    return FrameSet(case, text.encode(), [render(w, h, case, modules, rng) for _ in range(n)])


def still_scene(w: int, h: int, n: int, seed: int = SEED) -> list[Grey]:
    """One unchanging background, ``n`` frames of fresh sensor noise (the idle door)."""
    rng = np.random.default_rng(seed)
    bg = background(w, h, rng)
    return [add_noise(bg, 6.0, rng) for _ in range(n)]
