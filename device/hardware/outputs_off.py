"""``entryscan outputs-off``: drive every configured output to its off level, and leave it driven.

The unit runs it as ``ExecStopPost=`` after every exit of the daemon: a clean stop, a crash, a
SIGKILL, an OOM or watchdog kill, and a start that exited 78 over a broken config. On Raspberry Pi
kernels a released GPIO keeps its level (unless ``dtparam=strict_gpiod``), so a relay energised
mid-pulse stays energised until something drives it off: this is that something.

It reads only ``[feedback]`` and ``[relay]``, each section on its own if the whole file is not valid
TOML, so a config broken elsewhere still gets its outputs switched off. The pins are not closed
afterwards: gpiozero's close re-claims a pin as an input with no pull, which lets an active-low
relay input float; the driven off level outlives this process instead.

It is lean on purpose (issue 17): between the kill and this command claiming the lines the relay stays
energised, and Python's start-up is most of that time (2.6-8.6 s under emulation). So it imports only tomllib
and the standard library it needs: no config schema, no gpiozero and no ``importlib.metadata`` on the Pi's
path, where it claims each line through lgpio directly at its off level (``gpio_claim_output(handle, gpio,
level)``: no blip), on the chip gpiozero's lgpio factory would pick. Any other ``$GPIOZERO_PIN_FACTORY`` (the
tests' ``mock``) goes through ``hardware.pins`` and gpiozero, as the daemon does. ``cli.entry`` runs it before
the full command line is imported; tests/hardware/test_outputs_off_lean.py fails if a heavy module creeps in.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from os import PathLike

# FeedbackConfig's defaults and settings.DEFAULT_CONFIG_PATH, copied so this module never imports the schema
# (tests/hardware/test_outputs_off_lean.py keeps the copies equal).
DEFAULT_FEEDBACK = {"green_pin": 17, "red_pin": 27, "buzzer_pin": 22}
DEFAULT_CONFIG_PATH = "/etc/entryscan/config.toml"
FEEDBACK_PINS = {"green": "green_pin", "red": "red_pin", "buzzer": "buzzer_pin"}
MAX_CONFIG_BYTES = 1 << 20
HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(?:#.*)?$")
PI5_TYPE = 0x17  # the board type field of a Raspberry Pi 5's revision code


class OutputLine(NamedTuple):
    name: str
    pin: int
    off_high: bool  # the electrical level that means "off": high for an active-low relay


class OutputLines(Protocol):
    """The pins port as this command needs it: claim one line as an output already at ``level``."""

    def drive(self, gpio: int, level: bool) -> None: ...


class FactoryLines:
    """Through a gpiozero pin factory (MockFactory in tests, or one ``$GPIOZERO_PIN_FACTORY`` names)."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def drive(self, gpio: int, level: bool) -> None:
        self.factory.pin(gpio).output_with_state(level)


class LgpioLines:
    """lgpio directly: one chip handle, each line claimed at its level. Never freed: the level must outlive us."""

    def __init__(self, chip: int | None = None) -> None:
        import lgpio  # type: ignore[import-not-found]  # Pi only; ImportError elsewhere

        self.lgpio = lgpio
        self.chip = gpiochip_number(pi_revision()) if chip is None else chip
        self.handle = lgpio.gpiochip_open(self.chip)

    def drive(self, gpio: int, level: bool) -> None:
        self.lgpio.gpio_claim_output(self.handle, gpio, int(level))


def pi_revision(device_tree: str = "/proc/device-tree/system/linux,revision",
                cpuinfo: str = "/proc/cpuinfo") -> int | None:
    """The board's revision code, read as gpiozero reads it; None when neither file has one."""
    try:
        with open(device_tree, "rb") as f:
            return int.from_bytes(f.read(4), "big")
    except OSError:
        pass
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Revision"):
                    code = line.split(":", 1)[1].strip().lower()
                    return int(code[-4:] if code.startswith("100") else code, 16)  # "100..." = over-volted
    except (OSError, ValueError, IndexError):
        pass
    return None


def gpiochip_number(revision: int | None, exists: Any = os.path.exists) -> int:
    """The chip gpiozero's LGPIOFactory opens: 4 on a Pi 5 whose kernel still numbers RP1 so, else 0."""
    if revision is not None and (revision & 0xFF0) >> 4 == PI5_TYPE and exists("/dev/gpiochip4"):
        return 4
    return 0


