"""A mock GPIO chip whose output levels outlive the process, as a Raspberry Pi's do.

gpiozero's MockFactory keeps pin state in the process: a SIGKILLed daemon takes it along, so it cannot show
what the unit's stop hook (``entryscan outputs-off``) finds after a kill. On a Pi a line the killed process
drove keeps its level. This factory is MockFactory with one change: every function and level change is
appended to the file named by $ENTRYSCAN_TEST_GPIO_LEVELS, and a pin opened later starts from the last line
recorded for it. ``install`` registers it as gpiozero pin factory "levelfile" (a dist-info folder on
PYTHONPATH), so the real daemon and the real ``entryscan outputs-off`` select it with GPIOZERO_PIN_FACTORY
exactly as the unit selects lgpio.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin

ENV = "ENTRYSCAN_TEST_GPIO_LEVELS"


@dataclass(frozen=True)
class Level:
    at: float
    pin: str
    function: str
    state: bool
    pid: int


def read_levels(path: Path) -> list[Level]:
    if not path.exists():
        return []
    return [Level(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def last_levels(path: Path) -> dict[str, Level]:
    """Each pin's current level: its last recorded line."""
    return {level.pin: level for level in read_levels(path)}


class LevelFilePin(MockPin):
    def __init__(self, factory: Any, info: Any) -> None:
        super().__init__(factory, info)
        saved = last_levels(Path(os.environ[ENV])).get(str(info.name))
        if saved is not None:  # the line kept what the last process drove
            self._function, self._state = saved.function, saved.state

    def _record(self) -> None:
        line = json.dumps({"at": time.time(), "pin": str(self.info.name), "function": self._function,
                           "state": bool(self._state), "pid": os.getpid()}) + "\n"
        fd = os.open(os.environ[ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())  # one write per line: appends from two processes never interleave
        finally:
            os.close(fd)

    def _set_function(self, value: str) -> None:
        super()._set_function(value)
        self._record()

    def output_with_state(self, state: bool) -> None:
        """Claim as output at ``state`` in one step, recorded once, as a driver that claims with a level does.

        (gpiozero's lgpio pin inherits the two-step default, and lgpio claims an output at level 0 first:
        an active-low relay sees a brief low there. That is the driver's behaviour, not modelled here.)
        """
        self._function = "output"
        super()._change_state(bool(state))
        self._record()

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        if changed:
            self._record()
        return changed


class LevelFileFactory(MockFactory):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(pin_class=LevelFilePin)


def install(folder: Path) -> dict[str, str]:
    """Register the factory as "levelfile"; returns the environment a subprocess needs to use it."""
    from tests.paths import REPO

    dist = folder / "entryscan_test_levelfile-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: entryscan-test-levelfile\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(
        "[gpiozero_pin_factories]\nlevelfile = tests.support.gpio_levels:LevelFileFactory\n")
    path = os.pathsep.join([str(folder), str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"PYTHONPATH": path, "GPIOZERO_PIN_FACTORY": "levelfile", ENV: str(folder / "levels.jsonl")}
