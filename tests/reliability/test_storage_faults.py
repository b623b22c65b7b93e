"""Scenarios 4 and 5: the door's journal cannot take more.

4. Journal full (max_rows) while the broker is unreachable: the door keeps deciding, alerts once per episode,
   overwrites nothing undelivered; what it journaled drains afterwards.
5. The journal on a small file system (tmpfs) that fills while running and before a start: no exit, no crash loop,
   the storage fault reaches the broker, and the door recovers without a restart when space returns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MosquittoFactory
from tests.reliability.rig import Rig
from tests.support import wait_for
from tests.support.fullfs import fill_up, free_space, full_filesystem
from tests.support.history import settled

MAX_ROWS = 100  # the smallest journal the config allows


def journal_full(tmp_path: Path, mosquitto_factory: MosquittoFactory, frames: int, episodes: int) -> None:
    rig = Rig(tmp_path, mosquitto_factory, frames, max_rows=MAX_ROWS)
    assert rig.proxy is not None
    for episode in range(1, episodes + 1):
        rig.proxy.refuse(True)
        rig.proxy.drop()
        rig.door.start()
        rig.wait_shown(frames * episode)  # every frame decided, journal or not
        first = [r["seq"] for r in rig.door.journal_rows()]
        assert len(first) == MAX_ROWS  # the first ones kept, none overwritten
        rig.proxy.heal()
        assert wait_for(lambda: settled(rig.door.journal, rig.db), timeout=60, interval=0.5), rig.door.log_tail()
        if episode < episodes:
            rig.door.stop()
    rig.settle()
    verdict = rig.verdict("4 journal full", episodes)
    assert verdict.unrecorded == episodes * (frames - MAX_ROWS)
    assert verdict.decisions == episodes * MAX_ROWS
    assert len(rig.alerts("journal_full")) == episodes  # one per episode, delivered


def test_journal_full_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    journal_full(tmp_path, mosquitto_factory, frames=300, episodes=1)


@pytest.mark.soak
def test_journal_full_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    journal_full(tmp_path, mosquitto_factory, frames=2000, episodes=5)


def small_filesystem(tmp_path: Path, mosquitto_factory: MosquittoFactory, frames: int, rounds: int) -> None:
    state = tmp_path / "state"
    with full_filesystem(state, size_kib=2048):
        free_space(state)
        rig = Rig(tmp_path, mosquitto_factory, frames, proxy=False, fps=10, journal=state / "journal.db")
        faults = 0
        for round_ in range(rounds):
            shown = rig.shown()
            rig.door.start()
            if round_ % 2:  # full before the start (the journal exists: a key was made on the first start)
                fill_up(state)
                faults += 1
            else:  # full while running
                rig.wait_shown(shown + 5)
                fill_up(state)
                faults += 1
            assert rig.door.proc is not None
            pid = rig.door.proc.pid
            assert wait_for(lambda r=round_: len(rig.alerts("storage_fault")) > r, timeout=30), (  # type: ignore[misc]
                rig.door.log_tail())
            assert wait_for(lambda: any("#unjournaled" in line for line in list(rig.door.output)), timeout=10)
            free_space(state)
            assert wait_for(lambda r=round_: len(rig.alerts("storage_recovered")) > r,  # type: ignore[misc]
                            timeout=30), rig.door.log_tail()
            assert rig.door.proc.poll() is None and rig.door.proc.pid == pid  # recovered without a restart
            rig.wait_shown(shown + frames)
            if round_ < rounds - 1:
                assert wait_for(lambda: settled(rig.door.journal, rig.db), timeout=60, interval=0.5)
                rig.door.stop()
        rig.settle()
        verdict = rig.verdict("5 small file system fills", faults)
        assert verdict.unrecorded > 0


def test_small_filesystem_short(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    small_filesystem(tmp_path, mosquitto_factory, frames=60, rounds=2)


@pytest.mark.soak
def test_small_filesystem_soak(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    small_filesystem(tmp_path, mosquitto_factory, frames=100, rounds=6)
