from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from entryscan.device.errors import CameraError, CameraStalled
from entryscan.device.scan.camera import DirCamera, Picamera2Camera, y_plane
from entryscan.device.scan.decoders import ZxingDecoder, load_grey
from tests.paths import SAMPLE_FRAMES
from tests.support import fake_picamera2


def test_dir_camera_replays_once_in_name_order_then_idles(tmp_path: Path) -> None:
    names = ["b.png", "a.jpg", "c.webp", "notes.txt"]
    grey = load_grey(SAMPLE_FRAMES / "002-staff-0001.png")
    from PIL import Image

    for name in names[:3]:
        Image.fromarray(grey).save(tmp_path / name)
    (tmp_path / names[3]).write_text("not a frame")
    seen: list[str] = []
    cam = DirCamera(tmp_path, fps=0, loader=lambda p: (seen.append(p.name), load_grey(p))[1])
    cam.open()
    frames = [cam.capture(0.05) for _ in range(3)]
    assert seen == ["a.jpg", "b.png", "c.webp"]
    assert all(f is not None and f.image.shape == (480, 640) for f in frames)
    cpu_before = time.process_time()
    wall_before = time.monotonic()
    assert cam.capture(0.3) is None  # exhausted: idles for the timeout
    assert time.monotonic() - wall_before >= 0.25
    assert time.process_time() - cpu_before < 0.05  # ...without burning CPU


def test_dir_camera_paces_at_fps(tmp_path: Path) -> None:
    for i in range(4):
        shutil.copy(SAMPLE_FRAMES / "000-empty.png", tmp_path / f"{i}.png")
    cam = DirCamera(tmp_path, fps=10)
    cam.open()
    start = time.monotonic()
    for _ in range(4):
        assert cam.capture(1.0) is not None
    assert time.monotonic() - start >= 0.28  # three intervals of 0.1 s


def test_dir_camera_rejects_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(CameraError):
        DirCamera(tmp_path / "absent", 1).open()
    with pytest.raises(CameraError, match="no png"):
        DirCamera(tmp_path, 1).open()


def test_y_plane_is_a_view_without_stride_padding() -> None:
    grey = np.arange(480 * 640, dtype=np.uint32).reshape(480, 640).astype(np.uint8)
    yuv = fake_picamera2.to_yuv420(grey, 640, 480)
    plane = y_plane(yuv, 640, 480)
    assert plane.shape == (480, 640) and np.array_equal(plane, grey)
    assert np.shares_memory(plane, yuv)


def test_picamera2_adapter_configures_lores_yuv_and_decodes() -> None:
    frame = load_grey(SAMPLE_FRAMES / "002-staff-0001.png")
    with fake_picamera2.installed([frame]) as fake:
        cam = Picamera2Camera((640, 480), fps=15, autofocus="continuous", lens_position=4.0)
        cam.open()
        picam = fake.instances[0]
        assert picam.config is not None
        assert picam.config["lores"] == {"size": (640, 480), "format": "YUV420"}
        assert picam.config["controls"]["FrameDurationLimits"] == (66666, 66666)
        assert picam.controls_set["AfMode"] == 2  # continuous
        got = cam.capture(1.0)
        assert got is not None
        assert [c.raw for c in ZxingDecoder().decode(got.image)] == [b"STAFF-0001"]
        cam.close()
        assert picam.closed


def test_picamera2_stall_raises_camera_stalled_within_timeout() -> None:
    with fake_picamera2.installed([np.zeros((480, 640), np.uint8)]) as fake:
        cam = Picamera2Camera((640, 480), fps=15, autofocus="off", lens_position=4.0)
        cam.open()
        fake.instances[0].stall()
        start = time.monotonic()
        with pytest.raises(CameraStalled):
            cam.capture(0.2)
        assert time.monotonic() - start < 1.0


def test_picamera2_close_does_not_hang_when_stop_blocks() -> None:
    with fake_picamera2.installed([np.zeros((480, 640), np.uint8)]) as fake:
        cam = Picamera2Camera((640, 480), fps=15, autofocus="fixed", lens_position=4.0)
        cam.open()
        assert fake.instances[0].controls_set == {"AfMode": 0, "LensPosition": 4.0}
        fake.instances[0].block_stop()
        import entryscan.device.scan.camera as camera_module

        start = time.monotonic()
        camera_module.close_bounded(fake.instances[0], 0.3)
        assert time.monotonic() - start < 1.0


