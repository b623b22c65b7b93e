"""Camera adapters: picamera2 on a Pi, an image folder everywhere else.

Both return the grey Y plane only: QR decoding needs luminance, and skipping
colour conversion is the cheapest frame path there is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from entryscan.device.errors import CameraError, CameraStalled, DecoderError
from entryscan.device.model import Frame, GreyImage

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
CLOSE_TIMEOUT_S = 3.0


class DirCamera:
    """Replays the images of one folder once, in name order, then idles.

    ``fps`` paces the replay like a real sensor (0 = as fast as the pipeline
    goes). Once the folder is exhausted, ``capture`` sleeps for its timeout and
    returns ``None``: the daemon stays up, as at a door nobody walks through.
    """

    def __init__(self, folder: Path, fps: float, *, loader: Callable[[Path], GreyImage] | None = None) -> None:
        self.name = f"dir:{folder}"
        self._folder = folder
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._loader = loader
        self._files: list[Path] = []
        self._index = 0
        self._due = 0.0
        self._stop = threading.Event()

    def open(self) -> None:
        if not self._folder.is_dir():
            raise CameraError(f"{self._folder} is not a folder")
        self._files = sorted(p for p in self._folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise CameraError(f"{self._folder} holds no png/jpg/webp images")
        self._index = 0
        self._due = time.monotonic()
        self._stop.clear()

    @property
    def exhausted(self) -> bool:
        return self._index >= len(self._files)

    def capture(self, timeout: float) -> Frame | None:
        if self.exhausted:
            self._stop.wait(timeout)
            return None
        delay = self._due - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        self._due = max(self._due + self._period, time.monotonic() - self._period)
        path = self._files[self._index]
        self._index += 1
        try:
            image = self._load(path)
        except DecoderError as exc:
            log.warning("skipping unreadable frame %s: %s", path.name, exc)
            return None
        return Frame(image=image, seq=self._index, monotonic=time.monotonic())

    def _load(self, path: Path) -> GreyImage:
        if self._loader is not None:
            return self._loader(path)
        from entryscan.device.scan.decoders import load_grey

        return load_grey(path)

    def close(self) -> None:
        self._stop.set()


class Picamera2Camera:
    """picamera2 with a small YUV420 ``lores`` stream; frames are views of its Y plane.

    One Picamera2 instance is configured once and reused for the life of the process
    (re-creating it leaks CMA memory, picamera2 #887). ``capture_array(wait=...)`` bounds
    each capture so a stalled sensor (cable, EMI, #883) surfaces as CameraStalled, not a
    hang. After a failed capture the stuck job is cancelled (``cancel_all_and_flush``,
    picamera2 0.3.20+, its fix for #1065) so that ``stop()`` returns, and the next
    ``open()`` starts the same instance again. A failed instance is closed, never left
    holding the camera where the next attempt cannot get it.
    """

    def __init__(self, size: tuple[int, int], fps: float, autofocus: str, lens_position: float) -> None:
        self.name = "picamera2"
        self._size = size
        self._fps = fps
        self._autofocus = autofocus
        self._lens_position = lens_position
        self._cam: Any = None
        self._started = False
        self._seq = 0

    def open(self) -> None:
        """Start streaming: the configured instance if there is one, else a new one."""
        if self._cam is None:
            self._cam = self._new_instance()
        try:
            self._cam.start()
        except Exception as exc:
            self._release()
            raise CameraError(f"cannot start the camera: {exc}") from exc
        self._started = True

    def _new_instance(self) -> Any:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError(f"picamera2 is not installed (apt install python3-picamera2): {exc}") from exc
        try:
            cam = Picamera2()
        except Exception as exc:
            raise CameraError(f"cannot start the camera: {exc}") from exc
        try:
            cam.configure(self._configuration(cam))
            self._set_focus(cam)
        except Exception as exc:
            close_bounded(cam, CLOSE_TIMEOUT_S)
            raise CameraError(f"cannot configure the camera: {exc}") from exc
        return cam

    def _configuration(self, cam: Any) -> Any:
        controls: dict[str, Any] = {}
        if self._fps > 0:
            frame_us = int(1_000_000 / self._fps)
            controls["FrameDurationLimits"] = (frame_us, frame_us)
        return cam.create_preview_configuration(
            main={"size": self._size},
            lores={"size": self._size, "format": "YUV420"},
            buffer_count=4,
            controls=controls,
            display=None,
        )

    def _set_focus(self, cam: Any) -> None:
        if "AfMode" not in cam.camera_controls or self._autofocus == "off":
            return
        from libcamera import controls

        if self._autofocus == "continuous":
            cam.set_controls({"AfMode": controls.AfModeEnum.Continuous,
                              "AfRange": controls.AfRangeEnum.Macro,
                              "AfSpeed": controls.AfSpeedEnum.Fast})
        else:
            cam.set_controls({"AfMode": controls.AfModeEnum.Manual, "LensPosition": self._lens_position})

    def capture(self, timeout: float) -> Frame | None:
        cam = self._cam
        if cam is None or not self._started:
            raise CameraError("camera is not open")
        try:
            yuv = cam.capture_array("lores", wait=timeout)
        except TimeoutError as exc:
            self._halt(cam)
            raise CameraStalled(f"no frame within {timeout:.1f} s") from exc
        except Exception as exc:
            self._halt(cam)
            raise CameraError(f"capture failed: {exc}") from exc
        width, height = self._size
        self._seq += 1
        return Frame(image=y_plane(yuv, width, height), seq=self._seq, monotonic=time.monotonic())

    def _halt(self, cam: Any) -> None:
        """Stop after a failed capture, keeping the instance for the next ``open()`` when it stops cleanly."""
        self._started = False
        if not hasattr(cam, "cancel_all_and_flush"):
            # picamera2 < 0.3.20: stop() would wait behind the stuck job for ever (#1065), but
            # close() stops the event loop first and does not: free the camera, open afresh.
            log.warning("picamera2 has no cancel_all_and_flush (0.3.20+); closing the camera to recover")
            self._release()
            return
        if not run_bounded(lambda: (cam.cancel_all_and_flush(), cam.stop()), CLOSE_TIMEOUT_S, "camera-stop"):
            # Stuck in the kernel (picamera2 #1264): nothing in this process can free it. Frames stop,
            # so the systemd watchdog restarts the service.
            log.error("camera did not stop within %.0f s; abandoning it", CLOSE_TIMEOUT_S)
            if self._cam is cam:
                self._cam = None

    def _release(self) -> None:
        cam, self._cam = self._cam, None
        self._started = False
        if cam is not None:
            close_bounded(cam, CLOSE_TIMEOUT_S)

    def close(self) -> None:
        self._release()


def y_plane(yuv: GreyImage, width: int, height: int) -> GreyImage:
    """The Y plane of a YUV420 array of shape (h*3/2, stride): a view, no copy."""
    if yuv.ndim != 2 or yuv.shape[0] < height or yuv.shape[1] < width or yuv.dtype != np.uint8:
        raise CameraError(f"unexpected YUV420 frame shape {yuv.shape} {yuv.dtype}")
    return yuv[:height, :width]


def run_bounded(action: Callable[[], object], timeout: float, name: str) -> bool:
    """Run ``action`` in a helper thread; False if it is still running after ``timeout`` (then abandoned)."""

    def _run() -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - best effort on a failing camera
            log.warning("%s failed: %s", name, exc)

    worker = threading.Thread(target=_run, name=name, daemon=True)
    worker.start()
    worker.join(timeout)
    return not worker.is_alive()


def close_bounded(cam: Any, timeout: float) -> None:
    """Cancel queued jobs and close in a helper thread: stopping can block for ever after a cable pull."""

    def _close() -> None:
        cancel = getattr(cam, "cancel_all_and_flush", None)
        if cancel is not None:
            cancel()
        cam.close()  # stops the camera itself, without queueing behind jobs

    if not run_bounded(_close, timeout, "camera-close"):
        log.error("camera did not close within %.0f s; abandoning it", timeout)
