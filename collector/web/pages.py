"""The operators' pages (login required): fleet dashboard, door pages and charts, reports, compliance."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from entryscan.collector.compliance import compliance
from entryscan.collector.web import api
from entryscan.collector.web.auth import COOKIE
from entryscan.collector.web.chart import Labels, bar_chart, hourly_counts
from entryscan.collector.web.context import cookie_flags, form_ok, gettext, page, session, user, web
from entryscan.collector.web.daycharts import window_spans
from entryscan.collector.web.forms import FormRefused, parse_query, read_form, refusal
from entryscan.collector.web.names import N_
from entryscan.collector.web.pagecache import fleet_doc, open_alerts

ID = r"[a-z0-9][a-z0-9_-]{0,62}"
# policy_age_s is in the "Policy and lists held" table already (as a duration, not raw seconds).
HIDDEN_FACTS = ("state", "list_versions", "policy_version", "policy_since", "policy_age_s", "oldest_list_at", "site",
                "device")


def login_redirect() -> Response:
    return RedirectResponse("/login", status_code=303)


def not_found(request: Request) -> Response:
    return page(request, "message.html", status=404, title=gettext(request, N_("Not found")),
                message=gettext(request, N_("There is no such page.")), user=user(request))


def dashboard(request: Request) -> Response:
    who = user(request)
    if who is None:
        return login_redirect()
    app = web(request)
    store = app.store
    newest = open_alerts(app.pages)
    alerts, older = _alerts_page(request, newest)
    total = sum(store.open_alert_counts().values()) + sum(a["source"] == "door" for a in newest)
    return page(request, "dashboard.html", title=gettext(request, N_("Fleet")), user=who, live=True,
                devices=fleet_doc(app.pages)["devices"], entries=store.entries(limit=25, newest_first=True),
                alerts=alerts, alerts_total=total, older_alerts=older,
                open_reports=store.report_count(open_only=True), quarantined=store.quarantine(0)[0])


def _alerts_page(request: Request, newest: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int | None]:
    """The open alerts shown: the newest 1,000 rule alerts and the doors' problems, or (``?alerts_before=ID``)
    the 1,000 rule alerts older than ID; and the id of the next page's cursor (None: no older ones). The list
    stopped at 1,000 with no way to the rest, and its heading counted only those."""
    before = parse_query(request.url.query, request.url.path).get("alerts_before", "")
    if before.isdigit() and len(before) <= 18:
        rows = [{**a, "source": "rule"} for a in web(request).store.alerts(open_only=True, before=int(before))]
    else:
        rows = newest
    rules = [a for a in rows if a["source"] == "rule"]
    return rows, (int(rules[-1]["id"]) if len(rules) == 1000 else None)


def _day(text: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(text or "")
    except ValueError:
        return dt.date.today()


def compliance_page(request: Request) -> Response:
    who = user(request)
    if who is None:
        return login_redirect()
    day = _day(parse_query(request.url.query, request.url.path).get("day"))
    app = web(request)  # a day's table is reused until the next write (5 s at most), as the fleet table is
    venues = app.pages.get(f"compliance {day.isoformat()}", lambda: compliance(app.store, app.sites, day))
    return page(request, "compliance.html", title=gettext(request, N_("Compliance")), user=who, day=day.isoformat(),
                day_shown=day.strftime("%d/%m/%Y"), venues=venues)


def _chart(request: Request, site: str, device: str) -> str:
    app = web(request)
    now = dt.datetime.now(dt.UTC)
    since = (now - dt.timedelta(hours=24)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    zone = app.zone_of(site)
    words = gettext(request, N_("Entries per hour, last 24 hours"))  # not inside an f-string: Babel misses those
    title = f"{site}/{device}: {words}"
    labels = Labels(title, gettext(request, N_("entries")), gettext(request, N_("hour (local time)")),
                    gettext(request, N_("opening hours")))
    series = hourly_counts(app.store.entry_times(site, device, since), now)
    info = app.sites.get(site)
    venue = info.device_venue.get(device) if info else None
    spans = window_spans(info, venue, series[0][0]) if info and venue else []  # the door's venue's hours
    return bar_chart(series, title, zone=zone, labels=labels, open_spans=spans)


def chart(request: Request) -> Response:
    return device_page(request, chart_only=True)


def device_page(request: Request, chart_only: bool = False) -> Response:
    who = user(request)
    if who is None:
        return login_redirect()
    site, device = request.path_params["site"], request.path_params["device"]
    if not (re.fullmatch(ID, site) and re.fullmatch(ID, device)):
        return not_found(request)
    app = web(request)
    # This door's rows only: building the whole fleet's view (1,000 doors) for one door took most of the page.
    raw = app.store.devices(site, device)
    if not raw:
        return not_found(request)
    if chart_only:
        return Response(_chart(request, site, device), media_type="image/svg+xml")
    found = api.fleet(app.store, site, device)["devices"]
    if not found:
        return not_found(request)
    facts: dict[str, Any] = {k: v for k, v in {**raw[0], **found[0]}.items() if k not in HIDDEN_FACTS
                             and not isinstance(v, list | dict)}
    held = api.versions(app.store, dt.datetime.now(dt.UTC), site, device).get((site, device), api.no_versions())
    return page(request, "device.html", title=f"{site}/{device}", user=who, device=found[0], facts=facts,
                state=raw[0]["state"], svg=_chart(request, site, device), held=held,
                entries=app.store.entries(site, device, limit=25, newest_first=True),
                reasons=app.store.decisions_by_reason(site, device))


async def operator_form(request: Request, name: str) -> dict[str, str] | Response:
    """An operator's POST: its fields, or the answer that refuses it (bad form, no session, cross-site)."""
    try:
        fields = await read_form(request)
    except FormRefused as refused:
        return refused.response
    if user(request) is None:
        return login_redirect()
    if not form_ok(request, name, fields):
        return refusal(403, "cross-site or expired form refused")
    return fields


async def logout(request: Request) -> Response:
    fields = await operator_form(request, "logout")
    if isinstance(fields, Response):
        return fields
    web(request).auth.logout(session(request) or "")
    response = RedirectResponse("/login", status_code=303)
    response.headers.append("set-cookie", f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"
                            + cookie_flags(request))
    return response


ROUTES = [
    Route("/fleet", dashboard, methods=["GET"]),
    Route("/compliance", compliance_page, methods=["GET"]),
    Route("/device/{site}/{device}", device_page, methods=["GET"]),
    Route("/chart/{site}/{device}.svg", chart, methods=["GET"]),
    Route("/logout", logout, methods=["POST"]),
]
