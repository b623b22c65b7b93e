"""``entryscan outputs-off``: drive every configured output to its off level, and leave it driven.

The unit runs it as ``ExecStopPost=`` after every exit of the daemon: a clean stop, a crash, a
SIGKILL, an OOM or watchdog kill, and a start that exited 78 over a broken config. On Raspberry Pi
kernels a released GPIO keeps its level (unless ``dtparam=strict_gpiod``), so a relay energised
mid-pulse stays energised until something drives it off: this is that something.

It reads only ``[feedback]`` and ``[relay]``, each section on its own if the whole file is not valid
TOML, so a config broken elsewhere still gets its outputs switched off. The pins are not closed
afterwards: gpiozero's close re-claims a pin as an input with no pull, which lets an active-low
relay input float; the driven off level outlives this process instead.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from entryscan.device.config.settings import FeedbackConfig
from entryscan.device.hardware.pins import hardware_pin_factory

FEEDBACK_PINS = {"green": "green_pin", "red": "red_pin", "buzzer": "buzzer_pin"}
DEFAULT_FEEDBACK = FeedbackConfig()
MAX_CONFIG_BYTES = 1 << 20
HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(?:#.*)?$")


@dataclass(frozen=True)
class OutputLine:
    name: str
    pin: int
    off_high: bool  # the electrical level that means "off": high for an active-low relay


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


def read_sections(path: Path) -> tuple[dict[str, Any], list[str]]:
    try:
        with path.open("rb") as f:
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
        value = feedback.get(key, getattr(DEFAULT_FEEDBACK, key))
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


def drive_off(lines: list[OutputLine], factory: Any) -> list[str]:
    """Drive each line to its off level; one failing pin does not stop the others."""
    problems = []
    for line in lines:
        try:
            factory.pin(line.pin).output_with_state(line.off_high)
        except Exception as exc:  # noqa: BLE001 - every other output must still be switched off
            problems.append(f"{line.name} GPIO {line.pin}: {type(exc).__name__}: {exc}")
    return problems


def run_outputs_off(config_path: Path, factory: Any = None) -> int:
    """0 when every output the config names was driven off; 1 if any could not be known or driven."""
    table, problems = read_sections(config_path)
    lines, plan_problems = plan(table)
    problems += plan_problems
    try:
        pins = factory if factory is not None else hardware_pin_factory()
    except Exception as exc:  # noqa: BLE001 - reported, and the exit status says it failed
        problems.append(f"no GPIO: {type(exc).__name__}: {exc}")
        lines, pins = [], None
    problems += drive_off(lines, pins)
    for line in lines:
        level = "high" if line.off_high else "low"
        print(f"outputs-off: {line.name} GPIO {line.pin} driven {level} (off)")
    for problem in problems:
        print(f"outputs-off: {problem}")
    return 1 if problems else 0
