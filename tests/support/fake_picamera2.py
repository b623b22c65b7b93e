"""A stand-in for the ``picamera2`` module with the API surface our adapter uses.

Frames come from image files and are delivered like the real ``lores`` YUV420
stream: shape (h*3/2, stride) with the stride padded to 64 bytes, the Y plane
on top. ``capture_array(wait=...)`` raises TimeoutError when no frame is ready,
as picamera2's Future.result(timeout) does; ``stall()`` simulates a sensor that
stopped (cable, EMI) and ``block_stop()`` a ``stop()`` that hangs (#1065).
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np


class FakePicamera2:
    instances: ClassVar[list[FakePicamera2]] = []
    frames: ClassVar[list[np.ndarray]] = []
    fail_start = False

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_controls: dict[str, Any] = {"AfMode": (0, 2, 0), "LensPosition": (0.0, 15.0, 1.0)}
        self.controls_set: dict[str, Any] = {}
        self.config: dict[str, Any] | None = None
        self.started = False
        self.closed = False
        self._stalled = threading.Event()
        self._stop_blocker = threading.Event()
        self._stop_blocker.set()
        self._index = 0
        FakePicamera2.instances.append(self)

    def create_preview_configuration(self, main: dict[str, Any] | None = None, lores: dict[str, Any] | None = None,
                                     buffer_count: int = 4, controls: dict[str, Any] | None = None,
                                     display: str | None = "main", **kw: Any) -> dict[str, Any]:
        if lores is not None and lores.get("format") not in (None, "YUV420"):
            raise RuntimeError("lores must be YUV420")
        return {"main": main or {"size": (640, 480)}, "lores": lores, "buffer_count": buffer_count,
                "controls": controls or {}, "display": display}

    def configure(self, config: dict[str, Any]) -> None:
        self.config = config

    def set_controls(self, controls: dict[str, Any]) -> None:
        self.controls_set.update(controls)

    def start(self) -> None:
        if FakePicamera2.fail_start:
            raise RuntimeError("Camera __init__ sequence did not complete.")
        if self.config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def stall(self) -> None:
        self._stalled.set()

    def block_stop(self) -> None:
        self._stop_blocker.clear()

    def capture_array(self, name: str = "main", wait: float | None = None) -> np.ndarray:
        if not self.started:
            raise RuntimeError("Camera must be started")
        if self._stalled.is_set() or not FakePicamera2.frames:
            threading.Event().wait(wait if wait is not None else 3600)
            raise TimeoutError("capture timed out")
        assert self.config is not None
        stream = self.config[name]
        width, height = stream["size"]
        grey = FakePicamera2.frames[self._index % len(FakePicamera2.frames)]
        self._index += 1
        return to_yuv420(grey, width, height)

    def stop(self) -> None:
        self._stop_blocker.wait()
        self.started = False

    def close(self) -> None:
        self.closed = True


def to_yuv420(grey: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pack a grey image as a padded YUV420 buffer, as libcamera delivers it."""
    stride = (width + 63) // 64 * 64
    buf = np.full((height * 3 // 2, stride), 128, dtype=np.uint8)
    h, w = min(height, grey.shape[0]), min(width, grey.shape[1])
    buf[:h, :w] = grey[:h, :w]
    buf[:height, width:] = 7  # stride padding must never leak into the Y plane
    return buf


@contextmanager
def installed(frames: list[np.ndarray]) -> Iterator[type[FakePicamera2]]:
    """Install fake ``picamera2`` and ``libcamera`` modules for the duration of a test."""
    FakePicamera2.instances = []
    FakePicamera2.frames = frames
    FakePicamera2.fail_start = False
    picamera2 = types.ModuleType("picamera2")
    picamera2.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    libcamera = types.ModuleType("libcamera")
    enums = types.SimpleNamespace(
        AfModeEnum=types.SimpleNamespace(Manual=0, Auto=1, Continuous=2),
        AfRangeEnum=types.SimpleNamespace(Normal=0, Macro=1, Full=2),
        AfSpeedEnum=types.SimpleNamespace(Normal=0, Fast=1),
    )
    libcamera.controls = enums  # type: ignore[attr-defined]
    saved = {k: sys.modules.get(k) for k in ("picamera2", "libcamera")}
    sys.modules["picamera2"], sys.modules["libcamera"] = picamera2, libcamera
    try:
        yield FakePicamera2
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module
