"""File commands read the union of every decoder pass the door has."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import segno
import zxingcpp
from PIL import Image
from pyzbar import pyzbar

from entryscan.device.model import GreyImage
from entryscan.device.scan.decoders import load_grey
from entryscan.device.scan.filescan import FileScanner, contrast_stretch, union, upscale2
from tests.cli.test_cli import door_config
from tests.paths import QR_PHOTOS


def photos() -> list[tuple[GreyImage, bytes]]:
    cases = [(load_grey(p), p.with_suffix(".txt").read_bytes()) for p in sorted(QR_PHOTOS.glob("*/*.png"))]
    assert len(cases) >= 90, f"qr-photos test material missing under {QR_PHOTOS}"
    return cases


def plain_zxing(img: GreyImage) -> set[bytes]:
    read = zxingcpp.read_barcodes  # every option at its default: rotate, downscale, invert
    return {bytes(r.bytes) for r in read(img, formats=zxingcpp.BarcodeFormat.QRCode)}


def plain_pyzbar(img: GreyImage) -> set[bytes]:
    found = pyzbar.decode((img.tobytes(), img.shape[1], img.shape[0]), symbols=[pyzbar.ZBarSymbol.QRCODE])
    return {r.data for r in found}


def shrunk(img: GreyImage) -> GreyImage:
    h, w = img.shape
    return np.asarray(Image.fromarray(img).resize((w // 3, h // 3), Image.Resampling.BILINEAR))


@pytest.mark.parametrize("variant", ["as-is", "inverted", "shrunk3"])
def test_file_scanner_reads_at_least_what_plain_zxing_or_pyzbar_reads(variant: str) -> None:
    scanner = FileScanner()
    change = {"as-is": lambda i: i, "inverted": lambda i: 255 - i, "shrunk3": shrunk}[variant]
    ours = plain = 0
    for image, expected in photos():
        img = change(image)
        read = {c.raw for c in scanner.decode(img)}
        if expected in plain_zxing(img) | plain_pyzbar(img):
            plain += 1
            assert expected in read
        ours += expected in read
    assert ours >= plain
    if variant == "shrunk3":
        assert ours > plain  # the upscaling pass earns its place


def test_inverted_code_is_read_by_decode_and_check(tmp_path: Path) -> None:
    image = tmp_path / "inverted.png"
    qr = segno.make("STAFF-0002", micro=False)
    qr.save(str(image), scale=6, dark="white", light="black")
    out = subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "decode", str(image)],
                         check=False, capture_output=True, text=True, timeout=60)
    assert [c["text"] for c in json.loads(out.stdout)["codes"]] == ["STAFF-0002"]
    cfg = door_config(tmp_path)
    out = subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "check", "--config", str(cfg),
                          "--image", str(image)], check=False, capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout)["decision"] == "accept"


def test_two_codes_in_one_file_are_each_reported_once(tmp_path: Path) -> None:
    left, right = (load_grey_segno(text) for text in ("STAFF-0001", "STAFF-0002"))
    both = np.hstack([left, right])
    assert sorted(c.raw for c in FileScanner().decode(both)) == [b"STAFF-0001", b"STAFF-0002"]


def load_grey_segno(text: str) -> GreyImage:
    import io

    buf = io.BytesIO()
    segno.make(text, micro=False).save(buf, kind="png", scale=6, border=4)
    buf.seek(0)
    return load_grey(buf)


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_one_library_alone_on_request(backend: str) -> None:
    scanner = FileScanner(backend)  # type: ignore[arg-type]
    assert all(backend in name or name == "door" for name, _ in scanner.passes)
    assert [c.raw for c in scanner.decode(load_grey_segno("X-1"))] == [b"X-1"]


def test_helpers() -> None:
    flat = np.full((4, 4), 7, dtype=np.uint8)
    assert contrast_stretch(flat) is flat
    ramp = np.arange(100, 116, dtype=np.uint8).reshape(4, 4)
    stretched = contrast_stretch(ramp)
    assert stretched.min() == 0 and stretched.max() == 255
    assert upscale2(ramp).shape == (8, 8) and upscale2(ramp)[1, 1] == ramp[0, 0]
    assert union([[], []]) == []
