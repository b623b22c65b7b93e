"""The JSON API's OpenAPI 3.1 description, served at ``/api/openapi.json`` (the schemathesis tests run
against it: every response the API gives must match it). Fields are the API's contract: add, never rename."""

from __future__ import annotations

from typing import Any

from entryscan.device import __version__


def _s(kind: str | list[str], **more: Any) -> dict[str, Any]:
    return {"type": kind, **more}


STR, INT, NSTR, NINT = _s("string"), _s("integer"), _s(["string", "null"]), _s(["integer", "null"])


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required if required is not None else list(props)}


LIST_HELD = _obj({"name": STR, "version": INT, "since": NSTR, "issued_at": NSTR, "age_s": NINT})
DEVICE = _obj({"site": STR, "device": STR, "door": NSTR,
               "status": _s("string", description="online, offline (connection lost) or stopped (clean stop)"),
               "offline_since": NSTR, "entries": INT, "accepts": INT, "denies": INT, "missing": INT,
               "last_entry_ts": NSTR, "open_alerts": INT, "door_problems": INT,
               "policy_version": _s(["string", "integer", "null"]), "policy_since": NSTR, "policy_age_s": NINT,
               "lists": _s("array", items=LIST_HELD)})
ENTRY = _obj({"event_id": STR, "site": STR, "device": STR, "incarnation": NSTR, "door": NSTR, "seq": INT,
              "ts": NSTR, "decision": STR, "reason": STR, "credential_type": NSTR, "subject": NSTR,
              "policy_version": _s(["string", "integer", "null"]), "clock_synced": _s(["boolean", "null"]),
              "received_at": NSTR}, ["event_id", "site", "device", "seq", "decision", "reason"])
ALERT = _obj({"id": _s(["string", "integer"]), "source": _s("string", enum=["rule", "door"]), "rule": STR,
              "site": STR, "target": STR, "detail": NSTR, "raised_at": NSTR, "cleared_at": NSTR,
              "open": _s("boolean")}, ["source", "rule", "site", "target", "open"])
QUARANTINED = _obj({"id": INT, "received_at": NSTR, "topic": STR, "reason": STR, "size": INT})
NNUM = _s(["number", "null"])
REPORT = _obj({"id": INT, "site": STR, "venue": STR, "body": STR, "contact": NSTR, "created_at": NSTR,
               "closed_at": NSTR, "open": _s("boolean"),
               # the lifecycle (schema v4): added fields, the first ones above keep their meaning
               "category": _s("string", description="no_board, wrong_place, cannot_scan, not_checking or other"),
               "status": _s("string", enum=["received", "assigned", "answered", "closed"]),
               "commune": _s("string", description="the commune it was sent to ('' = not yet)"),
               "answer": NSTR, "answered_at": NSTR, "rating": _s(["integer", "null"], minimum=1, maximum=5),
               "rated_at": NSTR, "photo_bytes": _s("integer", description="the stored photo's size (0 = none)"),
               "place_lat": NNUM, "place_lon": NNUM, "board_version": NINT},
              ["id", "site", "venue", "body", "open", "category", "status", "commune", "photo_bytes"])
ERROR = _obj({"error": STR})


def _param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


OPEN = _param("open", "1: open ones only", type="string", enum=["0", "1"])
LIMIT = _param("limit", "at most this many (1..1000)", type="integer", minimum=1, maximum=1000)
BEFORE_ID = _param("before", "paging: the next_before of the previous page", type="string", pattern="^[0-9]{1,18}$")


def _get(summary: str, body: dict[str, Any], params: list[dict[str, Any]] | None = None,
         bad_query: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": body}}},
        "401": {"description": "no session and no valid bearer token",
                "content": {"application/json": {"schema": ERROR}}},
    }
    if bad_query:
        responses["400"] = {"description": "a malformed query", "content": {"application/json": {"schema": ERROR}}}
    return {"get": {"summary": summary, "parameters": params or [], "responses": responses}}


def document() -> dict[str, Any]:
    paths = {
        "/api/fleet": _get("Every door: status, counts, open alerts, policy and lists held",
                           _obj({"devices": _s("array", items=DEVICE)})),
        "/api/entries": _get("The newest entries, newest first", _obj({"entries": _s("array", items=ENTRY),
                                                                        "next_before": NSTR}),
                             [_param("site", "one site"), _param("device", "one door scanner"), LIMIT,
                              _param("before", "the next_before of the previous page", type="string",
                                     pattern="^[0-9TZ:.-]{1,40}~[0-9]{1,18}~[0-9]{1,18}$")], True),
        "/api/alerts": _get("The collector's rule alerts, newest first, a page at a time (1,000 by default), then "
                            "the doors' own problems (at most one per door and kind, on the last page)",
                            _obj({"alerts": _s("array", items=ALERT), "next_before": NSTR}),
                            [OPEN, LIMIT, BEFORE_ID], True),
        "/api/quarantine": _get("Messages refused by the ingest: how many, and the newest (50 by default), a page at "
                                "a time",
                                _obj({"count": INT, "recent": _s("array", items=QUARANTINED), "next_before": NSTR}),
                                [LIMIT, BEFORE_ID], True),
        "/api/reports": _get("Citizens' reports, newest first, a page at a time",
                             _obj({"reports": _s("array", items=REPORT), "next_before": NSTR}),
                             [OPEN, LIMIT, BEFORE_ID,
                              _param("status", "one state only", type="string",
                                     enum=["received", "assigned", "answered", "closed"]),
                              _param("commune", "sent to this commune only", type="string", maxLength=200),
                              _param("site", "one site", type="string", maxLength=64),
                              _param("venue", "one venue (with site)", type="string", maxLength=64)], True),
    }
    return {"openapi": "3.1.0",
            "info": {"title": "entryscan collector API", "version": __version__,
                     "description": "Read-only JSON documents of the collector's store. Authenticate with the "
                                    "operator's session cookie or Authorization: Bearer (--api-token-file)."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
            "paths": paths}
