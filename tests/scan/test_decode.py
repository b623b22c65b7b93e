from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from entryscan.device.errors import DecoderError
from entryscan.device.scan.decoders import ZbarDecoder, ZxingDecoder, load_grey, make_decoder
from tests.paths import QR_PHOTOS, SAMPLE_FRAMES


def photo_cases() -> list[tuple[Path, bytes]]:
    cases = [(p, p.with_suffix(".txt").read_bytes()) for p in sorted(QR_PHOTOS.glob("*/*.png"))]
    assert len(cases) >= 90, f"qr-photos test material missing under {QR_PHOTOS}"
    return cases


@pytest.mark.parametrize(("decoder_cls", "minimum"), [(ZxingDecoder, 96), (ZbarDecoder, 90)])
def test_backends_on_real_photos(decoder_cls: type, minimum: int) -> None:
    decoder = decoder_cls()
    hits = sum(any(c.raw == expected for c in decoder.decode(load_grey(path))) for path, expected in photo_cases())
    assert hits >= minimum


@pytest.mark.parametrize("decoder_cls", [ZxingDecoder, ZbarDecoder])
def test_backends_find_nothing_in_empty_frames(decoder_cls: type) -> None:
    decoder = decoder_cls()
    for path in sorted(SAMPLE_FRAMES.glob("*empty.png")):
        assert decoder.decode(load_grey(path)) == []


def test_zxing_keeps_control_characters_raw() -> None:
    import segno

    payload = "A\x1dB\tC"
    qr = segno.make(payload, error="m", micro=False)
    img = load_grey_from_segno(qr)
    codes = ZxingDecoder().decode(img)
    assert [c.raw for c in codes] == [payload.encode()]


def load_grey_from_segno(qr: object) -> object:
    import io

    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=6, border=4)  # type: ignore[attr-defined]
    buf.seek(0)
    return load_grey(buf)


def test_auto_prefers_zxing() -> None:
    assert make_decoder("auto").name == "zxing"
    assert make_decoder("zbar").name == "zbar"


def test_unreadable_image_is_a_decoder_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(DecoderError):
        load_grey(bad)


def test_decode_cli_prints_one_json_object_per_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    images = [str(SAMPLE_FRAMES / "002-staff-0001.png"), str(SAMPLE_FRAMES / "000-empty.png"), str(bad)]
    out = subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "decode", *images],
                         check=False, capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[0]["codes"] == [{"text": "STAFF-0001", "bytes_b64": base64.b64encode(b"STAFF-0001").decode()}]
    assert lines[1] == {"path": images[1], "codes": []}
    assert "error" in lines[2]
    assert out.returncode == 1
