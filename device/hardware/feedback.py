"""LEDs, buzzer and door relay through gpiozero.

Every pattern runs on gpiozero's own background blink threads, so ``show``
returns at once and the scan loop never waits on a buzzer. The pin factory is
injected (gpiozero's MockFactory off the Pi, its default factory on it).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TextIO

from entryscan.device.config.settings import MAX_RELAY_PULSE_S, FeedbackConfig, RelayConfig
from entryscan.device.model import Decision

log = logging.getLogger(__name__)

BEEP_ACCEPT = (0.12, 0.05, 1)  # on, off, count
BEEP_DENY = (0.07, 0.07, 3)
BLINK_FAULT = (0.2, 1.8)
IDENTIFY_S = 5.0
IDENTIFY_FLASH_S = 0.25


class GpioFeedback:
    """Distinct accept, deny and fault patterns; the relay is off at start and on exit.

    Decisions arrive on the scan thread and ``identify`` on the delivery thread, and gpiozero's
    blink bookkeeping is not thread-safe: two threads blinking one LED left it wedged, raising on
    every later call. So every output is driven under one lock, and the relay goes first, alone:
    an indicator that fails is logged, and the accept that was recorded still opens the door.
    """

    def __init__(self, feedback: FeedbackConfig, relay: RelayConfig, pin_factory: Any = None) -> None:
        from gpiozero import LED, Buzzer, DigitalOutputDevice

        self._cfg = feedback
        self._pulse_s = min(relay.pulse_s, MAX_RELAY_PULSE_S)
        self._fault = False
        self._lock = threading.RLock()
        self._restore: threading.Timer | None = None
        self.devices: dict[str, Any] = {}
        opened: list[Any] = []
        try:
            for name, cls, pin in (("green", LED, feedback.green_pin), ("red", LED, feedback.red_pin),
                                   ("buzzer", Buzzer, feedback.buzzer_pin)):
                if pin is not None:
                    self.devices[name] = cls(pin, initial_value=False, pin_factory=pin_factory)
                    opened.append(self.devices[name])
            if relay.pin is not None:
                self.devices["relay"] = DigitalOutputDevice(
                    relay.pin, active_high=not relay.active_low, initial_value=False, pin_factory=pin_factory
                )
        except Exception:
            for dev in opened:
                dev.close()
            raise

    def _dev(self, name: str) -> Any:
        return self.devices.get(name)

    def _drive(self, name: str, action: Callable[[Any], object]) -> None:
        """One indicator step; a failing LED or buzzer is logged and never stops the others."""
        dev = self.devices.get(name)
        if dev is None:
            return
        try:
            action(dev)
        except Exception as exc:  # noqa: BLE001 - an indicator must not cost the door its relay pulse
            log.error("%s output failed: %s", name, exc)

    def ready(self) -> None:
        with self._lock:
            self._drive("green", lambda d: d.blink(on_time=0.1, off_time=0.1, n=2))

    def show(self, decision: Decision) -> None:
        with self._lock:
            if decision.accepted:
                self._pulse_relay()
                self._drive("red", lambda d: d.off())
                self._drive("green", lambda d: d.blink(on_time=self._cfg.accept_s, off_time=0, n=1))
                self._drive("buzzer", lambda d: d.blink(*BEEP_ACCEPT))
                self._fault_returns_after(self._cfg.accept_s)
            else:
                self._drive("green", lambda d: d.off())
                self._drive("red", lambda d: d.blink(on_time=self._cfg.deny_s, off_time=0, n=1))
                self._drive("buzzer", lambda d: d.blink(*BEEP_DENY))
                self._fault_returns_after(self._cfg.deny_s)

    def _pulse_relay(self) -> None:
        relay = self._dev("relay")
        # A pulse already running is not extended: however many accepts arrive, the relay
        # is never energised longer than one pulse at a time (reliability scenario 23).
        if relay is not None and not relay.value:
            relay.blink(on_time=self._pulse_s, off_time=0, n=1)

    def identify(self, seconds: float = IDENTIFY_S) -> None:
        """Both LEDs flash together and the buzzer chirps once: "this is the scanner you are asking about"."""
        flashes = max(1, int(seconds / (2 * IDENTIFY_FLASH_S)))
        with self._lock:
            for name in ("green", "red"):
                self._drive(name, lambda d: d.blink(on_time=IDENTIFY_FLASH_S, off_time=IDENTIFY_FLASH_S, n=flashes))
            self._drive("buzzer", lambda d: d.blink(*BEEP_ACCEPT))
            self._fault_returns_after(flashes * 2 * IDENTIFY_FLASH_S)

    def fault(self, active: bool) -> None:
        """Slow red blink while the camera or storage is faulty.

        The relay is left to the decisions: with ``on_storage_fault = "decide"`` an accept
        during a storage fault still opens, and no decision is made while the camera is down.
        """
        with self._lock:
            self._fault = active
            self._show_fault()

    def _show_fault(self) -> None:
        if self._fault:
            self._drive("red", lambda d: d.blink(*BLINK_FAULT))
        else:
            self._drive("red", lambda d: d.off())

    def _fault_returns_after(self, seconds: float) -> None:
        """A decision or identify borrows the red LED; the fault blink comes back once it is done."""
        if self._restore is not None:
            self._restore.cancel()
            self._restore = None
        if not self._fault:
            return
        timer = threading.Timer(seconds, self._restore_fault, args=(seconds,))
        timer.daemon = True
        self._restore = timer
        timer.start()

    def _restore_fault(self, _seconds: float) -> None:
        with self._lock:
            if self._restore is threading.current_thread() and self._fault:
                self._show_fault()
            if self._restore is threading.current_thread():
                self._restore = None

    def close(self) -> None:
        with self._lock:
            if self._restore is not None:
                self._restore.cancel()
                self._restore = None
            relay = self._dev("relay")
            if relay:
                relay.off()
            for dev in self.devices.values():
                try:
                    dev.close()
                except Exception as exc:  # noqa: BLE001 - closing must reach every pin
                    log.warning("closing %s failed: %s", dev, exc)


class ConsoleLights:
    """Draws the mock pins on a terminal for ``--simulate``; redraws only on change."""

    SYMBOLS: ClassVar[dict[str, tuple[str, str]]] = {"green": ("\033[32m●\033[0m", "○"), "red": ("\033[31m●\033[0m", "○"),
               "buzzer": ("♪", "·"), "relay": ("OPEN", "shut")}

    def __init__(self, feedback: GpioFeedback, out: TextIO = sys.stdout, period: float = 0.03) -> None:
        self._feedback = feedback
        self._out = out
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-lights", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def render(self) -> str:
        parts = []
        for name, dev in self._feedback.devices.items():
            on, off = self.SYMBOLS[name]
            parts.append(f"{name} {on if dev.value else off}")
        return "  [door] " + "  ".join(parts)

    def _run(self) -> None:
        last = ""
        while not self._stop.wait(self._period):
            try:
                line = self.render()
            except Exception:  # noqa: BLE001 - pins closed during shutdown
                return
            if line != last:
                print(line, file=self._out, flush=True)
                last = line

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
