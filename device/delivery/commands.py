"""Remote commands on ``<prefix>/<site>/<device>/cmd/<verb>``, answered on ``.../cmd/<verb>/result``.

A command is a small JSON object carrying a ``request_id`` that the result echoes:
``{"request_id": ..., "status": "ok"}`` or ``{"request_id": ..., "status": "error", "error": CODE}``.
Everything that arrives is untrusted: the payload size is bounded, the JSON must be
an object, and a failing handler becomes an error result, never an exception in
the delivery thread. Opening the door remotely is deliberately not a command:
the broker ACL is the only authentication a command has.

A command is for now, never for later: a retained one is ignored (it would run on
every reconnect), the device subscribes at QoS 0 so the broker queues none while it
is away, and a request whose ``ts`` is more than MAX_AGE_S off the device clock is
refused as ``expired``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 1024
MAX_REQUEST_ID = 128
MAX_AGE_S = 30.0

Handler = Callable[[Mapping[str, object]], None]


@dataclass(frozen=True)
class CommandResult:
    verb: str
    body: dict[str, object]

    def payload(self) -> str:
        return json.dumps(self.body, separators=(",", ":"))


class CommandDispatcher:
    def __init__(self, cmd_prefix: str, handlers: Mapping[str, Handler], now: Callable[[], dt.datetime]) -> None:
        self._prefix = cmd_prefix  # "<base>/cmd/"
        self._handlers = dict(handlers)
        self._now = now

    def handle(self, topic: str, payload: bytes, retained: bool = False) -> CommandResult | None:
        """The result to publish, or None when the topic is not a command (results included) or is retained."""
        if not topic.startswith(self._prefix):
            return None
        verb = topic[len(self._prefix):]
        if not verb or "/" in verb:
            return None  # our own .../result echoes, or deeper levels
        if retained:
            log.warning("command %s ignored: retained commands are never run", verb[:64])
            return None
        request, error = _parse(payload)
        if error is None and _expired(request.get("ts"), self._now()):
            error = "expired"
        body: dict[str, object] = {"request_id": request.get("request_id") if request else None}
        if error is None:
            error = self._run(verb, request)
        body.update({"status": "ok"} if error is None else {"status": "error", "error": error})
        return CommandResult(verb, body)

    def _run(self, verb: str, request: Mapping[str, object]) -> str | None:
        handler = self._handlers.get(verb)
        if handler is None:
            return "unknown_command"
        try:
            handler(request)
        except Exception as exc:  # noqa: BLE001 - a failing command is an error result
            log.warning("command %s failed: %s", verb, type(exc).__name__)
            return "failed"
        log.info("command %s done (request %s)", verb, request.get("request_id"))
        return None


def _parse(payload: bytes) -> tuple[Mapping[str, object], str | None]:
    if len(payload) > MAX_COMMAND_BYTES:
        return {}, "too_large"
    if not payload.strip():
        return {}, None  # an empty press (e.g. a Home Assistant button) is a valid command
    try:
        request = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return {}, "malformed"
    if not isinstance(request, dict):
        return {}, "malformed"
    request_id = request.get("request_id")
    if request_id is not None and not (isinstance(request_id, str | int) and len(str(request_id)) <= MAX_REQUEST_ID):
        return {}, "malformed"
    return request, None


def _expired(ts: object, now: dt.datetime) -> bool:
    """A ``ts`` that is not an ISO 8601 time with a zone, or is more than MAX_AGE_S away from now."""
    if ts is None:
        return False
    try:
        moment = dt.datetime.fromisoformat(str(ts)[:40])
    except ValueError:
        return True
    if moment.tzinfo is None:
        return True
    return abs((now - moment).total_seconds()) > MAX_AGE_S
