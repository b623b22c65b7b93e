"""The door's real state document carries each list's issue time, and the collector reads the list's age from it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from entryscan.collector.store import open_store
from entryscan.collector.web import api
from entryscan.device.access import lists
from entryscan.device.builder import build, state_snapshot
from entryscan.device.config.settings import load_config
from tests.support.door import Door, frames_dir


def test_state_snapshot_carries_list_issue_times_the_collector_ages(tmp_path: Path) -> None:
    door = Door(tmp_path / "door", "mqtt://127.0.0.1:1", frames_dir(tmp_path / "frames", []))
    signer = ed25519.Ed25519PrivateKey.generate()
    (door.workdir / "lists.pub").write_bytes(signer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    door.config.write_text(door.config.read_text() + '[lists]\ntrusted_keys = ["lists.pub"]\non_stale = "open"\n')
    cfg = load_config(door.config)
    parts = build(cfg, simulate=True)
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)
    doc = lists.sign_document(lists.encode_document(name="revoked", kind="revoke", version=4,
                                                    issued_at=int(issued.timestamp()), entries=()), signer)
    try:
        store_of_lists = parts.scan.policy.lists
        assert store_of_lists is not None and store_of_lists.apply("revoked", doc).status == "applied"
        snapshot = state_snapshot(parts.scan, cfg, parts.clock)
    finally:
        parts.pin_factory.close()
        store_of_lists.close()  # type: ignore[attr-defined]
    assert snapshot["lists"] == {"revoked": 4}
    assert snapshot["lists_issued"] == {"revoked": int(issued.timestamp())}
    collector = open_store(tmp_path / "collector.db")
    try:
        collector.ingest("entryscan/hq/door-1/state", json.dumps(snapshot).encode())
        (device,) = api.fleet(collector)["devices"]
    finally:
        collector.close()
    (held,) = device["lists"]
    assert held["version"] == 4 and 30 * 3600 - 60 <= held["age_s"] < 31 * 3600
