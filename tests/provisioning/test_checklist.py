"""The technician's path in one go (README checklist, laptop side): no command prints a secret."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from entryscan.provisioning.__main__ import main


def test_laptop_side_of_the_checklist_prints_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, out = tmp_path / "site", tmp_path
    steps = [
        ["site", "init", "--site", "q1", "--dir", str(site), "--name", "Trung tâm Y tế Quận 1"],
        ["venue", "add", "--site-dir", str(site), "--venue", "ubnd-q1", "--name", "UBND Quận 1",
         "--address", "45-47 Lê Duẩn, Phường Bến Nghé, Quận 1", "--lat", "10.7797", "--lon", "106.6990",
         "--opening-hours", "T2-T6 07:30-17:00"],
        ["device", "add", "--site-dir", str(site), "--device", "door-1", "--door", "main", "--venue", "ubnd-q1",
         "--broker", "mqtts://broker.q1.example:8883", "--out", str(out / "door-1")],
        ["broker", "--site-dir", str(site), "--out", str(out / "broker"), "--host", "broker.q1.example"],
        ["poster", "--site-dir", str(site), "--venue", "ubnd-q1", "--base-url", "https://q1.example.vn",
         "--out", str(out / "board.png")],
        ["poster", "check", str(out / "board.png"), "--site-dir", str(site)],
    ]
    for argv in steps:
        assert main(argv) == 0, argv
    printed = "".join(capsys.readouterr())
    secrets = [p for d in (site, out / "door-1", out / "broker") for p in d.glob("*.key")]
    assert len(secrets) == 9  # ca, site, issuer, lists, venues; the bundle's device and site; server, collector
    for path in secrets:
        data = path.read_bytes()
        for form in (data.decode("latin-1"), data.hex(), base64.b64encode(data).decode()):
            assert form not in printed, path
        if data.startswith(b"-----"):  # PEM: no base64 line of it either
            body = [line for line in data.decode().splitlines() if not line.startswith("-----")]
            assert not any(line in printed for line in body), path
    assert "PRIVATE KEY" not in printed
