"""The hardware and infrastructure seams, as small structural protocols.

Every real adapter (picamera2, gpiozero, paho) has a development adapter beside
it that satisfies the same protocol, so the scan loop never knows which it has.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

from entryscan.device.model import Code, Decision, Frame, GreyImage


@runtime_checkable
class Camera(Protocol):
    """A source of grey frames. ``capture`` raises CameraStalled on timeout."""

    name: str

    def open(self) -> None: ...

    def capture(self, timeout: float) -> Frame | None:
        """Return the next frame; ``None`` means "nothing new, source idle"."""

    def close(self) -> None: ...


class Decoder(Protocol):
    """Finds QR symbols in a grey image."""

    name: str

    def decode(self, image: GreyImage) -> list[Code]: ...


class Feedback(Protocol):
    """LEDs, buzzer and relay. Every method returns at once (never blocks the loop)."""

    def ready(self) -> None: ...

    def show(self, decision: Decision) -> None: ...

    def fault(self, active: bool) -> None: ...

    def close(self) -> None: ...


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Timezone-aware UTC wall-clock time."""

    def monotonic(self) -> float: ...

    def synced(self) -> bool:
        """Whether the kernel reports the wall clock as synchronised."""


class Notifier(Protocol):
    """Wakes the publisher when the journal gained rows."""

    def notify(self) -> None: ...

    def tag_scanned(self, tag_id: str) -> None:
        """An accept was just shown at the door (live, never a replay): Home Assistant's tag scanner hears it."""

    def decided(self, event: dict[str, object]) -> None:
        """A decision was just shown at the door (live, never a replay): Home Assistant's event entity fires."""
