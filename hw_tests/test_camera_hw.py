"""The real camera: frames arrive at the configured size, and a printed QR held in view decodes."""

from __future__ import annotations

import time

from entryscan.device.config.settings import Config
from entryscan.device.scan.camera import Picamera2Camera
from entryscan.device.scan.decoders import make_decoder


def open_camera(cfg: Config) -> Picamera2Camera:
    width, height = cfg.camera.size
    cam = Picamera2Camera((width, height), cfg.camera.fps, cfg.camera.autofocus, cfg.camera.lens_position)
    cam.open()
    return cam


def test_frames_flow_at_configured_size_and_rate(hw_config: Config) -> None:
    cam = open_camera(hw_config)
    try:
        start = time.monotonic()
        frames = [cam.capture(hw_config.camera.timeout_s) for _ in range(30)]
        elapsed = time.monotonic() - start
    finally:
        cam.close()
    width, height = hw_config.camera.size
    assert all(f is not None and f.image.shape == (height, width) for f in frames)
    if hw_config.camera.fps:
        assert elapsed < 30 / hw_config.camera.fps * 2.0


def test_printed_qr_held_in_view_decodes(hw_config: Config) -> None:
    print("\nHold a printed QR code 20-30 cm in front of the camera (15 s)...")
    cam = open_camera(hw_config)
    decoder = make_decoder(hw_config.decoder.backend)
    try:
        deadline = time.monotonic() + 15
        found = []
        while time.monotonic() < deadline and not found:
            frame = cam.capture(hw_config.camera.timeout_s)
            if frame is not None:
                found = decoder.decode(frame.image)
    finally:
        cam.close()
    assert found, "no QR code decoded within 15 s"
