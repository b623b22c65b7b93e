"""The MQTT publisher against a real mosquitto: delivery, faults, retained status, discovery."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import paho.mqtt.client as paho
import pytest

from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.client import backoff_delay, identity
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher
from entryscan.device.errors import ConfigError, JournalError
from tests.conftest import MosquittoFactory
from tests.paths import REPO
from tests.support import StepClock, wait_for
from tests.support.mosquitto import Listener, Mosquitto

FIELDS: dict[str, object] = {"decision": "accept", "reason": "ok", "credential_type": "badge",
                             "subject": "p-1", "policy_version": "1", "clock_synced": True}
FAST = {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0}
DEV = "entryscan/hq/door-1"


class Rig:
    """A journal on the test thread plus a publisher on the same file."""

    def __init__(self, tmp_path: Path, clock: StepClock, url: str, **kw: Any) -> None:
        self.path = tmp_path / "journal" / "j.db"
        self.clock = clock
        self.journal = Journal(self.path, device="door-1", site="hq", door="main", max_rows=10_000, clock=clock)
        cfg_kw = {k: kw.pop(k) for k in list(kw) if k in MqttConfig.__dataclass_fields__}
        # The broker mechanics are tested in broker mode; confirmed delivery has its own tests (test_confirmed.py).
        self.cfg = MqttConfig(url=url, keepalive_s=5, **{"discovery": False, "delivery": "broker", **cfg_kw})
        self.state: dict[str, object] = {"camera": "ok"}
        self.publisher = self.make(**{**FAST, **kw})

    def make(self, cls: type[MqttPublisher] = MqttPublisher, **kw: Any) -> MqttPublisher:
        kw.setdefault("state_provider", lambda: dict(self.state))
        return cls(self.cfg, device="door-1", site="hq", door="main", journal_path=self.path,
                   max_rows=10_000, clock=self.clock, firmware="9.9", **kw)

    def record(self, n: int) -> set[str]:
        ids = set()
        for _ in range(n):
            event = self.journal.record_entry(FIELDS)
            assert event is not None
            ids.add(str(event["event_id"]))
        self.publisher.notify()
        return ids


@pytest.fixture
def rig_factory(tmp_path: Path, clock: StepClock) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(url: str, **kw: Any) -> Rig:
        rigs.append(Rig(tmp_path, clock, url, **kw))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.publisher.stop(1.0)
        rig.journal.close()


@pytest.fixture
def listeners() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(url: str, topics: list[str] | None = None, **kw: Any) -> Listener:
        made.append(Listener(url, topics or ["entryscan/#"], **kw))
        return made[-1]

    yield make
    for listener in made:
        listener.close()


def test_rows_delivered_then_deleted_and_status_lifecycle(mosquitto: Mosquitto, rig_factory: Any,
                                                          listeners: Any) -> None:
    rig = rig_factory(mosquitto.url)
    listener = listeners(mosquitto.url)
    ids = rig.record(40)
    rig.publisher.start()
    assert wait_for(lambda: listener.event_ids() == ids and rig.journal.backlog() == 0)
    entries = listener.json_on("/entry")
    assert sorted(int(e["seq"]) for e in entries) == list(range(1, 41))
    assert entries[0]["device"] == "door-1" and entries[0]["site"] == "hq"
    assert listener.on("/status")[0] == b"online" and rig.publisher.connected
    state = listener.json_on("/state")[0]
    assert state["camera"] == "ok" and "journal_backlog" in state
    more = rig.record(5)  # notify() wakes the thread for rows written later
    assert wait_for(lambda: more <= listener.event_ids() and rig.journal.backlog() == 0)
    rig.publisher.stop()
    assert not rig.publisher.alive() and not rig.publisher.connected
    late = listeners(mosquitto.url, [f"{DEV}/status"])
    assert wait_for(lambda: late.on("/status") == [b"offline"], 5)  # retained; Home Assistant knows only two


def test_broker_down_at_start_then_up(tmp_path: Path, mosquitto_factory: MosquittoFactory,
                                      rig_factory: Any, listeners: Any) -> None:
    broker = Mosquitto(tmp_path / "late")
    rig = rig_factory(broker.url)
    ids = rig.record(10)
    rig.publisher.start()
    time.sleep(1.0)
    assert not rig.publisher.connected and rig.publisher.alive()  # backing off, still healthy
    assert rig.journal.backlog() == 10
    broker.start()
    try:
        listener = listeners(broker.url)
        assert wait_for(lambda: rig.journal.backlog() == 0, 10)
        # Delivered before the listener subscribed or after: the broker acked all rows.
        assert rig.publisher.stats.acked >= 10
        assert listener.on("/status") == [b"online"]  # retained from the connect
        assert ids  # recorded before any broker existed
    finally:
        rig.publisher.stop(1.0)
        broker.kill()


def test_broker_restart_mid_stream_loses_nothing(mosquitto_factory: MosquittoFactory, rig_factory: Any,
                                                 listeners: Any) -> None:
    broker = mosquitto_factory(persistence=True)
    listener = listeners(broker.url, [f"{DEV}/entry"], session=True, client_id="restart-listener")
    rig = rig_factory(broker.url)
    rig.publisher.start()
    assert wait_for(lambda: rig.publisher.connected)
    ids: set[str] = set()
    ids |= rig.record(100)
    assert wait_for(lambda: rig.publisher.stats.acked > 0)
    broker.stop()  # SIGTERM: the broker saves the listener's session and queued messages
    ids |= rig.record(100)  # the door keeps deciding while the broker is away
    time.sleep(0.3)
    broker.start()
    ids |= rig.record(100)
    assert wait_for(lambda: rig.journal.backlog() == 0, 20)
    assert wait_for(lambda: listener.event_ids() == ids, 20), (len(ids - listener.event_ids()), broker.log())
    seqs = [int(e["seq"]) for e in listener.json_on("/entry")]
    assert sorted(set(seqs)) == list(range(1, 301))  # duplicates allowed, gaps not
    assert rig.publisher.stats.connects >= 2


def test_acl_rejection_keeps_row_alerts_and_backs_off(mosquitto_factory: MosquittoFactory,
                                                      rig_factory: Any, listeners: Any) -> None:
    acl = "topic read #\n" + "".join(f"topic write {DEV}/{leaf}\n" for leaf in ("status", "state", "alert"))
    broker = mosquitto_factory(acl=acl)
    listener = listeners(broker.url)
    rig = rig_factory(broker.url, reject_retry_s=30.0)
    ids = rig.record(3)
    rig.publisher.start()
    assert wait_for(lambda: listener.json_on("/alert"), 10)
    [alert] = listener.json_on("/alert")
    assert alert["kind"] == "publish_rejected" and alert["reason_code"] == 0x87
    assert alert["topic"] == f"{DEV}/entry" and alert["event_id"] in ids
    time.sleep(2.0)  # a hot loop would republish thousands of times here
    assert rig.publisher.stats.publishes == 4  # 3 entries + the alert, each once
    rows = rig.journal.rows()
    assert [r["event_id"] for r in rows if r["kind"] == "entry"] and len(rows) == 3
    assert all(r["attempts"] == 1 and "0x87" in str(r["last_error"]) for r in rows)
    assert listener.event_ids() == set()


def test_rejected_alert_rows_do_not_breed_alerts(mosquitto_factory: MosquittoFactory,
                                                 rig_factory: Any) -> None:
    broker = mosquitto_factory(acl=f"topic write {DEV}/status\ntopic write {DEV}/state\n")
    rig = rig_factory(broker.url, reject_retry_s=0.3, alert_reject_retry_s=30.0)
    rig.record(1)
    rig.publisher.start()
    assert wait_for(lambda: rig.publisher.stats.reject_alerts == 1, 10)
    time.sleep(2.5)  # the entry is retried (short backoff); the alert row waits out its long one
    kinds = [r["kind"] for r in rig.journal.rows()]
    assert kinds.count("alert") == 1 and kinds.count("entry") == 1
    alert_row = next(r for r in rig.journal.rows() if r["kind"] == "alert")
    assert alert_row["attempts"] == 1
    entry_row = next(r for r in rig.journal.rows() if r["kind"] == "entry")
    assert 2 <= int(str(entry_row["attempts"])) <= 6  # exponential, not a loop


class RaisesOnce(MqttPublisher):
    """Injects the paho #894 failure: a callback raising inside the network loop."""

    raised = 0

    def _announce(self, client: paho.Client, link: Any) -> None:
        if not self.raised:
            self.raised += 1
            raise RuntimeError("injected on_connect failure")
        super()._announce(client, link)


