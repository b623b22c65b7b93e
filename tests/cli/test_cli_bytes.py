"""``entryscan check --text`` takes argv bytes as they are, UTF-8 or not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import segno

from tests.cli.test_cli import door_config


def check(cfg: Path, *args: str | bytes) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", "check", "--config", str(cfg), *args],
                         check=False, capture_output=True, timeout=60)
    assert out.returncode == 0 and b"Traceback" not in out.stderr, out.stderr.decode(errors="replace")
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("payload", [b"caf\xe9", b"\x93\xfa\x96\x7b", b"STAFF-\xff\xfe", b"\x80"])
def test_check_text_passes_non_utf8_bytes_on_as_they_are(tmp_path: Path, payload: bytes) -> None:
    from entryscan.device.config.paths import load_subject_key
    from entryscan.device.config.settings import load_config

    cfg = door_config(tmp_path)
    load_subject_key(load_config(cfg))  # the door's key: check reads it, so the three checks share it
    by_text = check(cfg, "--text", payload)
    assert by_text["reason"] == "not_allowed"
    # The same bytes in a QR code: the subject pseudonym (a keyed hash of the payload) is the same.
    image = tmp_path / "code.png"
    segno.make(payload, mode="byte", error="m").save(str(image), scale=6)
    assert check(cfg, "--image", str(image))["credential"] == by_text["credential"]
    # and differs from any re-encoding of them.
    recoded = payload.decode("latin-1").encode("utf-8")
    assert check(cfg, "--text", recoded)["credential"] != by_text["credential"]
