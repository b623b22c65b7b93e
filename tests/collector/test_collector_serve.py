"""One collector process doing everything: ingest from a real broker, rules, dashboard, live events."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
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
        assert wait_for(lambda: _subset(_get(f"{base}/healthz"), ("ok", "db", "ingest", "broker"))
                        == {"ok": True, "db": "ok", "ingest": "ok", "broker": "connected"})
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
        # Prometheus metrics of the same process, behind the API token.
        assert _status(f"{base}/metrics") == 401  # a scraper without the token is refused, as under /api/
        metrics = _text(f"{base}/metrics", TOKEN)
        assert 'entryscan_ingest_messages_total{kind="entry"} 1.0' in metrics
        assert "entryscan_ingest_lag_seconds_count 1.0" in metrics and "entryscan_batch_commit_seconds_count" in metrics
        assert 'entryscan_doors{status="online"} 0.0' in metrics and "entryscan_ingest_ok 1.0" in metrics
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


def _subset(doc: object, keys: tuple[str, ...]) -> dict[str, object]:
    return {k: doc.get(k) for k in keys} if isinstance(doc, dict) else {}


def _text(url: str, token: str) -> str:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return str(resp.read().decode())


def _status(url: str) -> int:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kw: object) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
