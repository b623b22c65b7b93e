"""outputs_off: how long the unit's ``ExecStopPost=entryscan outputs-off`` takes, and what it imports.

After a SIGKILL mid-pulse the relay stays energised until this command has started, read the config and
claimed the lines: its wall time is how long a door stays open after a crash. Each run is the console script
beside this interpreter, as the unit starts it, on a config with a relay. Two pin paths: ``lgpio`` (the Pi's,
lgpio's Python API from tests/support/lgpio_stub on PYTHONPATH, as there is no /dev/gpiochip here) and ``mock``
(gpiozero's MockFactory, the tests' path). ``imports_ms`` is the sum of ``-X importtime`` self times of one run;
``modules`` the count it lists; the heaviest cumulative imports are printed too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, Mode, emit, median, percentile

CONFIG = "[feedback]\ngreen_pin = 5\n[relay]\npin = 26\nactive_low = true\n"
STUB = REPO / "tests" / "support" / "lgpio_stub"


def command(config: Path) -> list[str]:
    script = Path(sys.executable).with_name("entryscan")
    base = [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "entryscan.device.cli.main"]
    return [*base, "outputs-off", "--config", str(config)]


def environment(path: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GPIOZERO_PIN_FACTORY", "PYTHONPATH")}
    if path == "mock":
        env["GPIOZERO_PIN_FACTORY"] = "mock"
    else:
        env["PYTHONPATH"] = str(STUB)
        env["ENTRYSCAN_TEST_LGPIO_LOG"] = str(work / "lgpio.jsonl")
    return env


def import_profile(cmd: list[str], env: dict[str, str]) -> tuple[float, int, list[tuple[str, float]]]:
    """(sum of self times in ms, module count, the heaviest cumulative imports) of one run."""
    argv = cmd[2:] if cmd[0] == sys.executable else cmd  # "python -m ..." or the console script
    out = subprocess.run([sys.executable, "-X", "importtime", *(["-m"] if cmd[0] == sys.executable else []), *argv],
                         env=env, capture_output=True, text=True, check=False).stderr
    rows: list[tuple[str, int, int]] = []
    for line in out.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.split(":", 1)[1].split("|")
        rows.append((name.strip(), int(self_us), int(cumulative_us)))
    top = sorted(((name, cum / 1000) for name, _, cum in rows), key=lambda r: -r[1])[:8]
    return sum(s for _, s, _ in rows) / 1000, len(rows), top


def measure(path: str, runs: int, work: Path) -> None:
    config = work / "config.toml"
    config.write_text(CONFIG)
    env, cmd = environment(path, work), command(config)
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, env=env, capture_output=True, check=False).returncode
        walls.append(time.perf_counter() - t0)
        if rc != 0:
            emit("outputs_off", "exit_code", rc, "status", pins=path)
    imports_ms, count, top = import_profile(cmd, env)
    emit("outputs_off", "wall_median", median(walls) * 1000, "ms", pins=path, runs=runs)
    emit("outputs_off", "wall_p95", percentile(walls, 95) * 1000, "ms", pins=path, runs=runs)
    emit("outputs_off", "imports", imports_ms, "ms", pins=path, modules=count)
    for name, ms in top:
        emit("outputs_off", "import_cumulative", ms, "ms", pins=path, module=name)


def main(mode: Mode) -> None:
    runs = mode.pick(3, 20)
    for path in ("lgpio", "mock"):
        with tempfile.TemporaryDirectory(prefix="bench-off-") as tmp:
            measure(path, runs, Path(tmp))
