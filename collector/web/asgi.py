"""The collector's web application (Starlette): routes, static files, error pages, the guard middleware.

Everything operator-facing needs a session (``--users``) or ``Authorization: Bearer`` (``--api-token-file``);
only ``/healthz``, ``/login``, ``/lang/``, ``/static/``, the public venue pages ``/v/SITE/VENUE`` and the
receipt pages ``/r/CODE`` are open.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount

from entryscan.collector.web import apiroutes, citizen, office, officereports, pages, public
from entryscan.collector.web.app import WebApp
from entryscan.collector.web.context import user
from entryscan.collector.web.forms import FormRefused
from entryscan.collector.web.guard import Guard


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormRefused)
    return exc.response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and request.method in ("GET", "HEAD"):
        if request.url.path.startswith("/api/"):
            return apiroutes.unknown(request)
        if user(request) is None and not request.url.path.startswith("/static/"):
            return pages.login_redirect()
        return pages.not_found(request)
    return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code, headers=exc.headers)


def build_app(app: WebApp) -> Starlette:
    routes = [*public.ROUTES, *citizen.ROUTES, *apiroutes.ROUTES, *office.ROUTES, *pages.ROUTES, *officereports.ROUTES,
              Mount("/static", app=public.static_files(), name="static")]
    starlette = Starlette(routes=routes, middleware=[Middleware(Guard)],
                          exception_handlers={FormRefused: _refused, HTTPException: _http_error})
    starlette.state.web = app
    return starlette