def test_callback_exception_recovers_and_alerts(mosquitto: Mosquitto, rig_factory: Any,
                                                listeners: Any) -> None:
    rig = rig_factory(mosquitto.url)
    rig.publisher = rig.make(RaisesOnce, **FAST)
    listener = listeners(mosquitto.url)
    ids = rig.record(20)
    rig.publisher.start()
    assert wait_for(lambda: ids <= listener.event_ids() and rig.journal.backlog() == 0, 10)
    assert rig.publisher.stats.client_errors == 1 and rig.publisher.alive()
    assert [a["kind"] for a in listener.json_on("/alert")] == ["mqtt_client_error"]


def test_state_provider_failure_does_not_stop_delivery(mosquitto: Mosquitto, rig_factory: Any,
                                                       listeners: Any) -> None:
    rig = rig_factory(mosquitto.url)

    def broken() -> dict[str, object]:
        raise ValueError("probe broke")

    rig.publisher = rig.make(**FAST, state_provider=broken)
    listener = listeners(mosquitto.url)
    ids = rig.record(5)
    rig.publisher.start()
    assert wait_for(lambda: ids <= listener.event_ids(), 10)
    assert listener.json_on("/state")[0]["state_error"] == "ValueError"
    assert rig.publisher.stats.client_errors == 0


