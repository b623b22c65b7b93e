"""Every dgc-testdata case through ``entryscan check`` (config file, CLI, policy), text and PNG.

The conformance suite (test_eu_dcc_conformance.py) judges the verifier step by step; this
one proves the same decisions come out of the command a technician runs, evaluated with
``--at`` at the case's VALIDATIONCLOCK and the case's certificate as the trust list.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from entryscan.device.cli.main import main
from tests.access.credentials.test_eu_dcc_conformance import CASES, conformance

VALIDITY_KEYS = {f"EXPECTED{s.name}" for s in conformance.eu_dcc.Step}


def config_for(case: object, folder: Path) -> Path:
    der = base64.b64decode(case.raw["TESTCTX"]["CERTIFICATE"])  # type: ignore[attr-defined]
    kid = base64.b64encode(hashlib.sha256(der).digest()[:8]).decode()
    trust = folder / "dsc.json"
    trust.write_text(json.dumps([{"kid": kid, "country": "XX", "certificateType": "DSC",
                                  "rawData": base64.b64encode(der).decode()}]))
    cfg = folder / "config.toml"
    cfg.write_text(f"""
[device]
id = "door-1"
site = "hq"
door = "main"
[camera]
source = "dir:{folder}"
[mqtt]
url = "mqtt://127.0.0.1:1"
[journal]
path = "state/journal.db"
[policy]
mode = "health-pass"
[credentials.eu_dcc]
trust_list = "{trust}"
""")
    return cfg


def check(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["check", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_decides_like_the_verifier(case: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = conformance.evaluate(case)
    cfg = config_for(case, tmp_path)
    at = case.now.isoformat()  # type: ignore[attr-defined]
    [decision] = check(capsys, "--config", str(cfg), "--at", at, "--text", case.raw["PREFIX"])  # type: ignore[attr-defined]
    expected = "accept" if result.text.error is None else "deny"
    assert decision["decision"] == expected
    if result.text.error is not None:
        assert decision["reason"] == result.text.error.reason
    if any(not case.expected[k] for k in VALIDITY_KEYS & case.expected.keys()):  # type: ignore[attr-defined]
        assert decision["decision"] == "deny"  # a case that must fail any step is never admitted
    if result.image_text is not None:
        png = tmp_path / "code.png"
        png.write_bytes(base64.b64decode(case.raw["2DCODE"]))  # type: ignore[attr-defined]
        from_image = check(capsys, "--config", str(cfg), "--at", at, "--image", str(png))
        assert [d["decision"] for d in from_image] == [decision["decision"]]
