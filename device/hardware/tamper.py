"""The enclosure's tamper switch, through gpiozero (MockFactory off the Pi).

The switch closes to ground while the case is shut, so the internal pull-up
reads "pressed" in the normal state and an opened case (or a cut wire) reads
"released": a broken wire fails towards an alarm, never towards silence.
gpiozero calls back on its own thread; the callback only hands the change on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

BOUNCE_S = 0.05


class TamperSwitch:
    def __init__(self, pin: int, on_change: Callable[[bool], None], pin_factory: Any = None) -> None:
        from gpiozero import Button

        self._button = Button(pin, pull_up=True, bounce_time=BOUNCE_S, pin_factory=pin_factory)
        self._on_change = on_change
        self._button.when_released = lambda: on_change(True)
        self._button.when_pressed = lambda: on_change(False)
        if not self._button.is_pressed:
            on_change(True)  # the case was already open at start

    @property
    def open(self) -> bool:
        return not self._button.is_pressed

    def close(self) -> None:
        self._button.close()
