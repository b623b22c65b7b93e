"""The text of a QR code's bytes when no ECI names their character set.

zxing-cpp reads a code's text itself (ECI first, then a guess between UTF-8,
Shift_JIS and ISO-8859-1); zbar, in binary mode, hands back only the bytes.
``guess_charset`` makes the same guess zxing-cpp (and ZXing before it) makes,
so a code reads as the same text whichever decoder caught it:

- UTF-8 when the bytes are valid UTF-8 with a BOM or at least one multi-byte
  character;
- Shift_JIS when they are valid Shift_JIS with a run of three or more
  double-byte or half-width katakana characters;
- when both ISO-8859-1 and Shift_JIS fit, Shift_JIS only for exactly two
  katakana in one run or when a tenth of the bytes are Latin-1 symbols
  (0xA0-0xBF, x, ÷), else ISO-8859-1;
- otherwise the first that fits of ISO-8859-1, Shift_JIS, UTF-8, and
  ISO-8859-1 (which maps every byte) when none does.
"""

from __future__ import annotations

from dataclasses import dataclass

UTF8, SHIFT_JIS, LATIN1 = "utf-8", "shift_jis", "latin-1"


@dataclass
class _Utf8:
    ok: bool = True
    pending: int = 0  # continuation bytes still expected
    multibyte: int = 0

    def feed(self, b: int) -> None:
        if self.pending:
            if b & 0xC0 != 0x80:
                self.ok = False
            self.pending -= 1
        elif b & 0x80:
            lead = (b & 0xE0 == 0xC0, b & 0xF0 == 0xE0, b & 0xF8 == 0xF0)
            if not any(lead) or b & 0xC0 == 0x80:
                self.ok = False
                return
            self.pending = lead.index(True) + 1
            self.multibyte += 1

    def fits(self) -> bool:
        return self.ok and self.pending == 0


@dataclass
class _ShiftJis:
    ok: bool = True
    trail: bool = False  # a lead byte was seen, its trail byte is next
    katakana: int = 0
    kana_run: int = 0
    max_kana_run: int = 0
    double_run: int = 0
    max_double_run: int = 0

    def feed(self, b: int) -> None:
        if self.trail:
            self.trail = False
            if b < 0x40 or b == 0x7F or b > 0xFC:
                self.ok = False
        elif b in (0x80, 0xA0) or b > 0xEF:
            self.ok = False
        elif 0xA0 < b < 0xE0:  # half-width katakana, one byte
            self.katakana += 1
            self.double_run = 0
            self.kana_run += 1
            self.max_kana_run = max(self.max_kana_run, self.kana_run)
        elif b > 0x7F:  # lead byte of a double-byte character
            self.trail = True
            self.kana_run = 0
            self.double_run += 1
            self.max_double_run = max(self.max_double_run, self.double_run)
        else:
            self.kana_run = self.double_run = 0

    def fits(self) -> bool:
        return self.ok and not self.trail


def guess_charset(data: bytes) -> str:
    """``utf-8``, ``shift_jis`` or ``latin-1``: the character set zxing-cpp would read ``data`` in."""
    utf8, sjis = _Utf8(), _ShiftJis()
    latin1, latin1_symbols = True, 0
    for b in data:
        if not (utf8.ok or sjis.ok or latin1):
            break
        if utf8.ok:
            utf8.feed(b)
        if sjis.ok:
            sjis.feed(b)
        if latin1:
            if 0x7F < b < 0xA0:
                latin1 = False
            elif b > 0x9F and (b < 0xC0 or b in (0xD7, 0xF7)):
                latin1_symbols += 1
    can_utf8, can_sjis = utf8.fits(), sjis.fits()
    if can_utf8 and (data.startswith(b"\xef\xbb\xbf") or utf8.multibyte):
        return UTF8
    if can_sjis and (sjis.max_kana_run >= 3 or sjis.max_double_run >= 3):
        return SHIFT_JIS
    if latin1 and can_sjis:
        two_kana = sjis.max_kana_run == 2 and sjis.katakana == 2
        return SHIFT_JIS if two_kana or latin1_symbols * 10 >= len(data) else LATIN1
    for fits, charset in ((latin1, LATIN1), (can_sjis, SHIFT_JIS), (can_utf8, UTF8)):
        if fits:
            return charset
    return LATIN1


def text_of(data: bytes) -> str:
    """The bytes as text in the guessed character set; a byte Python's codec lacks becomes U+FFFD."""
    charset = guess_charset(data)
    text = data.decode(charset, errors="replace")
    return text[1:] if charset == UTF8 and text.startswith("\ufeff") else text