def test_publish_state_on_demand(mosquitto: Mosquitto, rig_factory: Any, listeners: Any) -> None:
    rig = rig_factory(mosquitto.url)
    listener = listeners(mosquitto.url, [f"{DEV}/state"])
    rig.publisher.start()
    assert wait_for(lambda: len(listener.on("/state")) == 1)
    rig.state["camera"] = "fault"
    rig.publisher.publish_state()
    assert wait_for(lambda: len(listener.on("/state")) == 2)
    assert listener.json_on("/state")[-1]["camera"] == "fault"


PUBLISHER_SCRIPT = """
import sys, time
from pathlib import Path
from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.publisher import MqttPublisher
from tests.support import StepClock
pub = MqttPublisher(MqttConfig(url=sys.argv[1], keepalive_s=5, discovery=False, delivery="broker"),
                    device="door-1", site="hq",
                    door="main", journal_path=Path(sys.argv[2]), max_rows=100, clock=StepClock(),
                    state_provider=dict, firmware="x")
pub.start()
while True:
    time.sleep(1)
"""


def test_lwt_offline_when_publisher_process_killed(mosquitto: Mosquitto, tmp_path: Path,
                                                    listeners: Any) -> None:
    listener = listeners(mosquitto.url, [f"{DEV}/status"])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER_SCRIPT, mosquitto.url, str(tmp_path / "j.db")],
                            env=env)
    try:
        assert wait_for(lambda: listener.on("/status") == [b"online"], 15)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert wait_for(lambda: listener.on("/status") == [b"online", b"offline"], 10)
    finally:
        proc.kill()
        proc.wait(5)
    late = listeners(mosquitto.url, [f"{DEV}/status"])
    assert wait_for(lambda: late.on("/status") == [b"offline"], 5)  # retained


def test_backoff_delay_bounds_and_jitter() -> None:
    assert backoff_delay(0, rand=lambda: 0.5) == 1.0
    assert backoff_delay(3, rand=lambda: 0.5) == 8.0
    assert backoff_delay(50, rand=lambda: 0.5) == 120.0
    assert backoff_delay(0, rand=lambda: 0.0) == 0.5 and backoff_delay(0, rand=lambda: 1.0) == 1.5
    assert backoff_delay(10_000, rand=lambda: 1.0) == 180.0
    samples = [backoff_delay(20) for _ in range(2000)]
    assert 60.0 <= min(samples) < 70.0 and 170.0 < max(samples) <= 180.0
    assert len({round(s) for s in samples}) > 50  # spread, not lockstep


