"""Remote commands: hostile payloads, results with request ids, and the real daemon answering identify."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from entryscan.device.delivery.commands import MAX_COMMAND_BYTES, CommandDispatcher
from tests.conftest import MosquittoFactory
from tests.support import wait_for
from tests.support.door import Door, frames_dir
from tests.support.mosquitto import Listener

PREFIX = "entryscan/hq/door-1/cmd/"
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def dispatcher(calls: list[Mapping[str, object]]) -> CommandDispatcher:
    def boom(request: Mapping[str, object]) -> None:
        raise RuntimeError("handler bug")

    return CommandDispatcher(PREFIX, {"identify": calls.append, "boom": boom}, lambda: NOW)


def test_a_retained_command_never_runs() -> None:
    calls: list[Mapping[str, object]] = []
    assert dispatcher(calls).handle(PREFIX + "identify", b'{"request_id": "r-1"}', retained=True) is None
    assert calls == []


@pytest.mark.parametrize(("ts", "runs"), [
    ("2026-11-30T11:59:50Z", True), ("2026-11-30T11:58:00+00:00", False), ("2026-11-30T12:05:00Z", False),
    ("yesterday", False), ("2026-11-30T11:59:59", False),  # no zone: cannot be compared
])
def test_a_command_older_than_its_window_is_refused_as_expired(ts: str, runs: bool) -> None:
    calls: list[Mapping[str, object]] = []
    result = dispatcher(calls).handle(PREFIX + "identify", json.dumps({"request_id": "r", "ts": ts}).encode())
    assert result is not None
    assert (result.body["status"] == "ok") is runs and (result.body.get("error") == "expired") is not runs
    assert len(calls) == (1 if runs else 0)


def test_command_runs_and_echoes_the_request_id() -> None:
    calls: list[Mapping[str, object]] = []
    result = dispatcher(calls).handle(PREFIX + "identify", b'{"request_id": "r-1"}')
    assert result is not None and result.verb == "identify"
    assert json.loads(result.payload()) == {"request_id": "r-1", "status": "ok"}
    assert calls == [{"request_id": "r-1"}]


@pytest.mark.parametrize(
    ("topic", "payload", "error"),
    [
        (PREFIX + "open", b'{"request_id": 1}', "unknown_command"),
        (PREFIX + "identify", b"{not json", "malformed"),
        (PREFIX + "identify", b"[1, 2]", "malformed"),
        (PREFIX + "identify", b"\xff\xfe", "malformed"),
        (PREFIX + "identify", json.dumps({"request_id": "x" * 500}).encode(), "malformed"),
        (PREFIX + "identify", b"{" + b" " * MAX_COMMAND_BYTES + b"}", "too_large"),
        (PREFIX + "boom", b"{}", "failed"),
    ],
)
def test_bad_commands_get_an_error_result_never_an_exception(topic: str, payload: bytes, error: str) -> None:
    calls: list[Mapping[str, object]] = []
    result = dispatcher(calls).handle(topic, payload)
    assert result is not None and json.loads(result.payload())["error"] == error
    assert calls == []


def test_results_and_foreign_topics_are_not_commands() -> None:
    d = dispatcher([])
    assert d.handle(PREFIX + "identify/result", b"{}") is None
    assert d.handle("entryscan/hq/lists/revoked", b"{}") is None
    assert d.handle(PREFIX, b"{}") is None


def test_daemon_answers_identify_and_flashes(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory()
    operator = Listener(broker.url, [PREFIX + "+/result"])
    door = Door(tmp_path / "door", broker.url, frames_dir(tmp_path / "f", ["000-empty.png"])).start()
    try:
        assert wait_for(lambda: "ready" in "".join(door.output), timeout=20), door.output
        results: list[dict[str, Any]] = []

        def answered() -> bool:
            results[:] = operator.json_on("/identify/result")
            return bool(results)

        # The daemon subscribes after its CONNACK; repeat the command until it is there to answer.
        for _ in range(20):
            operator.publish(PREFIX + "identify", b'{"request_id": "tech-7"}')
            if wait_for(answered, timeout=0.5):
                break
        assert results[0] == {"request_id": "tech-7", "status": "ok"}
        assert wait_for(lambda: "red \033[31m●" in "".join(door.output), timeout=5)  # both LEDs flash
    finally:
        assert door.stop() == 0
        operator.close()


def test_a_retained_identify_is_not_run_on_connect(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> None:
    """Measured before: one retained identify ran on every reconnect. Now the door leaves it alone."""
    broker = mosquitto_factory()
    operator = Listener(broker.url, [PREFIX + "+/result"])
    operator.publish(PREFIX + "identify", b'{"request_id": "stale"}', retain=True)
    door = Door(tmp_path / "door", broker.url, frames_dir(tmp_path / "f", ["000-empty.png"])).start()
    try:
        assert wait_for(lambda: "ready" in "".join(door.output), timeout=20), door.output
        # The door subscribes right after its CONNACK; a fresh command proves it is listening by now.
        for _ in range(20):
            operator.publish(PREFIX + "state", b'{"request_id": "fresh"}')
            if wait_for(lambda: bool(operator.json_on("/state/result")), timeout=0.5):
                break
        assert operator.json_on("/state/result")[0]["request_id"] == "fresh"
        assert operator.json_on("/identify/result") == []
    finally:
        assert door.stop() == 0
        operator.close()
