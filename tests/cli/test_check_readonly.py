"""``entryscan check`` writes nothing (issue 18, "The technician's tools"): before, ``entryscan check --config
examples/door/config.toml ...`` made ``examples/door/subject.key`` in the checkout (untracked, not ignored), and
a root ``check`` before the first start would leave a root-owned key the service user cannot read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from entryscan.device.config.paths import load_subject_key
from entryscan.device.config.settings import load_config
from tests.paths import SAMPLE_DOOR


def check(config: Path, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "check", "--config", str(config),
                           "--text", text], capture_output=True, text=True, timeout=60, check=False)


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_check_on_the_sample_door_leaves_the_checkout_as_it_was() -> None:
    before = files(SAMPLE_DOOR)
    done = check(SAMPLE_DOOR / "config.toml", "STAFF-0002")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decision"] == "accept"
    assert files(SAMPLE_DOOR) == before
    assert "subjects below use a temporary key" in done.stderr


def test_an_existing_key_is_used_so_subjects_match_the_doors(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE_DOOR, tmp_path / "door")
    config = tmp_path / "door" / "config.toml"
    first = json.loads(check(config, "STAFF-0002").stdout)["credential"]["subject"]
    assert not (tmp_path / "door" / "subject.key").exists()
    load_subject_key(load_config(config))  # what the door does on its first start
    made = check(config, "STAFF-0002")
    again = json.loads(made.stdout)["credential"]["subject"]
    assert again == json.loads(check(config, "STAFF-0002").stdout)["credential"]["subject"]  # stable now
    assert again != first and "temporary key" not in made.stderr
