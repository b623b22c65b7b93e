"""Hardware tests: run on a Raspberry Pi with the camera, LEDs, buzzer and relay wired.

Everywhere else every test here is skipped with the reason, never passed.
Run on the Pi:  ENTRYSCAN_HW_CONFIG=/etc/entryscan/config.toml .venv/bin/pytest hw_tests -s
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from entryscan.device.cli.selftest import on_raspberry_pi
from entryscan.device.config.settings import Config, load_config


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if on_raspberry_pi():
        return
    skip = pytest.mark.skip(reason="needs a Raspberry Pi (no /proc/device-tree/model naming one)")
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def hw_config() -> Config:
    return load_config(Path(os.environ.get("ENTRYSCAN_HW_CONFIG", "/etc/entryscan/config.toml")))


def ask(question: str) -> bool:
    """A technician confirms what they saw; answers come from stdin (run pytest with -s)."""
    answer = input(f"\n{question} [y/n] ").strip().lower()
    return answer.startswith("y")