def open_lines(environ: Mapping[str, str]) -> OutputLines:
    """lgpio directly for the unit's factory (or none named); any other factory through gpiozero."""
    name = environ.get("GPIOZERO_PIN_FACTORY", "lgpio")
    if name == "lgpio":
        return LgpioLines()
    from entryscan.device.hardware.pins import hardware_pin_factory

    return FactoryLines(hardware_pin_factory())

def _sections_alone(text: str) -> dict[str, Any]:
    """Parse each ``[feedback]`` / ``[relay]`` block on its own; a block that does not parse is a string."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = HEADER.match(line)
        if match:
            current = blocks.setdefault(match.group(1), []) if match.group(1) in ("feedback", "relay") else None
        elif current is not None:
            current.append(line)
    table: dict[str, Any] = {}
    for name, body in blocks.items():
        try:
            table[name] = tomllib.loads("\n".join(body))
        except tomllib.TOMLDecodeError as exc:
            table[name] = f"[{name}] is not valid TOML ({exc})"
    return table


def read_sections(path: str | PathLike[str]) -> tuple[dict[str, Any], list[str]]:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        return {}, [f"cannot read {path}: {exc}; only the default LED and buzzer pins are known"]
    if len(raw) > MAX_CONFIG_BYTES:
        return {}, [f"{path} is larger than {MAX_CONFIG_BYTES} bytes; only the default LED and buzzer pins are known"]
    text = raw.decode("utf-8", errors="replace")
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError:
        return _sections_alone(text), []


def _pin(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 27:
        return value
    return None


def _section(table: Mapping[str, Any], name: str, problems: list[str]) -> Mapping[str, Any] | None:
    section = table.get(name, {})
    if isinstance(section, str):
        problems.append(section)
        return None
    if not isinstance(section, Mapping):
        problems.append(f"[{name}] is not a table")
        return None
    return section


def plan(table: Mapping[str, Any]) -> tuple[list[OutputLine], list[str]]:
    """The outputs to drive off; problems name what could not be known (those pins are left alone)."""
    problems: list[str] = []
    lines: dict[int, OutputLine] = {}
    feedback = _section(table, "feedback", problems)
    for name, key in FEEDBACK_PINS.items():
        if feedback is None:
            break
        value = feedback.get(key, DEFAULT_FEEDBACK[key])
        pin = _pin(value)
        if pin is None:
            problems.append(f"feedback.{key} = {value!r} is not a BCM GPIO number 0..27")
        else:
            lines[pin] = OutputLine(name, pin, off_high=False)
    relay = _section(table, "relay", problems)
    if relay is not None and "pin" in relay:
        pin, active_low = _pin(relay["pin"]), relay.get("active_low", False)
        if pin is None:
            problems.append(f"relay.pin = {relay['pin']!r} is not a BCM GPIO number 0..27")
        elif not isinstance(active_low, bool):
            problems.append(f"relay.active_low = {active_low!r} is not true or false: relay GPIO {pin} left alone")
        else:
            lines[pin] = OutputLine("relay", pin, off_high=active_low)  # the relay wins a shared pin
    return sorted(lines.values(), key=lambda line: line.pin), problems


def drive_off(lines: list[OutputLine], pins: OutputLines) -> tuple[list[OutputLine], list[str]]:
    """Drive each line to its off level; one failing pin does not stop the others. (driven, problems)."""
    driven, problems = [], []
    for line in lines:
        try:
            pins.drive(line.pin, line.off_high)
            driven.append(line)
        except Exception as exc:  # noqa: BLE001 - every other output must still be switched off
            problems.append(f"{line.name} GPIO {line.pin}: {type(exc).__name__}: {exc}")
    return driven, problems


def run_outputs_off(config_path: str | PathLike[str], factory: Any = None,
                    environ: Mapping[str, str] | None = None) -> int:
    """0 when every output the config names was driven off; 1 if any could not be known or driven.

    ``factory``: a gpiozero pin factory to use instead of the one the environment names (tests).
    """
    table, problems = read_sections(config_path)
    lines, plan_problems = plan(table)
    problems += plan_problems
    try:
        pins = FactoryLines(factory) if factory is not None else open_lines(os.environ if environ is None else environ)
    except Exception as exc:  # noqa: BLE001 - ImportError, lgpio.error, GpioError: reported in the exit status
        problems.append(f"no GPIO: {type(exc).__name__}: {exc}")
        driven: list[OutputLine] = []
    else:
        driven, failed = drive_off(lines, pins)
        problems += failed
    for line in driven:
        level = "high" if line.off_high else "low"
        print(f"outputs-off: {line.name} GPIO {line.pin} driven {level} (off)")
    for problem in problems:
        print(f"outputs-off: {problem}")
    return 1 if problems else 0