def test_password_file_must_be_private(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    cfg = MqttConfig(url="mqtt://127.0.0.1", username="door-1", password_file=secret)
    with pytest.raises(ConfigError, match="chmod 600"):
        identity(cfg, site="hq", device="door-1")
    secret.chmod(0o600)
    ident = identity(cfg, site="hq", device="door-1")
    assert ident.password == "s3cret" and ident.client_id == "entryscan-hq-door-1"
    assert "s3cret" not in repr(ident)
    with pytest.raises(ConfigError, match="no username"):
        identity(MqttConfig(url="mqtt://127.0.0.1", password_file=secret), site="hq", device="d")
    assert identity(MqttConfig(url="mqtt://u1@127.0.0.1"), site="s", device="d").username == "u1"


def _mosquitto_password_line(user: str, password: str) -> str:
    """A mosquitto 2.x password-file line ($7$ = PBKDF2-SHA512), without mosquitto_passwd."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101, 64)
    return f"{user}:$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}\n"


def test_password_file_authenticates(mosquitto_factory: MosquittoFactory, tmp_path: Path,
                                     rig_factory: Any) -> None:
    users = tmp_path / "users"
    users.write_text(_mosquitto_password_line("door-1", "s3cret"))
    broker = mosquitto_factory(extra_conf=f"password_file {users}")
    broker.stop()
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    broker.start()
    secret = tmp_path / "pw"
    secret.write_text("wrong\n")
    secret.chmod(0o600)
    wrong = rig_factory(broker.url, username="door-1", password_file=secret)
    wrong.publisher.start()
    time.sleep(1.0)
    assert not wrong.publisher.connected and wrong.publisher.alive()  # refused, backing off
    wrong.publisher.stop(1.0)
    secret.write_text("s3cret\n")
    right = rig_factory(broker.url, username="door-1", password_file=secret)
    right.publisher.start()
    assert wait_for(lambda: right.publisher.connected, 5)


def test_watchdog_liveness_goes_false_when_thread_stops(mosquitto: Mosquitto, rig_factory: Any) -> None:
    rig = rig_factory(mosquitto.url)
    assert not rig.publisher.alive()
    rig.publisher.start()
    assert wait_for(lambda: rig.publisher.connected)
    assert rig.publisher.alive()
    stopper = threading.Thread(target=rig.publisher.stop)
    stopper.start()
    stopper.join(10)
    assert not rig.publisher.alive()


def test_transient_alert_goes_out_unretained_when_the_journal_cannot(mosquitto: Mosquitto, rig_factory: Any,
                                                                     listeners: Any) -> None:
    """Live delivery clears the retain flag unless the subscription asks for Retain As Published, so the listener
    asks for it (and proves it can see a retained publish); a subscriber that comes later must get nothing retained.
    Before: a listener without the option passed with the door publishing ``retain=True``."""
    listener = listeners(mosquitto.url, [f"{DEV}/alert", "probe/retained"], retain_as_published=True)
    listener.publish("probe/retained", b"x", retain=True)  # the listener tells retained from not
    assert wait_for(lambda: listener.on("probe/retained"), timeout=5)
    assert [retained for topic, _, retained in listener.messages if topic == "probe/retained"] == [True]
    rig = rig_factory(mosquitto.url)
    rig.publisher.transient_alert("storage_fault", {"error": "database or disk is full"})
    rig.publisher.start()
    assert wait_for(lambda: listener.json_on("/alert"), timeout=10)
    [alert] = listener.json_on("/alert")
    assert alert["kind"] == "storage_fault" and alert["durable"] is False and alert["device"] == "door-1"
    assert [retained for topic, _, retained in listener.messages if topic.endswith("/alert")] == [False]
    late = listeners(mosquitto.url, [f"{DEV}/alert", "probe/retained"])
    assert wait_for(lambda: late.on("probe/retained"), timeout=5)  # retained messages have arrived by now
    assert late.on("/alert") == []  # the broker kept nothing for the next subscriber
    assert rig.journal.backlog() == 0  # nothing was journaled for it


def test_half_open_link_is_detected_and_rows_resent(mosquitto: Mosquitto, rig_factory: Any,
                                                     listeners: Any) -> None:
    """Reliability scenario 12: a link that silently stops carrying data (no FIN/RST)."""
    from tests.support.proxy import BlackholeProxy

    proxy = BlackholeProxy(mosquitto.port)
    listener = listeners(mosquitto.url, [f"{DEV}/entry"], session=True)
    rig = rig_factory(proxy.url)  # keepalive 5 s
    rig.publisher.start()
    try:
        assert wait_for(lambda: rig.publisher.connected, timeout=10)
        proxy.blackhole()
        started = time.monotonic()
        ids = rig.record(5)  # decided while the link is dead
        assert wait_for(lambda: proxy.connections >= 2, timeout=5 * 1.5 + 5 + 2)
        detected_after = time.monotonic() - started
        assert wait_for(lambda: ids <= listener.event_ids(), timeout=15)
        assert wait_for(lambda: rig.journal.backlog() == 0, timeout=10)
        assert detected_after <= 5 * 1.5 + 5  # within 1.5 x keepalive + 5 s
    finally:
        proxy.close()


def test_tag_scans_go_out_live_only(mosquitto: Mosquitto, rig_factory: Callable[..., Rig],
                                    listeners: Callable[..., Listener]) -> None:
    """Journal rows (replays included) never reach the tag topic; a live accept does, a stale one is dropped."""
    rig = rig_factory(mosquitto.url)
    tags = listeners(mosquitto.url, [f"{DEV}/tag", f"{DEV}/entry"])
    rig.record(3)
    rig.publisher.tag_scanned("stale-subject")
    rig.clock.advance_monotonic(60)  # the door was offline for a minute: that scan is no longer live
    rig.publisher.start()
    assert wait_for(lambda: len(tags.on("/entry")) == 3)
    rig.publisher.tag_scanned("live-subject")
    assert wait_for(lambda: tags.on("/tag") == [b"live-subject"])
    time.sleep(0.3)
    assert tags.on("/tag") == [b"live-subject"]


def test_link_comes_up_without_the_journal_and_reports_the_storage_fault(
        mosquitto: Mosquitto, tmp_path: Path, clock: StepClock, listeners: Callable[..., Listener]) -> None:
    """Before: a journal that could not be opened kept the delivery thread from ever connecting, so no status,
    no state and no storage_fault reached anyone while the door kept deciding."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the journal's folder should be\n")
    listener = listeners(mosquitto.url, [f"{DEV}/#"])
    pub = MqttPublisher(MqttConfig(url=mosquitto.url, keepalive_s=5, discovery=False), device="door-1", site="hq",
                        door="main", journal_path=blocker / "j.db", max_rows=100, clock=clock,
                        state_provider=lambda: {"storage": "fault"}, firmware="t", **FAST)
    pub.start()
    try:
        pub.transient_alert("storage_fault", {"error": "disk I/O error"})
        assert wait_for(lambda: listener.on("/status") == [b"online"], 10)
        assert wait_for(lambda: bool(listener.json_on("/alert")), 10)
        (alert,) = listener.json_on("/alert")
        assert alert["kind"] == "storage_fault" and alert["durable"] is False
        assert len(alert["alert_id"]) == 36  # the collector keys alerts on alert_id; it dropped this one before
        state = listener.json_on("/state")[0]
        assert state["storage"] == "fault" and state["journal_error"] == "not_open"
    finally:
        pub.stop(1.0)


