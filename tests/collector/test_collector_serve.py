"""One collector process doing everything: ingest from a real broker, rules, dashboard, live events."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from entryscan.collector.web.auth import hash_password
from tests.support import wait_for
from tests.support.events import TOPIC, entry
from tests.support.mosquitto import Listener, Mosquitto, free_port

TOKEN = "serve-test-token-0123456789"


def test_serve_ingests_and_pushes_live_events(mosquitto: Mosquitto, tmp_path: Path) -> None:
    (tmp_path / "users").write_text(f"op:{hash_password('a long password')}\n")
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "entryscan.collector", "serve", "--url", mosquitto.url, "--db",
                             str(tmp_path / "c.db"), "--http", f"127.0.0.1:{port}", "--users",
                             str(tmp_path / "users"), "--api-token-file", str(token), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    publisher = Listener(mosquitto.url, ["unused/#"])
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "collector: subscribed" in line:
                break
        base = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _get(f"{base}/healthz") == {"ok": True, "db": "ok"})
        events: list[str] = []
        req = urllib.request.Request(f"{base}/api/events", headers={"Authorization": f"Bearer {TOKEN}"})
        stream = urllib.request.urlopen(req, timeout=30)

        def read() -> None:
            for raw in stream:
                events.append(raw.decode())

        threading.Thread(target=read, daemon=True).start()
        publisher.publish(f"{TOPIC}/entry", entry(1))
        assert wait_for(lambda: any(e.startswith("data: ") for e in events), timeout=15)
        fleet = _get(f"{base}/api/fleet", TOKEN)
        assert [(d["device"], d["entries"]) for d in fleet["devices"]] == [("door-1", 1)]
    finally:
        publisher.close()
        proc.terminate()  # also ends the event stream the reader thread is blocked on
        proc.wait(15)
    assert proc.returncode == 0


def _get(url: str, token: str | None = None) -> object:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
            return json.loads(resp.read())
    except OSError:
        return None
