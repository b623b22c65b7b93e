"""One message can never stop the fleet's ingest (issue 18): control characters, timestamps out of range,
any exception while parsing, and a message the store refuses for a reason nobody foresaw."""

from __future__ import annotations

import json
from typing import Any

import pytest

from entryscan.collector.store import StoreBase
from entryscan.collector.store.validate import has_control
from entryscan.device.errors import EntryscanError
from tests.support.events import TOPIC, alert, entry

INC = "d" * 32


@pytest.mark.parametrize("field", ["door", "decision", "reason", "credential_type", "subject", "policy_version",
                                   "event_id"])
@pytest.mark.parametrize("bad", ["main\u0000x", "a\x1bb", "x\x7f", "\u0085y", "lone\ud800"],
                         ids=["nul", "esc", "del", "c1", "surrogate"])
def test_control_characters_in_an_entry_quarantine_it_and_the_batch_goes_on(store: StoreBase, field: str,
                                                                          bad: str) -> None:
    """Before: PostgreSQL refused the whole batch (NUL), SQLite stored it; a lone surrogate failed on both."""
    poison = json.dumps({**json.loads(entry(2, incarnation=INC)), field: bad}).encode()
    batch = store.ingest_batch([(f"{TOPIC}/entry", entry(1, incarnation=INC)), (f"{TOPIC}/entry", poison),
                                (f"{TOPIC}/entry", entry(3, incarnation=INC))])
    assert [r.kind for r in batch.results] == ["entry", "quarantine", "entry"]
    assert batch.results[1].reason == f"control_char:{field}"
    assert [e["seq"] for e in store.entries()] == [1, 3]


def test_control_characters_in_alerts_and_state_versions(store: StoreBase) -> None:
    result = store.ingest(f"{TOPIC}/alert", alert("camera\u0000fault"))
    assert (result.kind, result.reason) == ("quarantine", "control_char:kind")
    result = store.ingest(f"{TOPIC}/alert", alert("tamper", alert_id="a\u0000b"))
    assert (result.kind, result.reason) == ("quarantine", "control_char:alert_id")
    # A state document is stored as escaped JSON; a policy version with a NUL is not believed.
    state = store.ingest(f"{TOPIC}/state", json.dumps({"policy_version": "v\u00001", "door": "m\u0000"}).encode())
    assert state.kind == "state" and store.held_versions() == []
    assert store.devices()[0]["state"]["door"] == "m\u0000"


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_timestamp_out_of_range_is_quarantined(store: StoreBase, ts: str) -> None:
    """Before: OverflowError escaped the parser (only Rejected was caught) and the batch was retried forever."""
    batch = store.ingest_batch([(f"{TOPIC}/entry", entry(1, ts=ts)), (f"{TOPIC}/entry", entry(2)),
                                (f"{TOPIC}/alert", alert("tamper", ts=ts))])
    assert [(r.kind, r.reason) for r in batch.results] == [("quarantine", "wrong_type:ts"), ("entry", ""),
                                                           ("quarantine", "wrong_type:ts")]
    assert [e["seq"] for e in store.entries()] == [2]


def test_any_exception_while_parsing_quarantines_the_message(store: StoreBase,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from entryscan.collector.store import validate

    real = validate._entry

    def fragile(doc: dict[str, Any]) -> Any:
        if doc.get("door") == "boom":
            raise ZeroDivisionError("a parser bug")
        return real(doc)

    monkeypatch.setattr(validate, "_entry", fragile)
    batch = store.ingest_batch([(f"{TOPIC}/entry", entry(1, door="boom")), (f"{TOPIC}/entry", entry(2))])
    assert [(r.kind, r.reason) for r in batch.results] == [("quarantine", "parse_error:ZeroDivisionError"),
                                                           ("entry", "")]


def test_a_quarantined_topic_with_control_characters_is_stored_cleaned(store: StoreBase) -> None:
    result = store.ingest("entryscan/hq/do\u0000or/entry", entry(1))
    assert result.reason == "bad_topic"
    assert store.quarantine()[1][0]["topic"] == "entryscan/hq/do?or/entry"


@pytest.mark.parametrize("body, contact", [("broken\u0000board", ""), ("ok", "me\u0000"), ("x\x1b[2J", "")])
def test_a_report_with_control_characters_is_refused_by_the_store(store: StoreBase, body: str,
                                                                  contact: str) -> None:
    """Before: ``%00`` in the public report form reached PostgreSQL's DataError (a traceback), SQLite stored it."""
    with pytest.raises(EntryscanError, match="control characters"):
        store.add_report("hq", "canteen", body, contact, "127.0.0.1")
    assert store.reports() == []
    # Line breaks and tabs are what a textarea sends: they stay.
    store.add_report("hq", "canteen", "line one\r\nline\ttwo", "", "127.0.0.1")
    assert store.reports()[0]["body"] == "line one\r\nline\ttwo"


def test_has_control() -> None:
    assert not has_control("Bảng QR bị rách") and not has_control("a\r\nb\t", multiline=True)
    assert has_control("a\nb") and has_control("\u2028x") is False and has_control("\x9b")
