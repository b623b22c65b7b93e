"""What needs no login: /healthz, /static/, the login form, the language switch and the venue pages."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from entryscan.collector import health
from entryscan.collector.citizens import CATEGORIES
from entryscan.collector.photo import MAX_BYTES
from entryscan.collector.site import SiteInfo
from entryscan.collector.venue import BoardCheck
from entryscan.collector.web import i18n
from entryscan.collector.web.auth import COOKIE, SESSION_S
from entryscan.collector.web.context import (
    client_address,
    cookie_flags,
    form_ok,
    gettext,
    language,
    page,
    web,
)
from entryscan.collector.web.forms import FormRefused, read_form
from entryscan.collector.web.names import N_, SIGNATURES
from entryscan.collector.web.pages import ID

log = logging.getLogger("collector")

STATIC = Path(__file__).resolve().parent / "static"


def healthz(request: Request) -> Response:
    """503 while the database or the ingest fails (collector/health.py), so a monitor sees a wedged ingest."""
    app = web(request)
    doc = health.check(app.store, app.ingest)
    return JSONResponse(doc, status_code=200 if doc["ok"] else 503)


def login_form(request: Request) -> Response:
    return page(request, "login.html", title=gettext(request, N_("Operator login")), error="", username="")


async def login(request: Request) -> Response:
    try:
        fields = await read_form(request)
    except FormRefused as refused:
        return refused.response
    name, password = fields.get("username", "")[:100], fields.get("password", "")[:1024]

    def again(message: str, status: int) -> Response:
        return page(request, "login.html", status=status, title=gettext(request, N_("Operator login")),
                    error=gettext(request, message), username=name)

    if not form_ok(request, "login", fields):
        log.info("collector: http: login from %s refused: cross-site or expired form", client_address(request))
        return again(N_("This form has expired or came from another site. Please log in again."), 403)
    app = web(request)
    if not app.login_limit.allow(client_address(request)):
        return again(N_("Too many attempts; wait a few minutes."), 429)
    session = await run_in_threadpool(app.auth.login, name, password)
    if session is None:
        return again(N_("Wrong name or password."), 401)
    response = RedirectResponse("/", status_code=303)  # the office's first page: violating premises
    response.headers.append("set-cookie", f"{COOKIE}={session}; Max-Age={SESSION_S}; Path=/; HttpOnly; "
                            "SameSite=Strict" + cookie_flags(request))
    return response


def switch_language(request: Request) -> Response:
    """Remember the visitor's language and go back where they were (a path on this site only)."""
    code = request.path_params["lang"]
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 2048:
        target = "/"
    response = RedirectResponse(target, status_code=303)
    if code in web(request).languages:
        response.headers.append("set-cookie", f"{i18n.COOKIE}={code}; Max-Age={i18n.COOKIE_MAX_AGE}; Path=/; "
                                "SameSite=Lax" + cookie_flags(request))
    return response


def venue_page(request: Request, notice: str = "", kind: str = "ok", status: int = 200,
               typed: dict[str, str] | None = None, check: BoardCheck | None = None) -> Response:
    """The board's page: whether the board is genuine, the venue's current details, and the report form
    (only for a board whose signature verifies: no report without one)."""
    app = web(request)
    site_id, venue_id = request.path_params["site"], request.path_params["venue"]
    lang = language(request, site_id)
    site = app.sites.get(site_id) if re.fullmatch(ID, site_id) and re.fullmatch(ID, venue_id) else None
    if site is None:
        return page(request, "message.html", status=404, lang=lang,
                    title=gettext(request, N_("Unknown site"), lang), kind="warn", message=gettext(
                        request, N_("Warning: this board names a site this office does not know. It is not genuine."),
                        lang))
    query = request.url.query[:1024]
    check = check or board_check(request, site)
    return page(request, "venue.html", status=status, lang=lang,
                title=check.name or gettext(request, N_("Venue"), lang), site=site_id, venue=venue_id,
                site_name=site.name or site_id, check=check, signature=SIGNATURES.get(check.signature, ""),
                notice=notice, kind=kind, query=query, typed=typed or {}, categories=list(CATEGORIES),
                can_report=check.signature == "ok" and check.current_version is not None, max_photo=MAX_BYTES)


def board_check(request: Request, site: SiteInfo) -> BoardCheck:
    """The board behind this request's URL (the path and the signed query the citizen scanned)."""
    base = site.base_url or f"http://{request.headers.get('host', '')[:200]}"
    path = f"/v/{request.path_params['site']}/{request.path_params['venue']}"
    return web(request).boards.check(site, f"{base}{path}?{request.url.query[:1024]}")


def venue(request: Request) -> Response:
    return venue_page(request)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/lang/{lang}", switch_language, methods=["GET"]),
    Route("/v/{site}/{venue}", venue, methods=["GET"]),
]


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)
