"""Entry and alert documents as a door publishes them, for collector tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

TOPIC = "entryscan/hq/door-1"


def entry_doc(seq: int, event_id: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"event_id": event_id or str(uuid.uuid4()), "seq": seq, "ts": "2026-11-28T18:00:00.123Z",
            "device": "door-1", "site": "hq", "door": "main", "decision": "accept", "reason": "ok",
            "credential_type": "badge", "subject": "p-1", "policy_version": "1", "clock_synced": True, **kw}


def entry(seq: int, event_id: str | None = None, **kw: Any) -> bytes:
    return json.dumps(entry_doc(seq, event_id, **kw)).encode()


def alert(kind: str, alert_id: str | None = None, **kw: Any) -> bytes:
    doc = {"kind": kind, "ts": "2026-11-28T18:00:00.123Z", "device": "door-1", "site": "hq",
           "alert_id": str(uuid.uuid4()) if alert_id is None else alert_id, **kw}
    return json.dumps(doc).encode()
