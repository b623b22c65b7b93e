"""The CLI contract: check, journal, selftest off a Pi, usage errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.paths import SAMPLE_DOOR, SAMPLE_FRAMES


def entryscan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", *args], check=False, capture_output=True, text=True,
                          timeout=60, env=env)


def door_config(tmp_path: Path, mode: str = "allowlist") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[device]
id = "door-1"
site = "hq"
door = "main"
[camera]
source = "dir:{SAMPLE_FRAMES}"
[mqtt]
url = "mqtt://127.0.0.1:1"
[journal]
path = "state/journal.db"
[policy]
mode = "{mode}"
[credentials.badge]
codes_file = "{SAMPLE_DOOR / 'badges.txt'}"
""")
    return path


def test_check_text_accepts_a_listed_badge_and_denies_others(tmp_path: Path) -> None:
    cfg = door_config(tmp_path)
    ok = entryscan("check", "--config", str(cfg), "--text", "STAFF-0002")
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert result["decision"] == "accept" and result["reason"] == "ok" and result["credential"]["type"] == "badge"
    no = entryscan("check", "--config", str(cfg), "--text", "STAFF-9999")
    assert no.returncode == 0  # a deny is a job done
    assert json.loads(no.stdout)["reason"] == "not_allowed"
    assert not (tmp_path / "state" / "subject.key").exists()  # check writes nothing (tests/cli/test_check_readonly.py)


def test_check_image_decides_every_code_in_it(tmp_path: Path) -> None:
    cfg = door_config(tmp_path)
    out = entryscan("check", "--config", str(cfg), "--image", str(SAMPLE_FRAMES / "006-visitor-unknown.png"))
    assert [json.loads(line)["reason"] for line in out.stdout.splitlines()] == ["not_allowed"]
    empty = entryscan("check", "--config", str(cfg), "--image", str(SAMPLE_FRAMES / "000-empty.png"))
    assert json.loads(empty.stdout)["reason"] == "unknown_format"


def test_check_image_decides_each_of_several_codes_as_its_own_text(tmp_path: Path) -> None:
    """Six codes in one image (one of them twice): one line per distinct code, each the decision ``--text`` gives
    for that code (the keyed subject ties a line to its code). Before, only one-code images were tested, so a
    check that decided only the first code, or the first code once per code found, passed."""
    import numpy as np
    import segno
    from PIL import Image

    texts = ["STAFF-0001", "STAFF-9999", "hello there", "STAFF-0003", "STAFF-0001", "STAFF-0002"]
    def tile(text: str) -> Any:
        buf = io.BytesIO()
        segno.make(text, micro=False, version=2).save(buf, kind="png", scale=6, border=4)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))

    tiles = [tile(t) for t in texts]
    image = tmp_path / "six.png"
    Image.fromarray(np.vstack([np.hstack(tiles[:3]), np.hstack(tiles[3:])])).save(image)
    cfg = door_config(tmp_path)
    from entryscan.device.config.paths import load_subject_key
    from entryscan.device.config.settings import load_config

    load_subject_key(load_config(cfg))  # the door's key, made as its first start makes it: subjects comparable
    out = entryscan("check", "--config", str(cfg), "--image", str(image))
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    by_text = [json.loads(entryscan("check", "--config", str(cfg), "--text", t).stdout) for t in dict.fromkeys(texts)]
    assert len(lines) == 5 and sorted(map(json.dumps, lines)) == sorted(map(json.dumps, by_text))
    assert sorted(line["reason"] for line in lines) == ["not_allowed", "not_allowed", "ok", "ok", "ok"]


def test_check_uses_environment_config_path(tmp_path: Path) -> None:
    import os

    cfg = door_config(tmp_path, mode="open")
    out = entryscan("check", "--text", "anything", env={**os.environ, "ENTRYSCAN_CONFIG": str(cfg)})
    assert json.loads(out.stdout)["decision"] == "accept"


def test_check_at_rejects_a_bad_time(tmp_path: Path) -> None:
    out = entryscan("check", "--config", str(door_config(tmp_path)), "--at", "yesterday", "--text", "x")
    assert out.returncode == 78 and "--at" in out.stderr


def test_journal_lists_rows_without_payloads(tmp_path: Path) -> None:
    cfg = door_config(tmp_path)
    from entryscan.device.config.settings import load_config
    from entryscan.device.delivery.journal import Journal
    from tests.support import StepClock

    c = load_config(cfg)
    c.journal.path.parent.mkdir(mode=0o700)
    j = Journal(c.journal.path, device="door-1", site="hq", door="main", max_rows=100, clock=StepClock())
    j.record_entry({"decision": "deny", "reason": "not_allowed", "credential_type": "badge", "subject": "ab",
                    "policy_version": "1", "clock_synced": True})
    j.close()
    out = entryscan("journal", "--config", str(cfg), "--pending")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["seq"] == 1 and rows[0]["reason"] == "not_allowed"
    assert json.loads(out.stderr.strip().splitlines()[-1]) == {"backlog": 1, "refused": 0, "not_yet_sent": 1,
                                                               "refused_by_broker": 0, "awaiting_confirmation": 0}


def test_selftest_off_a_pi_says_so() -> None:
    out = entryscan("selftest")
    # Before: exit 0, which a script reads as a pass although nothing was tested.
    assert out.returncode == 69 and "needs a Raspberry Pi" in out.stdout


def test_usage_error_exits_2() -> None:
    assert entryscan("check").returncode == 2
    assert entryscan("frobnicate").returncode == 2


def test_selftest_broker_check_does_a_real_mqtt_connect(tmp_path: Path, mosquitto: object) -> None:
    from entryscan.device.cli.selftest import check_broker
    from entryscan.device.config.settings import load_config

    cfg_path = door_config(tmp_path)
    cfg_path.write_text(cfg_path.read_text().replace("mqtt://127.0.0.1:1", mosquitto.url))  # type: ignore[attr-defined]
    assert check_broker(load_config(cfg_path)).startswith("ok MQTT v5 over plain")
    cfg_path.write_text(cfg_path.read_text().replace(mosquitto.url, "mqtt://127.0.0.1:1"))  # type: ignore[attr-defined]
    try:
        result = check_broker(load_config(cfg_path))
    except OSError:
        result = "FAIL refused"
    assert result.startswith("FAIL")
