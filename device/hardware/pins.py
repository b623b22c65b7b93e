"""The pin factory on a Pi: gpiozero's lgpio factory, except that an output goes straight to its initial level.

gpiozero's ``LGPIOPin`` leaves ``output_with_state`` to the base class: it claims the line as an output, which lgpio
drives low, and only then writes the wanted state. For an active-low relay that is "energised, then off": a blip on
the door's lock at every start of the daemon, of ``selftest`` and of ``entryscan outputs-off``. lgpio's
``gpio_claim_output(handle, gpio, level)`` takes the level, so the line is claimed at it. Other factories named by
``$GPIOZERO_PIN_FACTORY`` are loaded as gpiozero would load them.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import Any

from entryscan.device.errors import GpioError, one_line


def hardware_pin_factory() -> Any:
    """The factory named by $GPIOZERO_PIN_FACTORY (the unit sets lgpio; lgpio when unset); GpioError if it fails."""
    name = os.environ.get("GPIOZERO_PIN_FACTORY", "lgpio")
    try:
        if name == "lgpio":
            return level_claiming_lgpio_factory()
        for entry in entry_points(group="gpiozero_pin_factories"):
            if entry.name == name:
                return entry.load()()
    except Exception as exc:  # ImportError, lgpio.error, a factory's own error: one line, exit 70
        hint = " (off a Pi, run with --simulate)" if isinstance(exc, ImportError) else ""
        raise GpioError(f"GPIO pin factory {name!r} unavailable: {one_line(str(exc), 160)}{hint}") from exc
    raise GpioError(f"no gpiozero pin factory named {name!r}")


def level_claiming_lgpio_factory(chip: int | None = None) -> Any:
    """``gpiozero.pins.lgpio.LGPIOFactory`` whose pins claim outputs at their level (imports lgpio: Pi only)."""
    import lgpio  # type: ignore[import-not-found]
    from gpiozero.pins.lgpio import LGPIOFactory, LGPIOPin

    class LevelClaimingPin(LGPIOPin):  # type: ignore[misc]
        def output_with_state(self, state: bool) -> None:
            callback: Any = getattr(self, "_callback", None)
            if callback is not None:  # what LGPIOPin._set_function does before a claim
                callback.cancel()
                self._callback = None
            lgpio.gpio_claim_output(self.factory._handle, self._number, int(bool(state)))

    factory = LGPIOFactory(chip)
    factory.pin_class = LevelClaimingPin  # LGPIOFactory.__init__ sets it on the instance, so set it here too
    return factory
