"""Turn one untrusted broker message into a typed record, or a quarantine reason.

Pure functions, no database: both stores share them, and a message that fails
here is stored in the quarantine table with the reason instead of stopping ingest.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from entryscan.device.errors import EntryscanError

MAX_PAYLOAD = 64 * 1024  # an entry is ~400 bytes; unknown fields are allowed up to this bound
MAX_STATE = 16 * 1024
MAX_FIELDS = 64
MAX_TOPIC = 512
ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
INCARNATION_RE = re.compile(r"[0-9a-f]{32}")
LEAVES = ("entry", "alert", "status", "state")
# C0 and C1 controls, DEL and lone surrogates: PostgreSQL refuses NUL in text and neither driver can encode a
# surrogate, so one such field failed the whole batch; none has a meaning in an id, a code or a name.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# What a textarea sends (line breaks, tabs) is allowed in free text, such as a citizen's report.
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

Leaf = Literal["entry", "alert", "status", "state"]


@dataclass(frozen=True)
class Topic:
    prefix: str
    site: str
    device: str
    leaf: Leaf


@dataclass(frozen=True)
class EntryRecord:
    event_id: str
    site: str
    device: str
    incarnation: str
    seq: int
    ts: str | None
    door: str | None
    decision: str | None
    reason: str | None
    credential_type: str | None
    subject: str | None
    policy_version: str | None
    clock_synced: bool | None
    payload: str


@dataclass(frozen=True)
class AlertRecord:
    alert_id: str
    site: str
    device: str
    incarnation: str
    kind: str
    ts: str | None
    payload: str


@dataclass(frozen=True)
class StatusRecord:
    site: str
    device: str
    status: str


@dataclass(frozen=True)
class StateRecord:
    site: str
    device: str
    doc: str


Record = EntryRecord | AlertRecord | StatusRecord | StateRecord


def has_control(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` holds a character no text column may store (see ``_CONTROL``)."""
    return (_CONTROL_MULTILINE if multiline else _CONTROL).search(text) is not None


def without_control(text: str, *, multiline: bool = False) -> str:
    """``text`` with every character ``has_control`` finds removed (to show a refused form again)."""
    return (_CONTROL_MULTILINE if multiline else _CONTROL).sub("", text)


def printable(text: str) -> str:
    """``text`` with every control character replaced by ``?`` (for what is stored to show a refusal)."""
    return _CONTROL.sub("?", text)


class TextRefused(EntryscanError, ValueError):
    """Text from outside (a citizen's report) that no column may store: the caller answers 400."""


