"""Signed site lists delivered over a real broker: retained documents reach the device's list store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from entryscan.device.access import lists
from entryscan.device.access.credentials.base import Verified
from entryscan.device.config.settings import MqttConfig
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.publisher import MqttPublisher
from entryscan.device.model import CredentialSummary, Reason
from tests.support import StepClock, wait_for
from tests.support.mosquitto import Listener, Mosquitto

SIGNER = ed25519.Ed25519PrivateKey.generate()
TOKEN = "ab" * 16
TOPIC = "entryscan/hq/lists/revoked"


def signed(version: int, entries: tuple[str, ...], key: ed25519.Ed25519PrivateKey = SIGNER) -> bytes:
    body = lists.encode_document(name="revoked", kind="revoke", version=version,
                                 issued_at=int(dt.datetime.now(dt.UTC).timestamp()), entries=entries)
    return lists.sign_document(body, key)


def test_retained_list_reaches_the_store_and_refusals_are_alerted(tmp_path: Path, mosquitto: Mosquitto) -> None:
    clock = StepClock()
    store = lists.ListStore(tmp_path / "lists.db", [SIGNER.public_key()], site="hq", now=clock.now)
    path = tmp_path / "journal.db"
    journal = Journal(path, device="door-1", site="hq", door="main", max_rows=100, clock=clock)
    operator = Listener(mosquitto.url, ["entryscan/hq/door-1/alert"])
    operator.publish(TOPIC, signed(2, (f"token:{TOKEN}",)), retain=True)  # published before the device connects
    cfg = MqttConfig(url=mosquitto.url, keepalive_s=5, discovery=False)
    pub = MqttPublisher(cfg, device="door-1", site="hq", door="main", journal_path=path, max_rows=100,
                        clock=clock, state_provider=dict, firmware="t", lists=store)
    pub.start()
    try:
        assert wait_for(lambda: store.versions() == {"revoked": 2}, timeout=15)
        revoked = Verified(CredentialSummary(type="signed_pass", subject="x", token_id=TOKEN))
        assert store.check(revoked) is Reason.REVOKED
        operator.publish(TOPIC, signed(1, ()), retain=True)  # a rollback attempt
        operator.publish(TOPIC, signed(3, (), key=ed25519.Ed25519PrivateKey.generate()), retain=True)
        operator.publish(TOPIC, b"\x00garbage" * 50, retain=True)
        assert wait_for(lambda: len(operator.json_on("/alert")) >= 2, timeout=15)
        assert store.versions() == {"revoked": 2}  # nothing refused was applied
        kinds = {a["kind"] for a in operator.json_on("/alert")}
        assert kinds <= {"list_refused"} and kinds
        assert pub.alive()
    finally:
        pub.stop()
        operator.close()
        journal.close()
