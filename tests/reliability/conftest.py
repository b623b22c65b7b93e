"""The reliability campaign (issue 13): fixtures shared by the scenarios, and the soak table's rows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.collector import LIVE_COLLECTORS
from tests.support.history import Verdict


@pytest.fixture(autouse=True)
def _stop_collectors() -> Iterator[None]:
    yield
    while LIVE_COLLECTORS:
        LIVE_COLLECTORS.pop().kill()


def record(scenario: str, faults: int, verdict: Verdict) -> None:
    """One row of the soak table (scripts/soak.sh sets ENTRYSCAN_SOAK_TABLE to collect them)."""
    print(f"\n{scenario}: faults {faults}, {verdict.summary()}")
    target = os.environ.get("ENTRYSCAN_SOAK_TABLE")
    if target:
        row = {"scenario": scenario, "faults": faults, "decisions": verdict.decisions, "stored": verdict.stored,
               "duplicates_removed": verdict.duplicates_removed, "lost": verdict.lost,
               "unrecorded": verdict.unrecorded, "problems": len(verdict.problems)}
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")