class Rejected(Exception):
    """A message that goes to quarantine; ``reason`` is a short stable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_topic(topic: str) -> Topic:
    if len(topic) > MAX_TOPIC:
        raise Rejected("bad_topic")
    parts = topic.split("/")
    if len(parts) < 4 or parts[-1] not in LEAVES:
        raise Rejected("bad_topic")
    site, device = parts[-3], parts[-2]
    if not (ID_RE.fullmatch(site) and ID_RE.fullmatch(device)):
        raise Rejected("bad_topic")
    leaf: Leaf = parts[-1]  # type: ignore[assignment]
    return Topic("/".join(parts[:-3]), site, device, leaf)


def parse_message(topic: Topic, payload: bytes) -> Record:
    """Validate one message against its topic; raises Rejected with the reason."""
    if topic.leaf == "status":
        value = payload[:16].decode("ascii", "replace").strip()
        if len(payload) > 16 or value not in ("online", "offline", "stopped"):
            raise Rejected("bad_status")
        return StatusRecord(topic.site, topic.device, value)
    doc = json_object(payload, MAX_STATE if topic.leaf == "state" else MAX_PAYLOAD)
    if topic.leaf == "state":
        return StateRecord(topic.site, topic.device, json.dumps(doc, separators=(",", ":")))
    # The topic is what the broker ACL authenticated; a payload claiming another door is not believed.
    if doc.get("site") != topic.site or doc.get("device") != topic.device:
        raise Rejected("topic_mismatch")
    return _entry(doc) if topic.leaf == "entry" else _alert(doc)


MAX_LISTS = 64
HeldVersions = dict[tuple[str, str], tuple[str, str | None]]  # (kind, name) -> (version, issued_at)


def held_versions(doc: dict[str, Any]) -> tuple[set[str], HeldVersions]:
    """The policy and list versions a state document reports, and which kinds it reports at all
    (a document without ``lists`` says nothing about lists). Bad values are skipped, never trusted."""
    kinds: set[str] = set()
    held: HeldVersions = {}
    policy = doc.get("policy_version")
    if "policy_version" in doc:
        kinds.add("policy")
        if (type(policy) is int or isinstance(policy, str)) and 0 < len(str(policy)) <= 200 \
                and not has_control(str(policy)):
            held[("policy", "")] = (str(policy), None)
    lists, issued = doc.get("lists"), doc.get("lists_issued")
    if isinstance(lists, dict):
        kinds.add("list")
        issued = issued if isinstance(issued, dict) else {}
        for name, version in list(lists.items())[:MAX_LISTS]:
            if ID_RE.fullmatch(name) and type(version) is int and 0 <= version < 2**53:
                at = issued.get(name)
                when = iso(dt.datetime.fromtimestamp(at, dt.UTC)) if type(at) is int and 0 <= at < 2**37 else None
                held[("list", name)] = (str(version), when)
    return kinds, held


def json_object(payload: bytes, limit: int) -> dict[str, Any]:
    if len(payload) > limit:
        raise Rejected("oversized")
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Rejected("bad_json") from None
    if not isinstance(doc, dict):
        raise Rejected("not_object")
    if len(doc) > MAX_FIELDS:
        raise Rejected("too_many_fields")
    return doc


def _entry(e: dict[str, Any]) -> EntryRecord:
    event_id, seq = e.get("event_id"), e.get("seq")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 100):
        raise Rejected("wrong_type:event_id")
    if has_control(event_id):
        raise Rejected("control_char:event_id")
    if not (type(seq) is int and 0 <= seq < 2**63):
        raise Rejected("wrong_type:seq")
    clock_synced = e.get("clock_synced")
    if clock_synced is not None and not isinstance(clock_synced, bool):
        raise Rejected("wrong_type:clock_synced")
    return EntryRecord(
        event_id=event_id, site=e["site"], device=e["device"], incarnation=_incarnation(e), seq=seq,
        ts=_timestamp(e.get("ts")), door=_text(e, "door"), decision=_text(e, "decision"),
        reason=_text(e, "reason"), credential_type=_text(e, "credential_type"), subject=_text(e, "subject"),
        policy_version=_text(e, "policy_version", allow_int=True), clock_synced=clock_synced,
        payload=json.dumps(e, separators=(",", ":")),
    )


def _alert(a: dict[str, Any]) -> AlertRecord:
    alert_id = a.get("alert_id")
    if not (isinstance(alert_id, str) and 0 < len(alert_id) <= 100):
        raise Rejected("wrong_type:alert_id")
    if has_control(alert_id):
        raise Rejected("control_char:alert_id")
    kind = _text(a, "kind")
    if not kind:
        raise Rejected("wrong_type:kind")
    return AlertRecord(alert_id, a["site"], a["device"], _incarnation(a), kind, _timestamp(a.get("ts")),
                       json.dumps(a, separators=(",", ":")))


def _incarnation(doc: dict[str, Any]) -> str:
    value = doc.get("incarnation")
    if value is None:
        return ""  # older firmware
    if not (isinstance(value, str) and INCARNATION_RE.fullmatch(value)):
        raise Rejected("wrong_type:incarnation")
    return value


def _text(doc: dict[str, Any], key: str, *, allow_int: bool = False) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if allow_int and type(value) is int:
        return str(value)
    if not isinstance(value, str) or len(value) > 200:
        raise Rejected(f"wrong_type:{key}")
    if has_control(value):
        raise Rejected(f"control_char:{key}")
    return value


def _timestamp(value: object) -> str | None:
    """ISO 8601 UTC with milliseconds, or None when absent; anything else is rejected."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise Rejected("wrong_type:ts")
    try:
        # Converting to UTC overflows at the ends of the calendar ("0001-01-01T00:00:00+14:00").
        return iso(dt.datetime.fromisoformat(value))
    except (ValueError, OverflowError):
        raise Rejected("wrong_type:ts") from None


def iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


def clean(line: str) -> str:
    """Printable only: a hostile payload must not drive the operator's terminal."""
    return "".join(c if c.isprintable() else "?" for c in line)[:300]