def test_unacknowledged_publishes_stay_within_the_brokers_receive_maximum(mosquitto: Mosquitto, rig_factory: Any,
                                                                         listeners: Any) -> None:
    """MQTT v5 3.3.4: no more QoS 1 PUBLISHes awaiting PUBACK than the broker's Receive Maximum (mosquitto: 20).
    Found by the campaign (scenario 3): rows filled the broker's 20 and status/state went on top (26 seen)."""
    from tests.support.proxy import FaultProxy

    proxy = FaultProxy(mosquitto.port)
    proxy.delay(0.2)  # PUBACKs come late, so the window fills
    listeners(mosquitto.url, ["entryscan/#"])  # someone subscribed: no 0x10, rows leave on PUBACK
    rig = rig_factory(proxy.url)
    try:
        rig.publisher.start()
        for link in range(2):  # the first link learns the Receive Maximum, the next is sized by it
            rig.record(200)
            for _ in range(20):  # state documents asked for while the window is full of rows
                time.sleep(0.05)
                rig.publisher.publish_state()
            assert wait_for(lambda: rig.journal.backlog() == 0, timeout=30), rig.publisher.stats
            assert 10 <= proxy.max_inflight <= 20, (link, proxy.max_inflight)
            proxy.drop()
        assert rig.publisher.stats.connects >= 2
    finally:
        proxy.close()


