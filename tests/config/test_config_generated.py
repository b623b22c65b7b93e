"""Hostile configs (reliability scenario 14): generated corruptions of a valid config, each through the
path ``entryscan run --config`` takes (load_config, then the builder), and a sample through the real CLI.

Every one either runs (builds a door) or is a config error: exit 78 with one line under 300 characters.
The default run checks 300; ``pytest -m soak`` checks 3,000 more with other seeds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entryscan.device.builder import Components, build
from entryscan.device.config.settings import load_config
from entryscan.device.errors import ConfigError
from tests.paths import SAMPLE_DOOR, SAMPLE_FRAMES
from tests.support.hostile_config import BASE, Case, generate

MAX_LINE = 300
PREFIX = "entryscan: config error: "


def door_dir(root: Path, case: Case) -> Path:
    folder = root / f"case-{case.seed}"
    folder.mkdir()
    (folder / "badges.txt").write_bytes((SAMPLE_DOOR / "badges.txt").read_bytes())
    (folder / "frames").symlink_to(SAMPLE_FRAMES)
    (folder / "config.toml").write_bytes(case.data)
    return folder


def close(parts: Components) -> None:
    if parts.tamper is not None:
        parts.tamper.close()
    parts.feedback.close()
    for store in (parts.scan.policy.lists, parts.scan.policy.reuse):
        closer = getattr(store, "close", None)
        if closer is not None:
            closer()


def run_path(config: Path) -> str:
    """What ``entryscan run`` does before its threads start: "ok", or the config error line it prints."""
    try:
        parts = build(load_config(config), simulate=True)
    except ConfigError as exc:
        return PREFIX + str(exc)
    close(parts)
    return "ok"


def describe(case: Case) -> str:
    return f"seed {case.seed} ({case.kind}), config starts {case.data[:160]!r}"


def check_in_process(root: Path, cases: list[Case]) -> dict[str, list[tuple[Case, str]]]:
    outcomes: dict[str, list[tuple[Case, str]]] = {"ok": [], "config": []}
    for case in cases:
        line = run_path(door_dir(root, case) / "config.toml")
        if line != "ok":
            assert "\n" not in line and len(line) < MAX_LINE, (describe(case), line[:400])
        outcomes["ok" if line == "ok" else "config"].append((case, line))
    return outcomes


def cli(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "entryscan.device.cli.main", "run", "--config", str(config), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def check_cli_refuses(case: Case, config: Path, expected_line: str) -> None:
    proc = cli(config)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 78, (describe(case), err[-1500:])
    assert err.splitlines() == [expected_line], (describe(case), err[:600])


def check_cli_runs(case: Case, config: Path) -> None:
    """A config that parses starts the daemon (mock GPIO, sample frames); SIGTERM stops it cleanly."""
    proc = cli(config, "--simulate")
    assert proc.stderr is not None
    started, seen = False, []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not started:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        started = " ready: first frame" in line  # signal handlers are installed by then
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=30)[1]
    assert started and proc.returncode == 0, (describe(case), "".join(seen)[-1500:], rest[-1500:])


def check(root: Path, count: int, first_seed: int, cli_refused: int, cli_ran: int) -> None:
    outcomes = check_in_process(root, generate(count, first_seed))
    assert len(outcomes["config"]) > count // 2  # the generator really damages configs
    for case, line in outcomes["config"][:cli_refused]:
        check_cli_refuses(case, root / f"case-{case.seed}" / "config.toml", line)
    for case, _ in outcomes["ok"][:cli_ran]:
        check_cli_runs(case, root / f"case-{case.seed}" / "config.toml")


def test_the_base_config_runs(tmp_path: Path) -> None:
    case = Case(-1, "base", BASE.encode())
    assert run_path(door_dir(tmp_path, case) / "config.toml") == "ok"


def test_300_hostile_configs_each_run_or_exit_78_with_one_short_line(tmp_path: Path) -> None:
    check(tmp_path, 300, first_seed=0, cli_refused=12, cli_ran=2)


@pytest.mark.soak
def test_3000_more_hostile_configs(tmp_path: Path) -> None:
    seed = int(os.environ.get("ENTRYSCAN_SOAK_SEED", "100000"))
    check(tmp_path, 3000, first_seed=seed, cli_refused=60, cli_ran=6)
