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


def hardware_pin_factory() -> Any:
    """The factory named by $GPIOZERO_PIN_FACTORY (the unit sets lgpio; lgpio when unset)."""
    name = os.environ.get("GPIOZERO_PIN_FACTORY", "lgpio")
    if name == "lgpio":
        return LevelClaimingFactory()
    for entry in entry_points(group="gpiozero_pin_factories"):
        if entry.name == name:
            return entry.load()()
    raise LookupError(f"no gpiozero pin factory named {name!r}")


def LevelClaimingFactory(chip: int | None = None) -> Any:
    """``gpiozero.pins.lgpio.LGPIOFactory`` with ``LevelClaimingPin`` pins (imports lgpio: call it on a Pi only)."""
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