def test_a_row_over_the_brokers_maximum_packet_size_is_refused_not_sent(
        mosquitto_factory: MosquittoFactory, rig_factory: Callable[..., Rig],
        listeners: Callable[..., Listener]) -> None:
    """A broker that takes nothing over its size limit disconnects a client that sends more; the door then sent the
    same row first after every reconnect, so nothing behind it was delivered and no alert got out (found by the
    campaign with mosquitto's size limit). Now the CONNACK's Maximum Packet Size is respected: the row is kept,
    deferred and alerted like a broker rejection, and the rows behind it flow."""
    broker = mosquitto_factory(extra_conf="max_packet_size 2000")
    rig = rig_factory(broker.url)
    listener = listeners(broker.url, [f"{DEV}/entry", f"{DEV}/alert"])
    big = rig.journal.record_entry({**FIELDS, "note": "x" * 4000})
    assert big is not None
    small = rig.record(3)
    rig.publisher.start()
    assert wait_for(lambda: small <= listener.event_ids(), 15)
    assert wait_for(lambda: any(a["kind"] == "publish_rejected" for a in listener.json_on("/alert")), 15)
    (row,) = [r for r in rig.journal.rows() if r["event_id"] == big["event_id"]]
    assert row["attempts"] >= 1 and "Packet too large" in str(row["last_error"])
    assert rig.publisher.connected and rig.publisher.stats.connects == 1


class FullDiskJournal(Journal):
    """The publisher's journal connection, whose writes fail while ``full`` is set (as with ENOSPC)."""

    full = threading.Event()
    failures = 0

    def delete(self, row_ids: Any) -> int:
        self._refuse()
        return super().delete(row_ids)

    def mark_sent(self, *args: Any, **kw: Any) -> None:
        self._refuse()
        super().mark_sent(*args, **kw)

    def _refuse(self) -> None:
        if FullDiskJournal.full.is_set():
            FullDiskJournal.failures += 1
            raise JournalError("database or disk is full")


