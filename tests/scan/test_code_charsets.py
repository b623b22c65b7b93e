"""A code's bytes and text are the same whichever decoder reads it (Latin-1, Shift_JIS, Kanji, binary, ECI)."""

from __future__ import annotations

import io

import pytest
import segno

from entryscan.device.model import GreyImage
from entryscan.device.scan.codetext import guess_charset, text_of
from entryscan.device.scan.decoders import ZbarDecoder, ZxingDecoder, load_grey

DECODERS = {"zxing": ZxingDecoder, "zbar": ZbarDecoder}
LATIN1 = "Grüße, café Müller"
JAPANESE = "日本語のテキスト"

# name -> (segno code, the bytes its data segments carry, its text)
CASES: dict[str, tuple[segno.QRCode, bytes, str]] = {
    "latin1": (segno.make(LATIN1, encoding="iso-8859-1", micro=False), LATIN1.encode("latin-1"), LATIN1),
    "utf8": (segno.make("café 日本", encoding="utf-8", micro=False), "café 日本".encode(), "café 日本"),
    "shift_jis-bytes": (segno.make(JAPANESE.encode("shift_jis"), mode="byte", micro=False),
                        JAPANESE.encode("shift_jis"), JAPANESE),
    "kanji-mode": (segno.make("漢字", mode="kanji", micro=False), "漢字".encode("shift_jis"), "漢字"),
    "one-kanji": (segno.make("漢", mode="kanji", micro=False), "漢".encode("shift_jis"), "漢"),
    "binary": (segno.make(bytes(range(256)), mode="byte", micro=False), bytes(range(256)),
               bytes(range(256)).decode("latin-1")),
    "eci-utf8": (segno.make("Grüße \\ 日本", encoding="utf-8", eci=True, micro=False),
                 "Grüße \\ 日本".encode(), "Grüße \\ 日本"),
    "credential": (segno.make("HC1:6BF+70790T9WJWG.FKY*4GO0", micro=False),
                   b"HC1:6BF+70790T9WJWG.FKY*4GO0", "HC1:6BF+70790T9WJWG.FKY*4GO0"),
}


def render(qr: segno.QRCode) -> GreyImage:
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=5, border=4)
    buf.seek(0)
    return load_grey(buf)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("case", CASES)
def test_each_decoder_reads_the_original_bytes_and_the_right_text(decoder: str, case: str) -> None:
    qr, raw, text = CASES[case]
    codes = DECODERS[decoder]().decode(render(qr))
    assert [(c.raw, c.text) for c in codes] == [(raw, text)]


@pytest.mark.parametrize("case", ["eci-latin2", "eci-shift_jis"])
def test_eci_named_charsets_give_the_same_text_through_both_decoders(case: str) -> None:
    text, charset = {"eci-latin2": ("Łódź, žluťoučký kůň", "iso-8859-2"),
                     "eci-shift_jis": (JAPANESE, "shift_jis")}[case]
    image = render(segno.make(text, encoding=charset, eci=True, mode="byte", micro=False))
    zxing, zbar = ZxingDecoder().decode(image), ZbarDecoder().decode(image)
    assert [c.text for c in zxing] == [c.text for c in zbar] == [text]
    # zxing-cpp keeps the bytes as the ECI names them; zbar (even in binary mode) converts them to UTF-8.
    assert [c.raw for c in zxing] == [text.encode(charset)]
    assert [c.raw for c in zbar] == [text.encode("utf-8")]


@pytest.mark.parametrize(("data", "charset"), [
    (b"HC1:ABC", "latin-1"),  # ASCII: every set fits, ISO-8859-1 is the default
    ("é".encode(), "utf-8"),
    ("\ufeffa".encode(), "utf-8"),
    ("テキスト".encode("shift_jis"), "shift_jis"),
    ("ｱｲ".encode("shift_jis"), "shift_jis"),  # exactly two half-width katakana
    (b"\xa9\xb0 x", "shift_jis"),  # half the bytes Latin-1 symbols: the crude rule says Shift_JIS
    (b"na\xefve caf\xe9s", "latin-1"),
    (b"\x80\x81\xff", "latin-1"),  # fits none: bytes map one to one
    (b"\x93\xfa", "shift_jis"),  # 0x93 is a C1 control in ISO-8859-1
])
def test_guess_charset_follows_zxing(data: bytes, charset: str) -> None:
    assert guess_charset(data) == charset


def test_text_of_never_raises_on_bytes_a_codec_lacks() -> None:
    assert "\ufffd" in text_of(b"\x85\x40\x85\x40\x85\x40")  # valid Shift_JIS shape, unassigned in the codec
