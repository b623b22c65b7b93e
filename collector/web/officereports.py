"""The office's handling of citizens' reports (login required): the list, a report's page, its photo, and
the three state changes (send to a commune, answer publicly, close), each stored with who and when.

The list is newest first, a page of ``PAGE`` at a time by keyset (``before`` = the last id seen), and can be
narrowed to one state, one commune and one venue: a flood at one board never buries the others' reports.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from entryscan.collector.citizens import STATES
from entryscan.collector.store.validate import has_control
from entryscan.collector.web.context import gettext, page, user, web
from entryscan.collector.web.forms import parse_query
from entryscan.collector.web.names import N_
from entryscan.collector.web.pages import login_redirect, not_found, operator_form

PAGE = 100  # rows a page on /reports
STATE_FILTERS = ("all", "open", *STATES)
MAX_ANSWER = 2000
MAX_COMMUNE = 200
MAX_ID = 2**62
# One state change: (report id, the form's fields, the operator) -> None when done, else (message, status).
Change = Callable[[int, dict[str, str], str], "tuple[str, int] | None"]


def _filters(request: Request) -> dict[str, str]:
    query = parse_query(request.url.query, request.url.path)
    state = query.get("state", "all")
    return {"state": state if state in STATE_FILTERS else "all", "commune": query.get("commune", "")[:MAX_COMMUNE],
            "venue": query.get("venue", "")[:130] if "/" in query.get("venue", "") else "",
            "before": query.get("before", "")}


def _venues(request: Request) -> list[tuple[str, str]]:
    """("site/venue", its name) for every registered venue, for the filter."""
    return [(f"{s.site}/{v.id}", v.name or v.id) for s in web(request).sites.values() for v in s.venues.values()]


def communes(request: Request) -> list[str]:
    return sorted({v.commune for s in web(request).sites.values() for v in s.venues.values() if v.commune})


def reports_page(request: Request) -> Response:
    who = user(request)
    if who is None:
        return login_redirect()
    chosen = _filters(request)
    before = chosen["before"]
    cursor = int(before) if before.isdigit() and len(before) <= 18 else None
    site, _, venue = chosen["venue"].partition("/")
    state = chosen["state"]
    store = web(request).store
    rows = store.reports(open_only=state == "open", site=site or None, venue=venue or None, limit=PAGE,
                         before=cursor, status=state if state in STATES else None, commune=chosen["commune"] or None)
    keep = {k: v for k, v in chosen.items() if v and k != "before" and not (k == "state" and v == "all")}
    older = urllib.parse.urlencode({**keep, "before": rows[-1]["id"]}) if len(rows) == PAGE else ""
    names = {f"{s.site}/{v.id}": v.name for s in web(request).sites.values() for v in s.venues.values()}
    return page(request, "reports.html", title=gettext(request, N_("Citizens' reports")), user=who, reports=rows,
                next_before=rows[-1]["id"] if older else None, older=older, paged=cursor is not None,
                newest=urllib.parse.urlencode(keep), total=store.report_count(), chosen=chosen,
                states=STATE_FILTERS, counts=store.report_status_counts(), communes=communes(request),
                venues=_venues(request), names=names, by_venue=store.open_reports_by_venue(20))


def _report_id(request: Request) -> int | None:
    report_id = int(request.path_params["id"])
    return report_id if 0 < report_id < MAX_ID else None


def report_page(request: Request, *, notice: str = "", kind: str = "ok", status: int = 200,
                typed: dict[str, str] | None = None) -> Response:
    who = user(request)
    if who is None:
        return login_redirect()
    report_id = _report_id(request)
    app = web(request)
    found = app.store.report(report_id) if report_id else None
    if found is None or report_id is None:
        return not_found(request)
    site = app.sites.get(str(found["site"]))
    place = site.venues.get(str(found["venue"])) if site else None
    typed = typed or {}
    typed.setdefault("commune", found["commune"] or (place.commune if place else ""))
    typed.setdefault("answer", found["answer"] or "")
    return page(request, "report.html", status=status, title=gettext(request, N_("Report no. %(id)s")) % {
        "id": report_id}, user=who, report=found, venue_name=place.name if place else found["venue"],
                events=app.store.report_events(report_id), communes=communes(request), typed=typed, notice=notice,
                kind=kind)


def photo(request: Request) -> Response:
    if user(request) is None:
        return login_redirect()
    report_id = _report_id(request)
    found = web(request).store.report_photo(report_id) if report_id else None
    if found is None:
        return not_found(request)
    mime, data = found
    return Response(data, media_type=mime, headers={"content-disposition": "inline"})


async def _change(request: Request, form: str, change: Change) -> Response:
    """One operator form on a report's page: checked, applied with the operator's name, then back to it."""
    fields = await operator_form(request, form)
    if isinstance(fields, Response):
        return fields
    report_id = _report_id(request)
    if report_id is None:
        return not_found(request)
    refused = await run_in_threadpool(change, report_id, fields, user(request) or "office")
    if refused is not None:
        message, status = refused
        typed = {k: fields.get(k, "")[:MAX_ANSWER] for k in ("commune", "answer")}
        return await run_in_threadpool(lambda: report_page(request, notice=gettext(request, message), kind="error",
                                                           status=status, typed=typed))
    return RedirectResponse(f"/reports/{report_id}", status_code=303)


CLOSED = (N_("This report is closed; it cannot change any more."), 409)


def _assign(store: Any) -> Change:
    def change(report_id: int, fields: dict[str, str], actor: str) -> tuple[str, int] | None:
        commune = fields.get("commune", "").strip()
        if not commune or len(commune) > MAX_COMMUNE or has_control(commune):
            return N_("Please name the commune (at most 200 characters)."), 400
        return None if store.assign_report(report_id, commune, actor) else CLOSED
    return change


def _answer(store: Any) -> Change:
    def change(report_id: int, fields: dict[str, str], actor: str) -> tuple[str, int] | None:
        answer = fields.get("answer", "").strip()
        if not answer or len(answer) > MAX_ANSWER or has_control(answer, multiline=True):
            return N_("The public answer must be 1 to 2,000 characters."), 400
        return None if store.answer_report(report_id, answer, actor) else CLOSED
    return change


def _close(store: Any) -> Change:
    def change(report_id: int, fields: dict[str, str], actor: str) -> tuple[str, int] | None:
        return None if store.close_report(report_id, actor) else CLOSED
    return change


async def assign(request: Request) -> Response:
    return await _change(request, "assign-report", _assign(web(request).store))


async def answer(request: Request) -> Response:
    return await _change(request, "answer-report", _answer(web(request).store))


async def close(request: Request) -> Response:
    return await _change(request, "close-report", _close(web(request).store))


ROUTES = [
    Route("/reports", reports_page, methods=["GET"]),
    Route("/reports/{id:int}", report_page, methods=["GET"]),
    Route("/reports/{id:int}/photo", photo, methods=["GET"]),
    Route("/reports/{id:int}/assign", assign, methods=["POST"]),
    Route("/reports/{id:int}/answer", answer, methods=["POST"]),
    Route("/reports/{id:int}/close", close, methods=["POST"]),
]
