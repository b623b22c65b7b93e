"""FrameScanner with the real decoders on real photos and synthetic frames (no timing asserts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import segno
import zxingcpp

from bench import frames
from entryscan.device.model import GreyImage
from entryscan.device.ports import Decoder
from entryscan.device.scan.camera import y_plane
from entryscan.device.scan.decoders import ZbarDecoder, ZxingDecoder, load_grey
from entryscan.device.scan.framescan import FrameScanner, box_downscale, downscale_factor
from tests.paths import QR_PHOTOS, SAMPLE_FRAMES

STAFF = b"STAFF-0001"


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def code_frame(text: str, scale: int, size: tuple[int, int] = (640, 480), at: tuple[int, int] = (60, 50),
               invert: bool = False, seed: int = 0) -> GreyImage:
    """A flat grey scene with one upright QR at ``scale`` px/module, plus sensor noise."""
    modules = np.pad(np.array(segno.make(text, error="m", micro=False).matrix, dtype=bool), 4)
    tile = np.where(modules, 30, 220).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    w, h = size
    img = np.full((h, w), 128, np.uint8)
    x, y = at
    img[y : y + tile.shape[0], x : x + tile.shape[1]] = 255 - tile if invert else tile
    return noisy(img, seed)


def noisy(img: GreyImage, seed: int, sigma: float = 3.0) -> GreyImage:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def raws(scanner: Decoder, image: GreyImage) -> list[bytes]:
    return [c.raw for c in scanner.decode(image)]


def test_is_a_decoder_and_reads_a_clean_frame() -> None:
    scanner: Decoder = FrameScanner()
    assert scanner.name.startswith("framescan:zxing")
    clean = frames.make_set(640, 480, "clean", 2)
    for frame in clean.frames:
        assert raws(scanner, frame) == [clean.payload]


def test_finds_nothing_in_the_sample_door_empty_frames() -> None:
    empties = sorted(SAMPLE_FRAMES.glob("*empty.png"))
    assert empties
    for path in empties:
        assert FrameScanner().decode(load_grey(path)) == []


def test_reads_the_strided_y_plane_without_copying(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = code_frame("STAFF-0001", 6)
    yuv = np.zeros((480 * 3 // 2, 704), np.uint8)  # row stride 704 > width, as picamera2 pads
    yuv[:480, :640] = frame
    plane = y_plane(yuv, 640, 480)
    seen: list[GreyImage] = []
    real = zxingcpp.read_barcodes

    def spy(image: GreyImage, **kw: object) -> object:
        seen.append(image)
        return real(image, **kw)

    monkeypatch.setattr(zxingcpp, "read_barcodes", spy)
    scanner = FrameScanner(fallback=False)
    assert raws(scanner, plane) == [STAFF]
    assert len(seen) == 1 and np.shares_memory(seen[0], yuv)
    assert not seen[0].flags.c_contiguous


def test_large_frame_is_downscaled_first() -> None:
    clean = frames.make_set(1280, 720, "clean", 2)
    scanner = FrameScanner(skip_unchanged=False)
    for frame in clean.frames:
        assert raws(scanner, frame) == [clean.payload]
    assert scanner.stats.full_res_retries == 0


def test_full_resolution_retry_when_a_symbol_is_located_but_not_decoded() -> None:
    # v8 at 3 px/module: 1.5 px/module after the 2x downscale, where zxing locates it but fails.
    text = frames.make_payload(150)
    frame = code_frame(text, 3, size=(1280, 720), at=(200, 100))
    scanner = FrameScanner(skip_unchanged=False, fallback=False)
    assert raws(scanner, frame) == [text.encode()]
    assert scanner.stats.full_res_retries == 1


def test_no_full_resolution_retry_without_a_suspected_symbol() -> None:
    scanner = FrameScanner(skip_unchanged=False)
    for frame in frames.make_set(1280, 720, "empty", 3).frames:
        assert scanner.decode(frame) == []
    assert scanner.stats.full_res_retries == 0
    assert scanner.stats.fallback_runs == 0


def test_downscale_helpers() -> None:
    assert downscale_factor((480, 640), 640 * 480) == 1
    assert downscale_factor((720, 1280), 640 * 480) == 2
    assert downscale_factor((1080, 1920), 640 * 480) == 3
    img = np.arange(36, dtype=np.uint8).reshape(6, 6)
    assert box_downscale(img, 3).tolist() == [[7, 10], [25, 28]]
    assert box_downscale(img, 2)[0, 0] == (0 + 1 + 6 + 7) // 4


def suspect_frame() -> tuple[GreyImage, bytes]:
    """A hard synthetic frame where the fast pass locates the code but only pyzbar reads it."""
    hard = frames.make_set(640, 480, "hard", 6, seed=11)
    frame = hard.frames[3]
    fast = zxingcpp.read_barcodes(frame, formats=zxingcpp.BarcodeFormat.QRCode, try_rotate=False,
                                  try_downscale=False, try_invert=False, return_errors=True)
    assert fast and not any(r.valid for r in fast), "precondition: fast pass must locate but not decode"
    return frame, hard.payload


def test_suspected_symbol_falls_back_to_the_other_decoder() -> None:
    frame, payload = suspect_frame()
    scanner = FrameScanner(skip_unchanged=False)
    assert raws(scanner, frame) == [payload]
    assert scanner.stats.fallback_hits == 1


def test_fallbacks_respect_the_budget() -> None:
    frame, _ = suspect_frame()
    scanner = FrameScanner(skip_unchanged=False, budget_ms=0.0)
    assert scanner.decode(frame) == []
    assert scanner.stats.fallback_runs == 0
    assert scanner.stats.over_budget == 2


def test_inverted_code_is_read_once_the_scene_settles() -> None:
    frame = code_frame("STAFF-0001", 6, invert=True)
    assert ZxingDecoder().decode(frame) == []  # the fast pass cannot see it
    scanner = FrameScanner(settle_frames=2, clock=FakeClock())
    results = [raws(scanner, noisy(frame, seed)) for seed in range(4)]
    assert results == [[], [], [STAFF], [STAFF]]
    assert scanner.stats.fallback_hits == 1


def still_frames(frame: GreyImage, n: int) -> list[GreyImage]:
    return [noisy(frame, seed, sigma=4.0) for seed in range(n)]


def run(scanner: FrameScanner, images: list[GreyImage]) -> list[list[bytes]]:
    return [raws(scanner, img) for img in images]


def test_unchanged_scene_is_skipped_and_a_new_code_is_read_on_its_first_frame() -> None:
    clock = FakeClock()
    scanner = FrameScanner(settle_frames=1, clock=clock)
    empty = np.full((480, 640), 128, np.uint8)
    coded = code_frame("STAFF-0001", 6)
    out = run(scanner, still_frames(empty, 6) + still_frames(coded, 4) + still_frames(empty, 2))
    assert out[:6] == [[]] * 6
    assert out[6:10] == [[STAFF]] * 4  # first coded frame decoded at once; held still -> cached result
    assert out[10:] == [[], []]  # removed -> change -> decoded at once
    assert scanner.stats.skipped == (6 - 2) + (4 - 2) + (2 - 2)


def test_refresh_decodes_an_unchanged_scene_periodically() -> None:
    clock = FakeClock()
    scanner = FrameScanner(settle_frames=0, refresh_s=1.0, clock=clock)
    images = still_frames(np.full((480, 640), 90, np.uint8), 4)
    scanner.decode(images[0])
    scanner.decode(images[1])
    assert scanner.stats.skipped == 1
    clock.t += 1.5
    scanner.decode(images[2])
    assert scanner.stats.decoded == 2


def test_a_change_of_resolution_is_decoded() -> None:
    scanner = FrameScanner(settle_frames=0, clock=FakeClock())
    scanner.decode(np.full((480, 640), 128, np.uint8))
    assert raws(scanner, code_frame("STAFF-0001", 4, size=(320, 240), at=(10, 10))) == [STAFF]


def test_sensor_noise_alone_does_not_count_as_change() -> None:
    scene = frames.still_scene(640, 480, 20)
    scanner = FrameScanner(settle_frames=0, clock=FakeClock())
    for img in scene:
        scanner.decode(img)
    assert scanner.stats.decoded == 1


Check = Callable[[GreyImage, bytes], bool]


def photo_hits(check: Check) -> int:
    cases = [(p, p.with_suffix(".txt").read_bytes()) for p in sorted(QR_PHOTOS.glob("*/*.png"))]
    assert len(cases) >= 90, f"qr-photos test material missing under {QR_PHOTOS}"
    return sum(check(load_grey(p), expected) for p, expected in cases)


def test_real_photos_at_least_as_well_as_the_best_plain_decoder() -> None:
    def plain(decoder: Decoder) -> Check:
        return lambda img, exp: exp in raws(decoder, img)

    def scanner_one_frame(img: GreyImage, exp: bytes) -> bool:
        return exp in raws(FrameScanner(), img)

    best = max(photo_hits(plain(ZxingDecoder())), photo_hits(plain(ZbarDecoder())))
    assert photo_hits(scanner_one_frame) >= best


def test_inverted_photos_are_read_when_held_still() -> None:
    def held(img: GreyImage, exp: bytes) -> bool:
        scanner = FrameScanner(settle_frames=2, clock=FakeClock())
        return any(exp in raws(scanner, 255 - img) for _ in range(3))

    plain = ZxingDecoder()
    assert photo_hits(lambda img, exp: exp in raws(plain, 255 - img)) < 10
    assert photo_hits(held) >= 90


def test_sample_door_frames_through_the_scanner(tmp_path: Path) -> None:
    scanner = FrameScanner(clock=FakeClock())
    found = {p.name: [c.text for c in scanner.decode(load_grey(p))] for p in sorted(SAMPLE_FRAMES.glob("*.png"))}
    assert all(found[n] for n in found if "staff" in n or "unknown" in n)
    assert not any(found[n] for n in found if "empty" in n)


def test_a_settled_empty_scene_gets_only_the_thorough_zxing_look() -> None:
    # pyzbar cannot read inverted codes either; it is kept for located-but-undecoded symbols.
    scanner = FrameScanner(settle_frames=2, clock=FakeClock())
    for img in frames.still_scene(640, 480, 6):
        assert scanner.decode(img) == []
    assert scanner.stats.decoded == 3
    assert scanner.stats.fallback_runs == 1
