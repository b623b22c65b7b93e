"""Render a venue QR board: an A4 page with the venue's name, address, a one-line instruction and the QR.

One layout (in 300-dpi pixels) feeds two writers: PNG (Pillow, 2480 x 3508, 300 dpi) and PDF (fpdf2, A4,
the QR as vector squares and the text as embedded TrueType, so the whole page is vector). Text is drawn
in its NFC form (DejaVu Sans has a precomposed glyph for every Vietnamese letter, so marks sit right
without a shaping engine); the manifest keeps the text exactly as typed. A character the font lacks is
refused rather than printed as a box.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from entryscan.device.errors import ConfigError

FONTS = Path(__file__).resolve().parent / "fonts"
REGULAR, BOLD = FONTS / "DejaVuSans.ttf", FONTS / "DejaVuSans-Bold.ttf"
DPI = 300
PAGE = (2480, 3508)  # A4 at 300 dpi
MARGIN = 170
QR_SIDE = 1800  # ~15 cm: a version-11 code (69 modules with the quiet zone) gets 2.2 mm modules
QUIET = 4
DEFAULT_INSTRUCTION = "Quét mã QR để kiểm tra địa điểm · Scan to check this venue"


@dataclass(frozen=True)
class TextLine:
    text: str
    size: int  # font size in pixels at 300 dpi
    bold: bool
    baseline: int  # y of the baseline; the line is centred horizontally


@dataclass(frozen=True)
class Board:
    lines: tuple[TextLine, ...]
    matrix: tuple[tuple[bool, ...], ...]  # QR modules, True = dark, without quiet zone
    qr_left: int
    qr_top: int
    module: int  # pixels per module


@functools.lru_cache(maxsize=64)
def font(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(BOLD if bold else REGULAR), size)


@functools.lru_cache(maxsize=2)
def _covered(bold: bool) -> frozenset[int]:
    try:
        from fontTools.ttLib import TTFont
    except ImportError:
        raise ConfigError("poster", "needs fontTools and fpdf2: pip install 'entryscan[provision]'") from None

    with TTFont(str(BOLD if bold else REGULAR)) as ttf:
        return frozenset(ttf.getBestCmap())


def printable(text: str, what: str) -> str:
    """``text`` in NFC, after checking the font has a glyph for every character."""
    shown = unicodedata.normalize("NFC", text)
    missing = sorted({c for c in shown if ord(c) not in _covered(True) or ord(c) not in _covered(False)})
    if missing:
        raise ConfigError(what, f"the board font has no glyph for {''.join(missing)!r}")
    return shown


def wrap(text: str, bold: bool, size: int, width: int) -> list[str]:
    """Greedy word wrap; a word longer than the width is left to the caller's shrinking."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font(bold, size).getlength(candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines or [""]


def fit(text: str, bold: bool, largest: int, max_lines: int, width: int) -> tuple[int, list[str]]:
    """The largest size (stepping down from ``largest``) at which ``text`` wraps into ``max_lines``."""
    size = largest
    while True:
        lines = wrap(text, bold, size, width)
        if size <= 24 or (len(lines) <= max_lines and all(font(bold, size).getlength(x) <= width for x in lines)):
            return size, lines
        size -= 4


def layout(site_name: str, name: str, address: str, footer: str, url: str, instruction: str,
           commune: str = "") -> Board:
    """The page; ``commune`` (the ward the venue answers to) is a line under the address when given."""
    width = PAGE[0] - 2 * MARGIN
    lines: list[TextLine] = []
    y = MARGIN
    blocks = [(site_name, False, 64, 1), (name, True, 170, 2), (address, False, 84, 3)]
    if commune:
        blocks.append((commune, True, 72, 1))
    for text, bold, largest, max_lines in blocks:
        size, wrapped = fit(text, bold, largest, max_lines, width)
        for part in wrapped:
            y += int(size * 1.2)
            lines.append(TextLine(part, size, bold, y))
        y += int(size * 0.5)
    qr = segno.make(url, error="q", micro=False)
    matrix = tuple(tuple(bool(v) for v in row) for row in qr.matrix)
    module = QR_SIDE // (len(matrix) + 2 * QUIET)
    side = module * len(matrix)
    room = PAGE[1] - MARGIN - 330 - y  # between the address and the instruction line
    qr_top = y + max(module * QUIET, (room - side) // 2)
    qr_left = (PAGE[0] - side) // 2
    size, wrapped = fit(instruction, True, 72, 1, width)
    after = qr_top + side + module * QUIET + size
    lines.append(TextLine(wrapped[0], size, True, after))
    lines.append(TextLine(footer, fit(footer, False, 40, 1, width)[0], False, PAGE[1] - MARGIN + 40))
    return Board(tuple(lines), matrix, qr_left, qr_top, module)


def render_png(board: Board) -> Image.Image:
    image = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(image)
    for line in board.lines:
        draw.text((PAGE[0] // 2, line.baseline), line.text, fill=0, font=font(line.bold, line.size), anchor="ms")
    m = board.module
    for r, row in enumerate(board.matrix):
        for c, dark in enumerate(row):
            if dark:
                x, y = board.qr_left + c * m, board.qr_top + r * m
                draw.rectangle((x, y, x + m - 1, y + m - 1), fill=0)
    return image


def _runs(row: tuple[bool, ...]) -> list[tuple[int, int]]:
    """(start, length) of each horizontal run of dark modules, so the PDF draws few rectangles."""
    runs, start = [], None
    for c, dark in enumerate((*row, False)):
        if dark and start is None:
            start = c
        elif not dark and start is not None:
            runs.append((start, c - start))
            start = None
    return runs


def render_pdf(board: Board, path: Path, title: str) -> None:
    try:
        from fpdf import FPDF
    except ImportError:
        raise ConfigError("poster", "a PDF needs fpdf2: pip install 'entryscan[provision]' (or write a .png)") from None

    mm = 25.4 / DPI  # one layout pixel in millimetres
    pdf = FPDF(unit="mm", format="A4")
    pdf.set_title(title)
    pdf.set_creator("entryscan-provision poster")
    pdf.add_page()
    pdf.add_font("DejaVu", "", str(REGULAR))
    pdf.add_font("DejaVu", "B", str(BOLD))
    for line in board.lines:
        pdf.set_font("DejaVu", "B" if line.bold else "", line.size * 72 / DPI)
        width = pdf.get_string_width(line.text)
        pdf.text((PAGE[0] * mm - width) / 2, line.baseline * mm, line.text)
    pdf.set_fill_color(0)
    m = board.module
    for r, row in enumerate(board.matrix):
        for start, length in _runs(row):
            # A hair taller than a module, so no viewer shows seams between rows.
            pdf.rect((board.qr_left + start * m) * mm, (board.qr_top + r * m) * mm, length * m * mm,
                     m * mm + 0.02, style="F")
    pdf.output(str(path))


def write_poster(board: Board, out: Path, title: str) -> None:
    suffix = out.suffix.lower()
    if suffix == ".png":
        render_png(board).save(out, dpi=(DPI, DPI))
    elif suffix == ".pdf":
        render_pdf(board, out, title)
    else:
        raise ConfigError("--out", "must end in .png or .pdf")
