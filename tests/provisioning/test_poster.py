"""Venue boards: rendered, degraded as a phone photo would, read back with zxing-cpp and checked."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import segno
from PIL import Image, ImageDraw, ImageFilter

from entryscan.provisioning.__main__ import main
from entryscan.provisioning.poster import BOLD, PAGE, printable
from tests.provisioning.test_venue import BASE, make_site, venue_add, with_param

Degrade = Callable[[Image.Image], Image.Image]


def render(site_dir: Path, out: Path) -> dict[str, object]:
    assert main(["poster", "--site-dir", str(site_dir), "--venue", "cho-ben-thanh", "--base-url", BASE,
                 "--out", str(out)]) == 0
    return {}


def check(capsys: pytest.CaptureFixture[str], site_dir: Path, *images: Path) -> tuple[int, list[dict[str, object]]]:
    capsys.readouterr()
    status = main(["poster", "check", *map(str, images), "--site-dir", str(site_dir)])
    return status, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("board")
    site_dir = make_site(root)
    assert venue_add(site_dir, "--opening-hours", "T2–T6 07:30–17:00") == 0
    render(site_dir, root / "board.png")
    return site_dir, root / "board.png"


def perspective(image: Image.Image) -> Image.Image:
    """A board photographed from below and to the left: the page becomes a trapezoid."""
    w, h = image.size
    quad = [(0.0, 0.0), (w, h * 0.08), (w * 0.92, h * 0.95), (w * 0.05, h)]  # where the corners land
    a = np.array([[x, y, 1, 0, 0, 0, -u * x, -u * y] for (x, y), (u, _) in zip(quad, [(0, 0), (w, 0), (w, h), (0, h)],
                                                                               strict=True)] +
                 [[0, 0, 0, x, y, 1, -v * x, -v * y] for (x, y), (_, v) in zip(quad, [(0, 0), (w, 0), (w, h), (0, h)],
                                                                               strict=True)], dtype=float)
    b = np.array([0, w, w, 0, 0, 0, h, h], dtype=float)
    coeffs = np.linalg.solve(a, b)  # maps output pixels back to the page
    return image.transform((w, h), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BICUBIC,
                           fillcolor=200)


def covered(image: Image.Image) -> Image.Image:
    """A sticker over the middle of the code (about 8 % of its area, away from the finder patterns)."""
    out = image.copy()
    w, h = out.size
    ImageDraw.Draw(out).rectangle((w * 0.40, h * 0.42, w * 0.60, h * 0.54), fill=90)
    return out


def jpeg(quality: int) -> Degrade:
    def degrade(image: Image.Image) -> Image.Image:
        import io

        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue()))
    return degrade


def phone(width: int) -> Degrade:
    return lambda image: image.resize((width, round(width * image.height / image.width)), Image.Resampling.BOX)


DEGRADATIONS: dict[str, Degrade] = {
    "phone_1080": phone(1080),
    "phone_720": phone(720),
    "blur_r6": lambda im: im.filter(ImageFilter.GaussianBlur(6)),
    "rotated_17": lambda im: im.rotate(17, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC),
    "upside_down": lambda im: im.rotate(180),
    "perspective": perspective,
    "jpeg_q30": jpeg(30),
    "covered": covered,
    "phone_blur_jpeg": lambda im: jpeg(30)(phone(1080)(im).filter(ImageFilter.GaussianBlur(1.5))),
    "dim_low_contrast": lambda im: im.point(lambda v: 70 + v * 0.45),
}


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
def test_degraded_copies_read_and_verify(board: tuple[Path, Path], tmp_path: Path, name: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    site_dir, png = board
    copy = tmp_path / f"{name}.png"
    DEGRADATIONS[name](Image.open(png).convert("L")).convert("L").save(copy)
    status, [report] = check(capsys, site_dir, copy)
    assert report == {"path": str(copy), "readable": True, "venue": "cho-ben-thanh", "signature": "ok",
                      "matches_registry": True, "differences": []}
    assert status == 0


def test_rendered_png_is_a4_at_300_dpi(board: tuple[Path, Path]) -> None:
    with Image.open(board[1]) as image:
        assert image.size == PAGE
        assert round(image.info["dpi"][0]) == 300


def test_pdf_is_vector_and_reads_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("pdftoppm") is None or shutil.which("pdfimages") is None:
        pytest.skip("poppler-utils not installed (scripts/setup.sh installs it)")
    site_dir = make_site(tmp_path)
    assert venue_add(site_dir) == 0
    render(site_dir, tmp_path / "board.pdf")
    images = subprocess.run(["pdfimages", "-list", str(tmp_path / "board.pdf")], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert len(images) == 2  # the header lines only: no raster image in the page
    subprocess.run(["pdftoppm", "-r", "100", "-gray", "-png", str(tmp_path / "board.pdf"), str(tmp_path / "r")],
                   check=True)
    status, [report] = check(capsys, site_dir, tmp_path / "r-1.png")
    assert (status, report["signature"], report["matches_registry"]) == (0, "ok", True)


def test_outdated_forged_foreign_and_unreadable_boards_fail(board: tuple[Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    site_dir = make_site(tmp_path / "ours")
    assert venue_add(site_dir) == 0
    render(site_dir, tmp_path / "v1.png")
    assert venue_add(site_dir, "--replace", name="Chợ Bến Thành (cổng Nam)") == 0  # registry edited after printing
    original = _url_on(tmp_path / "v1.png")
    segno.make(with_param(original, "n", "2"), error="q").save(tmp_path / "forged.png", scale=8)  # URL edited
    foreign = board[1]  # a genuine board of another site
    blank = tmp_path / "blank.png"
    Image.new("L", (800, 1100), 255).save(blank)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    status, reports = check(capsys, site_dir, tmp_path / "v1.png", tmp_path / "forged.png", foreign, blank, junk)
    assert status == 1
    outdated, forged, other, empty, broken = reports
    assert (outdated["signature"], outdated["matches_registry"]) == ("ok", False)
    assert outdated["differences"] == ["version: board 1, registry 2", "name: the board's differs from the registry's"]
    assert (forged["readable"], forged["signature"], forged["matches_registry"]) == (True, "bad", False)
    assert (other["signature"], other["matches_registry"]) == ("unknown_key", False)
    assert (empty["readable"], empty["signature"]) == (False, None)
    assert (broken["readable"], broken["signature"]) == (False, None)


def _url_on(image: Path) -> str:
    from entryscan.provisioning.postercheck import load_bounded_grey, read_codes

    [url] = read_codes(load_bounded_grey(image))
    return url


def test_a_character_the_font_lacks_is_refused_not_printed_as_a_box() -> None:
    assert printable("Phở Hà Nội", "name") == "Phở Hà Nội"
    with pytest.raises(ValueError, match="no glyph"):
        printable("Chợ \U00013000", "name")
    assert BOLD.exists() and (BOLD.parent / "LICENSE-DejaVu.txt").exists()


def test_a_board_too_blurred_to_scan_is_reported_unreadable(board: tuple[Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    site_dir, png = board
    smeared = tmp_path / "smeared.png"
    Image.open(png).convert("L").filter(ImageFilter.GaussianBlur(30)).save(smeared)
    status, [report] = check(capsys, site_dir, smeared)
    assert (status, report["readable"], report["signature"]) == (1, False, None)
