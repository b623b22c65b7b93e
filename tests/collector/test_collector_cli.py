"""Command line: the office report (CSV/JSON), simulate against a real collector, users add, serve options."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from entryscan.collector.__main__ import main
from entryscan.collector.store import open_store
from entryscan.collector.web.auth import load_users, verify_password
from tests.conftest import MosquittoFactory
from tests.support.events import TOPIC, entry
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.pki import ScratchCA


def test_report_csv_and_json(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(db_url)
    store.ingest(f"{TOPIC}/entry", entry(1, ts="2026-11-27T23:59:59.999Z"))
    store.ingest(f"{TOPIC}/entry", entry(2, ts="2026-11-28T08:00:00.000Z", subject="=HYPERLINK(1)"))
    store.ingest(f"{TOPIC}/entry", entry(3, ts="2026-11-29T23:59:59.999Z", decision="deny"))
    store.ingest(f"{TOPIC}/entry", entry(4, ts="2026-11-30T00:00:00.000Z"))
    store.ingest("entryscan/other/door-1/entry", entry(1, site="other", ts="2026-11-28T09:00:00.000Z"))
    store.close()
    assert main(["report", "--db", db_url, "--site", "hq", "--from", "2026-11-28", "--to", "2026-11-29"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["seq"], r["decision"]) for r in rows] == [("2", "accept"), ("3", "deny")]
    assert rows[0]["subject"] == "'=HYPERLINK(1)"  # never a formula in the office's spreadsheet
    assert main(["report", "--db", db_url, "--site", "hq", "--from", "2026-11-28", "--to", "2026-11-28",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in doc["entries"]] == [2] and doc["entries"][0]["site"] == "hq"


def test_simulate_delivers_every_event_to_a_collector(mosquitto: Mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    collector = subprocess.Popen([sys.executable, "-m", "entryscan.collector", "--url", mosquitto.url, "--db",
                                  str(db), "--quiet"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
    try:
        assert collector.stderr is not None
        for line in collector.stderr:
            if "collector: subscribed" in line:
                break
        sim = subprocess.run([sys.executable, "-m", "entryscan.collector", "simulate", "--url", mosquitto.url,
                              "--devices", "6", "--events", "300", "--rate", "1000"],
                             check=False, capture_output=True, text=True, timeout=120)
        assert sim.returncode == 0, sim.stderr
        # The doors' journals are empty only once the collector confirmed every entry.
        assert json.loads(sim.stdout.splitlines()[-1])["undelivered"] == 0
        collector.terminate()
        assert collector.wait(30) == 0
    finally:
        collector.kill()
        collector.wait()
    store = open_store(db)
    devices = store.devices()
    assert len(devices) == 6 and sum(d["entries"] for d in devices) == 300
    assert all(d["missing"] == 0 for d in devices)


def test_users_add_writes_a_private_scrypt_line(tmp_path: Path) -> None:
    users = tmp_path / "users"
    env = {**os.environ}
    for name, password in (("ana", "first password"), ("binh", "second password"), ("ana", "new password!")):
        done = subprocess.run([sys.executable, "-m", "entryscan.collector", "users", "add", name, "--users",
                               str(users)], input=password + "\n", capture_output=True, text=True, env=env,
                              check=False)
        assert done.returncode == 0, done.stderr
    assert users.stat().st_mode & 0o777 == 0o600
    stored = load_users(users)
    assert sorted(stored) == ["ana", "binh"] and verify_password("new password!", stored["ana"])
    short = subprocess.run([sys.executable, "-m", "entryscan.collector", "users", "add", "c", "--users", str(users)],
                           input="short\n", capture_output=True, text=True, check=False)
    assert short.returncode == 2


def test_http_refuses_to_serve_without_any_login(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "entryscan.collector", "serve", "--http", "127.0.0.1:0", "--db",
                           str(tmp_path / "c.db")], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2 and "needs --users FILE and/or --api-token-file" in done.stderr


def test_fleet_report_on_both_stores(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(db_url)
    for seq in (1, 2, 4):
        store.ingest(f"{TOPIC}/entry", entry(seq))
    store.ingest(f"{TOPIC}/status", b"online")
    store.close()
    assert main(["--report", "--db", db_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:6] == ["hq/door-1", "online", "3", "3", "0", "1"]


def test_collector_with_a_client_certificate_over_tls(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    """The provisioned broker requires client certificates (collector.pem/.key) and TLS 1.2+."""
    ca = ScratchCA(tmp_path / "pki")
    server = ca.issue("broker", server=True, hosts=("localhost",))
    collector_cert = ca.issue("collector", server=False)
    port = free_port()
    mosquitto_factory(extra_conf="\n".join([
        f"listener {port} 127.0.0.1", f"cafile {ca.path}", f"certfile {server.cert}", f"keyfile {server.key}",
        "require_certificate true", "use_identity_as_username true", "tls_version tlsv1.2"]))
    db = tmp_path / "c.db"
    args = [sys.executable, "-m", "entryscan.collector", "--url", f"mqtts://localhost:{port}", "--db", str(db),
            "--ca-file", str(ca.path), "--cert-file", str(collector_cert.cert), "--key-file", str(collector_cert.key)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "collector: subscribed" in line:
                break
        else:
            raise AssertionError("the collector never subscribed over TLS")
    finally:
        proc.terminate()
        proc.wait(15)
    collector_cert.key.chmod(0o644)
    refused = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "readable by group/others" in refused.stderr