def test_a_journal_that_cannot_be_written_does_not_end_the_link(
        mosquitto: Mosquitto, rig_factory: Any, listeners: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a PUBACK that could not be recorded (disk full) raised out of the pump, the link was torn down and
    rebuilt over and over, and the memory-only storage_fault alert queued meanwhile never reached the broker."""
    monkeypatch.setattr("entryscan.device.delivery.publisher.Journal", FullDiskJournal)
    FullDiskJournal.full.set()
    FullDiskJournal.failures = 0
    listener = listeners(mosquitto.url, [f"{DEV}/alert", f"{DEV}/entry"])  # a subscriber: no 0x10 PUBACKs
    rig = rig_factory(mosquitto.url)
    rig.record(3)
    rig.publisher.start()
    try:
        assert wait_for(lambda: FullDiskJournal.failures >= 1, timeout=10)
        rig.publisher.transient_alert("storage_fault", {"error": "database or disk is full"})
        assert wait_for(lambda: listener.json_on("/alert"), timeout=10)
        assert rig.publisher.stats.connects == 1 and rig.publisher.stats.client_errors == 0
        assert rig.journal.backlog() == 3  # nothing recorded as delivered, nothing lost
    finally:
        FullDiskJournal.full.clear()
    assert wait_for(lambda: rig.journal.backlog() == 0, timeout=40)  # the paused journal work resumes


def test_a_row_the_broker_refuses_by_closing_the_link_is_found_and_deferred(
        mosquitto_factory: MosquittoFactory, rig_factory: Callable[..., Rig],
        listeners: Callable[..., Listener]) -> None:
    """Reliability scenario 6b. mosquitto's message_size_limit is not announced in the CONNACK; it answers an
    oversized PUBLISH with PUBACK 0x95, which MQTT 5 does not allow in a PUBACK, and paho drops the link as a
    protocol error. Before: the same row went first after every reconnect, nothing behind it was delivered and no
    alert got out. Now the links after a refusal probe one row at a time and the row refused twice is deferred."""
    broker = mosquitto_factory(extra_conf="message_size_limit 2000")
    rig = rig_factory(broker.url)
    listener = listeners(broker.url, [f"{DEV}/entry", f"{DEV}/alert"])
    before = rig.record(3)
    big = rig.journal.record_entry({**FIELDS, "note": "x" * 4000})
    assert big is not None
    after = rig.record(30)
    rig.publisher.start()
    assert wait_for(lambda: before | after <= listener.event_ids(), 20), rig.publisher.stats
    assert wait_for(lambda: any(a["kind"] == "publish_rejected" for a in listener.json_on("/alert")), 15)
    (row,) = [r for r in rig.journal.rows() if r["event_id"] == big["event_id"]]
    assert row["attempts"] >= 1 and "Packet too large" in str(row["last_error"])  # kept, deferred
    assert big["event_id"] not in listener.event_ids()
    assert rig.publisher.stats.connects <= 4  # the refusal that started the probe, then two strikes


def test_an_ordinary_outage_does_not_narrow_the_window(mosquitto: Mosquitto, rig_factory: Callable[..., Rig],
                                                      listeners: Callable[..., Listener]) -> None:
    """A dropped connection is not a refusal: the next link sends its full window at once."""
    from tests.support.proxy import FaultProxy

    proxy = FaultProxy(mosquitto.port)
    proxy.delay(0.2)  # PUBACKs come late, so the window fills
    listeners(mosquitto.url, ["entryscan/#"])
    rig = rig_factory(proxy.url)
    try:
        rig.publisher.start()
        assert wait_for(lambda: rig.publisher.connected, 10)
        rig.record(100)
        assert wait_for(lambda: proxy.max_inflight >= 10, 10)
        proxy.drop()
        proxy.max_inflight = 0
        assert wait_for(lambda: rig.publisher.stats.connects >= 2, 10)
        assert wait_for(lambda: proxy.max_inflight >= 10, 10), proxy.max_inflight
        assert wait_for(lambda: rig.journal.backlog() == 0, 30)
    finally:
        proxy.close()


def test_a_broker_receive_maximum_below_the_first_window_is_never_exceeded(
        mosquitto_factory: MosquittoFactory, rig_factory: Callable[..., Rig],
        listeners: Callable[..., Listener]) -> None:
    """MQTT v5 3.3.4: before, the first link used a window of 10 before any CONNACK said the broker's Receive
    Maximum, so a broker allowing 3 got up to 10 unacknowledged PUBLISHes on the first connection."""
    from tests.support.proxy import FaultProxy

    broker = mosquitto_factory(extra_conf="max_inflight_messages 3")
    proxy = FaultProxy(broker.port)
    proxy.delay(0.2)
    listeners(broker.url, ["entryscan/#"])
    rig = rig_factory(proxy.url, discovery=True)  # discovery: a dozen control messages at once on connect
    rig.record(50)
    try:
        rig.publisher.start()
        assert wait_for(lambda: rig.journal.backlog() == 0, 60), rig.publisher.stats
        assert 1 <= proxy.max_inflight <= 3, proxy.max_inflight
    finally:
        proxy.close()


class FailsAfterAnHour(MqttPublisher):
    """Each link carries rows for an hour (monotonic time moved on), then a callback bug ends it."""

    delays: ClassVar[list[float]] = []

    def _pump(self, link: Any, journal: Any) -> None:
        if link.was_connected and len(self.delays) < 4:
            self._clock.advance_monotonic(3600)  # type: ignore[attr-defined]
            raise RuntimeError("injected: a bug that fires once an hour")
        super()._pump(link, journal)

    def _sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        super()._sleep(min(seconds, 0.1))


def test_a_link_that_lived_long_before_an_error_resets_the_reconnect_backoff(
        mosquitto: Mosquitto, rig_factory: Callable[..., Rig]) -> None:
    """Before: the backoff grew after every link that ended with a callback error, however long it had carried
    rows, so a rare bug left a door that ran for weeks reconnecting only every reconnect_max_s (120 s)."""
    rig = rig_factory(mosquitto.url)
    FailsAfterAnHour.delays = []
    rig.publisher = rig.make(FailsAfterAnHour, reconnect_min_s=1.0, reconnect_max_s=120.0)
    rig.publisher.start()
    assert wait_for(lambda: len(FailsAfterAnHour.delays) >= 4, 10)
    assert max(FailsAfterAnHour.delays) <= 1.5, FailsAfterAnHour.delays  # base 1 s with jitter, every time
    assert rig.publisher.stats.client_errors == 4
