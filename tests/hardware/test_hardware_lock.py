"""One owner for the camera and pins (issue 7): ``entryscan selftest`` refuses clearly while the
service runs, instead of competing with it for the camera and GPIO."""

from __future__ import annotations

from pathlib import Path

import pytest

from entryscan.device.cli.main import main
from entryscan.device.cli.selftest import EX_TEMPFAIL, run_selftest
from entryscan.device.hardware.lock import HardwareBusy, HardwareLock, lock_path
from tests.conftest import MosquittoFactory
from tests.support import wait_for
from tests.support.door import Door, frames_dir


def held(path: Path) -> bool:
    try:
        HardwareLock(path).acquire().release()
    except HardwareBusy:
        return True
    return False


def test_a_second_holder_is_refused_and_a_stale_file_is_not(tmp_path: Path) -> None:
    path = tmp_path / "hardware.lock"
    path.write_text("999999\n")  # left by a holder that died: the kernel dropped its lock
    first = HardwareLock(path).acquire()
    with pytest.raises(HardwareBusy) as refused:
        HardwareLock(path).acquire()
    assert str(first_pid := refused.value.holder).isdigit() and first_pid != "999999"
    first.release()
    HardwareLock(path).acquire().release()


def test_the_selftest_lock_never_creates_the_file(tmp_path: Path) -> None:
    # run as root before the service's first start, it must leave nothing the service user cannot open
    missing = tmp_path / "state" / "hardware.lock"
    HardwareLock(missing).acquire_existing().release()
    assert not missing.parent.exists()
    daemon = HardwareLock(missing).acquire()  # the daemon creates it (and its folder)
    with pytest.raises(HardwareBusy):
        HardwareLock(missing).acquire_existing()
    daemon.release()
    assert not missing.exists()  # a clean release removes the file
    missing.write_text("4242\n")  # a killed daemon's stale file
    missing.chmod(0o400)
    selftest = HardwareLock(missing).acquire_existing()  # read-only, yet it keeps a daemon out meanwhile
    with pytest.raises(HardwareBusy):
        HardwareLock(missing).acquire()
    selftest.release()


def test_selftest_refuses_while_the_daemon_holds_the_hardware(
    tmp_path: Path, mosquitto_factory: MosquittoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = mosquitto_factory()
    door = Door(tmp_path / "door", broker.url, frames_dir(tmp_path / "f", ["000-empty.png"])).start()
    lock = lock_path(door.workdir / "journal.db")
    assert wait_for(lambda: held(lock), timeout=20), door.output
    pi_model = tmp_path / "model"
    pi_model.write_text("Raspberry Pi 5 Model B Rev 1.0\x00")
    assert door.proc is not None
    assert run_selftest(door.config, model_path=pi_model) == EX_TEMPFAIL
    out = capsys.readouterr().out
    assert f"held by process {door.proc.pid}" in out and "systemctl stop entryscan" in out
    # a second daemon on the same state folder refuses too, before opening a camera or a pin
    assert main(["run", "--simulate", "--config", str(door.config)]) == 70
    door.stop()  # however it ends (here possibly before its signal handlers), the kernel drops the lock
    assert not held(lock)  # so the selftest may now run
    assert not lock.exists() or door.proc.returncode != 0  # a clean stop leaves no file behind


def test_the_lock_is_taken_on_a_full_disk(tmp_path: Path) -> None:
    """Campaign scenario 5: writing the holder's pid failed with ENOSPC and the daemon exited 70 on every
    start while the disk was full (a crash loop); the pid is only a hint, the flock is the lock."""
    from tests.support.fullfs import full_filesystem

    with full_filesystem(tmp_path / "state") as state:
        lock = HardwareLock(lock_path(state / "journal.db")).acquire()
        try:
            assert held(lock.path)
        finally:
            lock.release()
        assert not lock.path.exists()
