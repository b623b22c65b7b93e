"""``entryscan selftest`` checks that run off a Pi: publish round trip through a provisioned broker, storage,
and the camera frame's focus figure (on replayed real images)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageFilter

from entryscan.device.cli.selftest import (
    MIN_SHARPNESS,
    check_camera,
    check_roundtrip,
    check_storage,
    sharpness,
)
from entryscan.device.config.settings import load_config
from entryscan.device.scan.decoders import load_grey
from entryscan.provisioning.__main__ import main as provision
from tests.provisioning.test_broker import Site, bundle_config_for_test, site  # noqa: F401 - the broker fixture

BOARD_URL = "https://entry.example.vn/v/hq/door?n=1"


def qr_frame(path: Path, blur: float = 0.0) -> Path:
    import segno

    segno.make(BOARD_URL, error="q").save(path.with_suffix(".tmp.png"), scale=6, border=4)
    frame = Image.new("L", (640, 480), 170)
    frame.paste(Image.open(path.with_suffix(".tmp.png")).convert("L"), (180, 100))
    path.with_suffix(".tmp.png").unlink()
    (frame.filter(ImageFilter.GaussianBlur(blur)) if blur else frame).save(path)
    return path


def test_round_trip_through_the_provisioned_broker(site: Site) -> None:  # noqa: F811
    cfg = load_config(bundle_config_for_test(site.bundle("door-a")))
    result = check_roundtrip(cfg)
    assert result.startswith("ok published and read back on entryscan/hq/door-a/selftest"), result


def test_round_trip_outside_the_acl_fails(site: Site) -> None:  # noqa: F811
    """door-a's certificate configured as door-b: the broker refuses the publish, selftest says FAIL."""
    path = bundle_config_for_test(site.bundle("door-a"))
    path.write_text(path.read_text().replace('id = "door-a"', 'id = "door-b"'))
    result = check_roundtrip(load_config(path), timeout_s=3)
    assert result.startswith("FAIL nothing came back on entryscan/hq/door-b/selftest"), result
    assert "0x87" in result


def test_storage_reports_free_space_and_journal_size(tmp_path: Path) -> None:
    assert provision(["site", "init", "--site", "hq", "--dir", str(tmp_path / "s")]) == 0
    assert provision(["device", "add", "--site-dir", str(tmp_path / "s"), "--device", "d", "--door", "m",
                      "--broker", "mqtts://b:8883", "--out", str(tmp_path / "b")]) == 0
    cfg = load_config(bundle_config_for_test(tmp_path / "b"))
    cfg.journal.path.parent.mkdir(parents=True)
    cfg.journal.path.write_bytes(b"\0" * 1_500_000)
    (cfg.journal.path.parent / (cfg.journal.path.name + "-wal")).write_bytes(b"\0" * 500_000)
    result = check_storage(cfg)
    assert result.startswith("ok ") and "journal 2.00 MB" in result, result


def test_sharpness_tells_a_focused_frame_from_a_blurred_or_blank_one(tmp_path: Path) -> None:
    sharp = sharpness(load_grey(qr_frame(tmp_path / "sharp.png")))
    soft = sharpness(load_grey(qr_frame(tmp_path / "soft.png", blur=6)))
    blank = sharpness(load_grey(qr_frame(tmp_path / "blank.png", blur=60)))
    assert sharp > MIN_SHARPNESS > blank
    assert sharp > 10 * soft


def test_camera_check_prints_the_focus_figure(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    qr_frame(frames / "0001.png")
    config = tmp_path / "config.toml"
    config.write_text(f'[device]\nid = "d"\nsite = "s"\ndoor = "m"\n[camera]\nsource = "dir:{frames}"\n'
                      '[mqtt]\nurl = "mqtt://127.0.0.1:1"\n[policy]\nmode = "open"\n'
                      f'[journal]\npath = "{tmp_path / "j.db"}"\n')
    result = check_camera(load_config(config))
    assert result.startswith("ok 640x480") and "sharpness" in result and "1 QR code(s) in view" in result, result
