"""SIGTERM stops a collector whose ingest queue is full.

Before the fix, ``_on_message`` put a message on the bounded queue with no timeout: with the committer
stuck (here: the database locked by another process) and the queue full, paho's network thread blocked
there, and on SIGTERM ``loop_stop`` joined that thread for ever, so the collector never exited.

Caveat: the committer is inside SQLite's busy wait (the store's 30 s busy timeout) when the signal comes,
so the stop takes ``committer.join(5)`` plus the disconnect: about 5 s, never the 30 s of the busy wait
(the commit thread is a daemon, and nothing it holds is acknowledged). The bound asserted is 15 s.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from entryscan.collector.ingest import RECEIVE_MAXIMUM
from entryscan.collector.store import open_store
from tests.paths import REPO
from tests.support import wait_for
from tests.support.events import entry
from tests.support.mosquitto import Listener, Mosquitto, free_port

QUEUE_FULL = 2 * RECEIVE_MAXIMUM  # the ingest queue's bound


def _health(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            doc: dict[str, Any] = json.loads(r.read())
    except urllib.error.HTTPError as e:  # 503 while stalled: still the document
        doc = json.loads(e.read())
    except OSError:
        return {}
    return doc


def test_sigterm_with_a_full_ingest_queue_exits(mosquitto: Mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    open_store(db).close()  # migrated before the lock below is taken
    token = tmp_path / "token"
    token.write_text("t0ken-for-tools-0123456789\n")
    token.chmod(0o600)
    port = free_port()
    log = (tmp_path / "collector.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "entryscan.collector", "--url", mosquitto.url, "--db", str(db),
                             "--client-id", "sigterm-collector", "--quiet", "--rules-interval", "3600",
                             "--http", f"127.0.0.1:{port}", "--api-token-file", str(token)],
                            stdout=subprocess.DEVNULL, stderr=log, cwd=REPO)
    locker = sqlite3.connect(db, isolation_level=None, timeout=1)
    publisher = Listener(mosquitto.url, ["unused/#"])
    try:
        assert wait_for(lambda: _health(port).get("broker") == "connected", timeout=30), _tail(tmp_path)
        time.sleep(0.5)  # subscribed: the collector logs it right after connecting
        locker.execute("BEGIN IMMEDIATE")  # the committer now waits in SQLite's busy timeout
        for seq in range(1, QUEUE_FULL + 2000):  # QoS 0: not capped by Receive Maximum
            publisher.client.publish("entryscan/hq/door-1/entry", entry(seq), qos=0)
        assert wait_for(lambda: _health(port).get("queued", 0) >= QUEUE_FULL, timeout=30), _health(port)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(15)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no exit 15 s after SIGTERM with a full queue\n{_tail(tmp_path)}") from None
        assert code == 0 and time.monotonic() - started < 15
    finally:
        publisher.close()
        locker.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()


def _tail(tmp_path: Path) -> str:
    return (tmp_path / "collector.log").read_text(errors="replace")[-2000:]
