"""A stand-in for the ``picamera2`` module, faithful to the parts of its API our adapter relies on.

Frames come from image files and are delivered like the real ``lores`` YUV420 stream: shape
(h*3/2, stride) with the stride padded to 64 bytes, the Y plane on top. What it models of picamera2:

- one process holds a camera at a time: ``Picamera2()`` acquires it and fails with picamera2's
  "Camera __init__ sequence did not complete." while another instance holds it; ``close()`` releases;
- ``capture_array(wait=seconds)`` queues a job; when no frame comes it raises TimeoutError and the job
  stays queued, as in picamera2's ``dispatch_functions``/``Job.get_result``;
- ``stop()`` while running goes through the event loop as one more job, so it waits behind a stuck
  capture job for ever (picamera2 #1065), unless ``cancel_all_and_flush()`` (added in picamera2 0.3.20,
  PR #1069) cancelled the queue first; the cancelled capture raises CancelledError;
- ``close()`` stops the event loop first and then the camera directly, so it does not wait on jobs;
- ``stall()``/``resume()`` stop and restart the sensor (cable, EMI); ``block_stop()`` makes stopping hang
  inside the kernel (picamera2 #1264), which nothing in the process can undo.

``installed(frames, cancel_all_and_flush=False)`` models picamera2 before 0.3.20.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

INIT_FAILED = "Camera __init__ sequence did not complete."


class _Job:
    def __init__(self, name: str) -> None:
        self.name = name
        self.done = threading.Event()
        self.result: np.ndarray | None = None
        self.cancelled = False


class FakePicamera2Before0320:
    """picamera2 as it was before 0.3.20: no ``cancel_all_and_flush``."""

    instances: ClassVar[list[FakePicamera2Before0320]] = []
    frames: ClassVar[list[np.ndarray]] = []
    holder: ClassVar[FakePicamera2Before0320 | None] = None
    sensor_stalled: ClassVar[threading.Event] = threading.Event()
    fail_start = False
    fail_configure = False

    def __init__(self, camera_num: int = 0) -> None:
        if FakePicamera2Before0320.holder is not None:  # libcamera: "Device or resource busy"
            raise RuntimeError(INIT_FAILED)
        FakePicamera2Before0320.holder = self
        FakePicamera2Before0320.instances.append(self)
        self.camera_controls: dict[str, Any] = {"AfMode": (0, 2, 0), "LensPosition": (0.0, 15.0, 1.0)}
        self.controls_set: dict[str, Any] = {}
        self.config: dict[str, Any] | None = None
        self.started = False
        self.closed = False
        self.starts = 0
        self.cancels = 0
        self._cond = threading.Condition()
        self._job_list: list[_Job] = []
        self._stop_blocker = threading.Event()
        self._stop_blocker.set()
        self._index = 0

    def create_preview_configuration(self, main: dict[str, Any] | None = None, lores: dict[str, Any] | None = None,
                                     buffer_count: int = 4, controls: dict[str, Any] | None = None,
                                     display: str | None = "main", **kw: Any) -> dict[str, Any]:
        if lores is not None and lores.get("format") not in (None, "YUV420"):
            raise RuntimeError("lores must be YUV420")
        return {"main": main or {"size": (640, 480)}, "lores": lores, "buffer_count": buffer_count,
                "controls": controls or {}, "display": display}

    def configure(self, config: dict[str, Any]) -> None:
        if self.closed:
            raise RuntimeError("Camera not opened")
        if self.fail_configure:
            raise RuntimeError(f"Configuration failed: {config}")
        self.config = config

    def set_controls(self, controls: dict[str, Any]) -> None:
        self.controls_set.update(controls)

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("Failed to start camera: Device or resource busy")
        if self.config is None:
            raise RuntimeError("Camera has not been configured")
        if not self.started:
            self.started = True
            self.starts += 1
        self._deliver()

    # -- the sensor ---------------------------------------------------------------------------
    def stall(self) -> None:
        FakePicamera2Before0320.sensor_stalled.set()

    def resume(self) -> None:
        FakePicamera2Before0320.sensor_stalled.clear()
        self._deliver()

    def block_stop(self) -> None:
        self._stop_blocker.clear()

    def _deliver(self) -> None:
        """The event loop's process_requests: queued jobs complete, in order, while frames flow."""
        with self._cond:
            if not self.started or FakePicamera2Before0320.sensor_stalled.is_set() or not self.frames:
                return
            while self._job_list:
                job = self._job_list.pop(0)
                job.result = self._next_frame(job.name)
                job.done.set()
            self._cond.notify_all()

    def _next_frame(self, name: str) -> np.ndarray:
        assert self.config is not None
        width, height = self.config[name]["size"]
        grey = self.frames[self._index % len(self.frames)]
        self._index += 1
        return to_yuv420(grey, width, height)

    # -- the API ------------------------------------------------------------------------------
    def capture_array(self, name: str = "main", wait: float | bool | None = None) -> np.ndarray:
        job = _Job(name)
        with self._cond:
            self._job_list.append(job)
        self._deliver()
        if not job.done.wait(None if wait in (None, True) else float(wait)):
            raise TimeoutError()  # concurrent.futures' timeout; the job stays queued
        if job.cancelled:
            raise CancelledError()
        assert job.result is not None
        return job.result

    def stop(self) -> None:
        if not self.started:
            return
        with self._cond:  # the stop job runs only once every job queued before it is done
            self._cond.wait_for(lambda: not self._job_list)
        self._stop_blocker.wait()
        self.started = False

    def close(self) -> None:
        if self.closed:
            return
        self._stop_blocker.wait()  # the event loop is stopped first; camera.stop() is called directly
        self.started = False
        self.closed = True
        if FakePicamera2Before0320.holder is self:
            FakePicamera2Before0320.holder = None


class FakePicamera2(FakePicamera2Before0320):
    """picamera2 0.3.20 and later."""

    def cancel_all_and_flush(self) -> None:
        with self._cond:
            for job in self._job_list:
                job.cancelled = True
                job.done.set()
            self._job_list = []
            self.cancels += 1
            self._cond.notify_all()


def to_yuv420(grey: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pack a grey image as a padded YUV420 buffer, as libcamera delivers it."""
    stride = (width + 63) // 64 * 64
    buf = np.full((height * 3 // 2, stride), 128, dtype=np.uint8)
    h, w = min(height, grey.shape[0]), min(width, grey.shape[1])
    buf[:h, :w] = grey[:h, :w]
    buf[:height, width:] = 7  # stride padding must never leak into the Y plane
    return buf


@contextmanager
def installed(frames: list[np.ndarray], *,
              cancel_all_and_flush: bool = True) -> Iterator[type[FakePicamera2Before0320]]:
    """Install fake ``picamera2`` and ``libcamera`` modules for the duration of a test."""
    cls = FakePicamera2 if cancel_all_and_flush else FakePicamera2Before0320
    FakePicamera2Before0320.instances = []
    FakePicamera2Before0320.frames = frames
    FakePicamera2Before0320.holder = None
    FakePicamera2Before0320.sensor_stalled = threading.Event()
    cls.fail_start = False
    cls.fail_configure = False
    picamera2 = types.ModuleType("picamera2")
    picamera2.Picamera2 = cls  # type: ignore[attr-defined]
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
        yield cls
    finally:
        for instance in FakePicamera2Before0320.instances:  # let abandoned helper threads end
            instance._stop_blocker.set()
            with instance._cond:
                for job in instance._job_list:
                    job.cancelled = True
                    job.done.set()
                instance._job_list = []
                instance._cond.notify_all()
        FakePicamera2Before0320.sensor_stalled.clear()
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module
