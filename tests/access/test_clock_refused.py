"""The clock check under a seccomp filter that refuses adjtimex (issue 7: ProtectClock= made every
time-bound credential fail clock_untrusted)."""

from __future__ import annotations

import errno
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from entryscan.device.access import clock
from tests.support.seccomp import libseccomp

ROOT = Path(__file__).resolve().parents[2]
# glibc implements adjtimex() with clock_adjtime(CLOCK_REALTIME): systemd's @clock refuses all three.
CLOCK_READS = ["adjtimex", "clock_adjtime", "clock_adjtime64"]

CHILD = """
import json, logging, sys
from pathlib import Path
import tests.support.seccomp as seccomp
seccomp.refuse({reads!r})
from entryscan.device.access.clock import kernel_clock_synced, read_adjtimex
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("entryscan.device.access.clock").addHandler(handler)
flag = Path(sys.argv[1])
raw = read_adjtimex()
answers = [kernel_clock_synced(flag) for _ in range(3)]
print(json.dumps({{"raw": raw, "answers": answers, "logged": [r.getMessage() for r in records]}}))
"""


def run_refused(flag: Path) -> dict[str, object]:
    if libseccomp() is None:
        pytest.skip("libseccomp.so.2 is not installed (it comes with systemd)")
    out = subprocess.run([sys.executable, "-c", CHILD.format(reads=CLOCK_READS), str(flag)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_refused_adjtimex_falls_back_to_timesyncd_flag(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    flag.touch()
    result = run_refused(flag)
    assert result["raw"] == [-1, errno.EPERM, 0]  # the filter really refused the read
    assert result["answers"] == [True, True, True]
    logged = result["logged"]
    assert isinstance(logged, list) and len(logged) == 1  # the refusal is logged once, not per check
    assert "adjtimex refused" in logged[0] and str(flag) in logged[0]


def test_refused_adjtimex_without_timesyncd_flag_is_unsynced(tmp_path: Path) -> None:
    result = run_refused(tmp_path / "absent")
    assert result["answers"] == [False, False, False]


def test_injected_states(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    flag = tmp_path / "synchronized"
    flag.touch()
    assert clock.kernel_clock_synced(flag, lambda: (0, 0, 0)) is True
    assert clock.kernel_clock_synced(flag, lambda: (clock.TIME_ERROR, 0, 0)) is False
    assert clock.kernel_clock_synced(flag, lambda: (0, 0, clock.STA_UNSYNC)) is False
    with caplog.at_level(logging.WARNING, logger="entryscan.device.access.clock"):
        # an error other than a refusal says nothing about timesyncd: unknown means unsynced
        assert clock.kernel_clock_synced(flag, lambda: (-1, errno.EFAULT, 0)) is False
    assert not caplog.records


def test_system_clock_passes_the_flag_path(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    system = clock.SystemClock(cache_s=0.0, timesync_flag=flag)
    # whatever this machine's clock says, the object was built with the injected path
    assert system._timesync_flag == flag