def test_picamera2_start_failure_is_a_camera_error() -> None:
    with fake_picamera2.installed([]) as fake:
        fake.fail_start = True
        with pytest.raises(CameraError, match="cannot start"):
            Picamera2Camera((640, 480), 15, "off", 4.0).open()


def test_a_stalled_capture_is_cancelled_and_the_same_instance_restarts() -> None:
    """picamera2 #1065: stop() waits behind the stuck capture job unless it is cancelled first."""
    frame = load_grey(SAMPLE_FRAMES / "002-staff-0001.png")
    with fake_picamera2.installed([frame]) as fake:
        cam = Picamera2Camera((640, 480), fps=15, autofocus="off", lens_position=4.0)
        cam.open()
        assert cam.capture(1.0) is not None
        picam = fake.instances[0]
        picam.stall()
        start = time.monotonic()
        with pytest.raises(CameraStalled):
            cam.capture(0.2)
        assert time.monotonic() - start < 2.0  # the stop after the cancel did not hang
        assert picam.cancels == 1 and not picam.started and not picam.closed
        picam.resume()  # the sensor is back (cable reseated)
        cam.open()
        got = cam.capture(1.0)
        assert got is not None and [c.raw for c in ZxingDecoder().decode(got.image)] == [b"STAFF-0001"]
        assert fake.instances == [picam] and picam.starts == 2  # one Picamera2 for the life of the process
        cam.close()
        assert picam.closed and fake.holder is None


def test_without_cancel_all_and_flush_the_stalled_instance_is_closed_and_replaced() -> None:
    """picamera2 before 0.3.20 has no cancel: close() (which does not wait on jobs) frees the camera."""
    frame = load_grey(SAMPLE_FRAMES / "002-staff-0001.png")
    with fake_picamera2.installed([frame], cancel_all_and_flush=False) as fake:
        assert not hasattr(fake, "cancel_all_and_flush")
        cam = Picamera2Camera((640, 480), fps=15, autofocus="off", lens_position=4.0)
        cam.open()
        fake.instances[0].stall()
        start = time.monotonic()
        with pytest.raises(CameraStalled):
            cam.capture(0.2)
        assert time.monotonic() - start < 2.0
        assert fake.instances[0].closed and fake.holder is None  # nothing left holding the camera
        fake.instances[0].resume()
        cam.open()
        assert cam.capture(1.0) is not None and len(fake.instances) == 2
        cam.close()


@pytest.mark.parametrize("failure", ["fail_start", "fail_configure"])
def test_a_failed_open_never_leaves_an_instance_holding_the_camera(failure: str) -> None:
    with fake_picamera2.installed([np.zeros((480, 640), np.uint8)]) as fake:
        setattr(fake, failure, True)
        cam = Picamera2Camera((640, 480), 15, "off", 4.0)
        with pytest.raises(CameraError, match="cannot"):
            cam.open()
        assert fake.instances[0].closed and fake.holder is None
        setattr(fake, failure, False)
        cam.open()  # the camera is free for the next attempt
        assert cam.capture(1.0) is not None
        cam.close()


def test_the_scan_loop_rides_out_a_stall_with_one_picamera2_instance(tmp_path: Path) -> None:
    from gpiozero.pins.mock import MockFactory

    from tests.scan.test_scanloop import Notified, make_loop
    from tests.support import wait_for

    frame = load_grey(SAMPLE_FRAMES / "000-empty.png")
    factory = MockFactory()
    with fake_picamera2.installed([frame]) as fake:
        loop = make_loop(tmp_path, Picamera2Camera((640, 480), 0, "off", 4.0), factory, Notified())
        loop.start()
        try:
            assert wait_for(lambda: loop.health.frames > 3, timeout=10)
            fake.instances[0].stall()
            assert wait_for(lambda: loop.health.camera == "fault", timeout=10)
            fake.instances[0].resume()
            frames = loop.health.frames
            assert wait_for(lambda: loop.health.camera == "ok" and loop.health.frames > frames, timeout=10)
        finally:
            loop.stop()
            loop.feedback.close()
            factory.reset()
        assert len(fake.instances) == 1 and fake.holder is None
