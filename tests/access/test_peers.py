"""Peer passages: which peer events count, at what time, and how many."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from entryscan.device.access import peers as peers_module
from entryscan.device.access.peers import PeerPassages
from entryscan.device.access.reuse import ReuseStore
from entryscan.device.model import Reason

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
SUBJECT = "ab" * 16


class Clock:
    def __init__(self, synced: bool = True) -> None:
        self.at = NOW
        self.mono = 100.0
        self.is_synced = synced

    def now(self) -> dt.datetime:
        return self.at

    def monotonic(self) -> float:
        return self.mono

    def synced(self) -> bool:
        return self.is_synced


def event(direction: str = "out", ts: dt.datetime | str = NOW, **kw: object) -> bytes:
    stamp = ts.isoformat() if isinstance(ts, dt.datetime) else ts
    doc = {"decision": "accept", "credential_type": "signed_pass", "subject": SUBJECT, "device": "exit",
           "site": "hq", "direction": direction, "clock_synced": True, "ts": stamp, **kw}
    return json.dumps(doc).encode()


def passage_at(store: ReuseStore, direction: str, at: dt.datetime) -> Reason | None:
    """Would a local scan in ``direction`` at ``at`` be a passback?"""
    use = store.pending(credential_type="signed_pass", token="", subject=SUBJECT, one_time=False, valid_until=None,
                        direction=direction, window_s=600, now=at, synced=True)  # type: ignore[arg-type]
    assert use is not None
    return store.refusal(use)


@pytest.fixture
def store(tmp_path: Path) -> ReuseStore:
    return ReuseStore(tmp_path / "journal.db", key=b"k" * 32, retention_s=86400.0)


def make(store: ReuseStore, clock: Clock) -> PeerPassages:
    return PeerPassages(store, clock, device="entrance", site="hq", window_s=600)


def test_a_synchronised_peer_event_keeps_its_own_time(store: ReuseStore) -> None:
    clock = Clock()
    clock.at = NOW + dt.timedelta(minutes=5)  # delivered five minutes late
    make(store, clock).handle("exit", event("out", NOW))
    assert passage_at(store, "out", NOW + dt.timedelta(minutes=9)) is Reason.PASSBACK  # within 600 s of NOW
    assert passage_at(store, "out", NOW + dt.timedelta(minutes=11)) is None


def test_an_unsynchronised_clock_on_either_side_uses_the_time_of_arrival(store: ReuseStore) -> None:
    clock = Clock(synced=False)
    clock.at = NOW + dt.timedelta(minutes=8)
    make(store, clock).handle("exit", event("out", NOW))
    assert passage_at(store, "out", NOW + dt.timedelta(minutes=17)) is Reason.PASSBACK  # 9 min after arrival
    other = Clock()
    make(store, other).handle("exit", event("in", NOW - dt.timedelta(days=1), clock_synced=False, subject="cd" * 16))
    assert store.counts()[1] == 2


@pytest.mark.parametrize("payload", [
    event(ts=NOW - dt.timedelta(minutes=11)),  # older than the window
    event(ts=NOW + dt.timedelta(minutes=5)),  # a claimed synchronised clock far ahead
    event(ts="yesterday"), event(ts="2026-03-01T12:00:00"),  # no zone
    event(decision="deny"), event(direction="none"), event(device="entrance"), event(site="elsewhere"),
    event(subject="A" * 32), event(credential_type="X" * 40), b"[]", b"{", b"\x00" * 10,
])
def test_events_that_are_not_a_peer_passage_are_ignored(store: ReuseStore, payload: bytes) -> None:
    peers = make(store, Clock())
    peers.handle("exit", payload)
    assert peers.stats.ignored == 1 and store.counts() == (0, 0)


def test_own_events_and_bad_senders_are_ignored(store: ReuseStore) -> None:
    peers = make(store, Clock())
    peers.handle("entrance", event(device="entrance"))
    peers.handle("Exit!", event(device="Exit!"))
    assert peers.stats.ignored == 2 and store.counts() == (0, 0)


def test_the_rate_limit_refills_with_time(store: ReuseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers_module, "BURST", 5.0)
    clock = Clock()
    peers = make(store, clock)
    for i in range(20):
        peers.handle("exit", event(subject=f"{i:032x}"))
    assert (peers.stats.noted, peers.stats.dropped) == (5, 15)
    clock.mono += 1.0  # RATE_PER_S more tokens (capped at the burst)
    for i in range(20, 40):
        peers.handle("exit", event(subject=f"{i:032x}"))
    assert peers.stats.noted == 10
