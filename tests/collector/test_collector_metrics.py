"""Issue 18, "Metrics for the people who watch fleets": one ``serve`` process on a real broker, scraped on its
``--http`` address (behind the API token) and on its own ``--metrics`` address, carries every metric the
issue names: ingest messages (a rate in Prometheus), lag from the door's ``ts`` to the commit, batch commit
time, quarantined messages, doors online and offline, open alerts and open reports."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from entryscan.collector.metrics import Metrics
from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.web.auth import hash_password
from tests.support import wait_for
from tests.support.events import entry
from tests.support.mosquitto import Listener, Mosquitto, free_port

TOKEN = "metrics-test-token-0123456789"


def _scrape(url: str, token: str | None = None) -> tuple[int, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """(status, {(sample name, sorted labels): value}) of one scrape."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, {}
    return 200, {(s.name, tuple(sorted(s.labels.items()))): s.value
                 for family in text_string_to_metric_families(text) for s in family.samples}


def _serve(mosquitto: Mosquitto, tmp_path: Path, http: int, metrics: int) -> subprocess.Popen[str]:
    (tmp_path / "users").write_text(f"op:{hash_password('a long password')}\n")
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    return subprocess.Popen([sys.executable, "-m", "entryscan.collector", "serve", "--url", mosquitto.url, "--db",
                             str(tmp_path / "c.db"), "--http", f"127.0.0.1:{http}", "--metrics",
                             f"127.0.0.1:{metrics}", "--users", str(tmp_path / "users"), "--api-token-file",
                             str(token), "--rules-interval", "3600", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_every_named_metric_on_both_addresses_and_the_token(mosquitto: Mosquitto, tmp_path: Path) -> None:
    http, own = free_port(), free_port()
    proc = _serve(mosquitto, tmp_path, http, own)
    door = Listener(mosquitto.url, ["unused/#"])
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "collector: subscribed" in line:
                break
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        door.publish("entryscan/hq/door-1/status", b"online")
        door.publish("entryscan/hq/door-2/status", b"offline")
        door.publish("entryscan/hq/door-1/entry", entry(1, ts=now))
        door.publish("entryscan/hq/door-1/entry", b"{not json")  # quarantined
        store = open_store(tmp_path / "c.db")
        try:
            assert wait_for(lambda: store.fleet_counts()["quarantined"] == 1 and len(store.entries()) == 1,
                            timeout=15)
            store.add_report("hq", "canteen", "Không thấy bảng QR", "", "10.0.0.7")
            store.raise_alert("device_offline", "hq", "door-2", "offline")
        finally:
            store.close()
        base = f"http://127.0.0.1:{http}"
        assert _scrape(f"{base}/metrics")[0] == 401  # no token: refused, as under /api/
        assert _scrape(f"{base}/metrics", "not-the-token")[0] == 401
        for url, token in ((f"{base}/metrics", TOKEN), (f"http://127.0.0.1:{own}/metrics", None)):
            status, got = _scrape(url, token)
            assert status == 200, url
            _assert_named_metrics(got, url)
    finally:
        door.close()
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0


def _assert_named_metrics(got: dict[tuple[str, tuple[tuple[str, str], ...]], float], where: str) -> None:
    def one(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        assert key in got, (where, key, sorted(k for k in got if k[0].startswith("entryscan")))
        return got[key]

    assert one("entryscan_ingest_messages_total", kind="entry") == 1  # the ingest rate: rate() of this
    assert one("entryscan_ingest_messages_total", kind="status") == 2
    assert one("entryscan_ingest_new_entries_total") == 1
    assert one("entryscan_ingest_lag_seconds_count") == 1 and 0 <= one("entryscan_ingest_lag_seconds_sum") < 60
    assert one("entryscan_ingest_lag_seconds_bucket", le="+Inf") == 1
    assert one("entryscan_batch_commit_seconds_count") >= 1 and one("entryscan_batch_commit_seconds_sum") > 0
    assert one("entryscan_ingest_quarantined_total") == 1 and one("entryscan_quarantine_messages") == 1
    assert one("entryscan_doors", status="online") == 1 and one("entryscan_doors", status="offline") == 1
    assert one("entryscan_open_alerts") == 1 and one("entryscan_open_reports") == 1
    assert one("entryscan_store_up") == 1 and one("entryscan_ingest_ok") == 1
    assert one("entryscan_broker_connected") == 1 and one("entryscan_ingest_queued") == 0


def test_doors_per_status_count_what_the_fleet_page_counts(store: StoreBase) -> None:
    """A door known from its entries but never from a status is "unknown" on the fleet page: so in /metrics."""
    store.ingest("entryscan/hq/door-1/status", b"online")
    store.ingest("entryscan/hq/door-2/status", b"offline")
    store.ingest("entryscan/hq/door-3/entry", entry(1, device="door-3"))
    fleet = sorted((d["device"], d["status"]) for d in store.devices())
    assert fleet == [("door-1", "online"), ("door-2", "offline"), ("door-3", "unknown")]
    metrics = Metrics()
    metrics.watch(store, None)
    text = metrics.render()[0].decode()
    got = {tuple(s.labels.items()): s.value for f in text_string_to_metric_families(text) if f.name == "entryscan_doors"
           for s in f.samples}
    assert got == {(("status", "online"),): 1, (("status", "offline"),): 1, (("status", "stopped"),): 0,
                   (("status", "unknown"),): 1}
